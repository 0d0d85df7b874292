#!/usr/bin/env bash
# Run the whole test suite against a throwaway PostgreSQL; extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh requirements-dev.txt
# Root has no `postgres` user on a machine without the package; the package creates it.
source scripts/postgres.sh
# The admin and account pages are tested in a real headless Chromium.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    echo "Installing Chromium and its WebDriver (Debian packages) ..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
# The task cluster's Redis broker is tested against a real redis-server on loopback.
if ! command -v redis-server >/dev/null; then
    echo "Installing Redis (Debian package) ..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
export DEBUG=0 SECRET_KEY="test-only-secret-key-not-for-production-use-0123456789" \
    SECURE_SSL_REDIRECT=0 EMAIL_BACKEND=django.core.mail.backends.locmem.EmailBackend
set +e
"$PY" -m pytest "$@"
status=$?
set -e
exit $status
