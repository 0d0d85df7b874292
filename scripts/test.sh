#!/usr/bin/env bash
# Run the whole test suite against a throwaway PostgreSQL; extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh requirements-dev.txt
# Root has no `postgres` user on a machine without the package; the package creates it.
source scripts/postgres.sh
export DEBUG=0 SECRET_KEY="test-only-secret-key-not-for-production-use-0123456789" \
    SECURE_SSL_REDIRECT=0 EMAIL_BACKEND=django.core.mail.backends.locmem.EmailBackend
set +e
"$PY" -m pytest "$@"
status=$?
set -e
exit $status
