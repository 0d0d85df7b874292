#!/usr/bin/env bash
# Run Managair for trying it out: SQLite, demo data, web server and task cluster.
# Ctrl-C stops both. PORT (default 8000) and any setting's variable may be set.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh requirements.txt
export DEBUG="${DEBUG:-1}"
# The demo watches its nodes (status changes e-mailed to the console).
export NODE_FIDELITY="${NODE_FIDELITY:-1}"
PORT="${PORT:-8000}"

"$PY" manage.py migrate --noinput -v 0
if [ "$("$PY" manage.py shell -v 0 -c 'from user_manager.models import Organization; print(Organization.objects.exists())')" = "False" ]; then
    echo "Loading the demo data (a month of samples; takes a few seconds) ..."
    "$PY" manage.py load_demo
fi

pids=()
stop() {
    trap - INT TERM EXIT
    echo
    echo "Stopping the web server and the task cluster ..."
    kill -TERM "${pids[@]}" 2>/dev/null || true
    # The task cluster can hang on shutdown (see shared/STACK.md): give it
    # ten seconds, then end it for sure.
    for _ in $(seq 1 20); do
        kill -0 "${pids[@]}" 2>/dev/null || break
        sleep 0.5
    done
    kill -KILL "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap stop INT TERM EXIT

"$PY" manage.py qcluster &
pids+=($!)
"$PY" manage.py runserver --noreload "0.0.0.0:$PORT" &
pids+=($!)

sleep 2
cat <<TXT

  Managair runs at http://localhost:$PORT/
    admin:          http://localhost:$PORT/admin/
    API:            http://localhost:$PORT/api/v1/
    API docs:       http://localhost:$PORT/api/v1/schema/swagger-ui/
  Demo logins (username / password):
    admin                              managair-admin   staff
    lupe-owner, lupe-inspector         managair-demo    Bar Lupe
    schule-owner, schule-inspector     managair-demo    Schule am Park
    uni-owner, uni-inspector           managair-demo    Universität am Spreeufer
  Press Ctrl-C to stop.

TXT
# Return as soon as either process ends; the trap stops the other.
wait -n "${pids[@]}"
