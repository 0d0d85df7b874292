#!/usr/bin/env bash
# Run the whole test suite against a throwaway PostgreSQL; extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh requirements-dev.txt
# Root has no `postgres` user on a machine without the package; the package creates it.
source scripts/postgres.sh
# Real programs the tests drive: a headless Chromium for the admin and account
# pages, and redis-server as the task cluster's broker.
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v redis-server >/dev/null || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing ${missing[*]} (Debian packages) ..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
export DEBUG=0 SECRET_KEY="test-only-secret-key-not-for-production-use-0123456789" \
    SECURE_SSL_REDIRECT=0 EMAIL_BACKEND=django.core.mail.backends.locmem.EmailBackend
set +e
"$PY" -m pytest "$@"
status=$?
set -e
exit $status
