#!/usr/bin/env bash
# Container entrypoint: wait for the database, optionally migrate and collect
# static files, then replace this shell with the command (gunicorn, qcluster,
# manage.py ...), so that it receives the container's stop signal directly.
#
#   DB_MIGRATE=1            run `manage.py migrate` first (replicas take turns)
#   COLLECT_STATIC_FILES=1  run `collectstatic` and `compilemessages` first
#   DB_WAIT_TIMEOUT=60      seconds to wait for the database
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

# The same spellings as managair.env.env_bool, so one .env means the same to
# the shell and to Django; anything else stops the container.
is_true() {
    local name="$1" value="${!1:-}"
    [[ "$value" =~ ^[[:space:]]*(.*[^[:space:]])?[[:space:]]*$ ]] && value="${BASH_REMATCH[1]}"
    case "${value,,}" in
        1 | true | yes | on) return 0 ;;
        0 | false | no | off | "") return 1 ;;
        *)
            echo "entrypoint: $name must be a boolean (1/0, true/false, yes/no, on/off), not '${!1}'." >&2
            exit 64
            ;;
    esac
}

# Refuse a typo before waiting a minute for the database.
migrate=no collect=no
if is_true DB_MIGRATE; then migrate=yes; fi
if is_true COLLECT_STATIC_FILES; then collect=yes; fi

if [ "$migrate" = yes ]; then
    # `manage.py migrate --noinput` under a lock, so that scaled replicas
    # take turns (see managair/wait_for_db.py).
    echo "entrypoint: waiting for the database, then applying migrations ..."
    python -m managair.wait_for_db --migrate
else
    python -m managair.wait_for_db
fi

if [ "$collect" = yes ]; then
    echo "entrypoint: collecting static files and compiling translations ..."
    python manage.py collectstatic --noinput -v 0
    # A virtualenv inside the project (development) holds foreign locale folders.
    python manage.py compilemessages --ignore=.venv -v 0
fi

exec "$@"
