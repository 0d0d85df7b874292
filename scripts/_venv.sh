# Sourced by the other scripts: make .venv hold exactly the pinned requirements.
# Re-installs only when a requirements file changed since the last install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
REQUIREMENTS="${1:-requirements.txt}"
if [ ! -x "$VENV/bin/python" ]; then
    if ! python3 -m venv "$VENV" 2>/dev/null; then
        echo "python3 -m venv failed; installing Debian's python3-venv" >&2
        apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$VENV"
    fi
fi
STAMP="$VENV/.installed-$(basename "$REQUIREMENTS")"
HASH="$(cat "$ROOT"/requirements*.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$HASH" ]; then
    echo "Installing Python packages from $REQUIREMENTS ..."
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/$REQUIREMENTS" 2>&1 \
        | grep -v "is ignored" || true
    "$VENV/bin/python" -c "import django, rest_framework_json_api, django_q" \
        || { echo "Package installation failed" >&2; exit 1; }
    echo "$HASH" > "$STAMP"
fi
PY="$VENV/bin/python"
