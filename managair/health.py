"""Health endpoints for load balancers and orchestrators (API.md "Health").

``/healthz``: the process answers. ``/readyz``: it can do useful work — the
database answers, every migration is applied, and the task cluster has run
its heartbeat task recently. Each check is a small function returning its
part of the answer, so the answer says which one failed.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.utils import timezone

from core.schedules import HEARTBEAT_FUNC

logger = logging.getLogger(__name__)

# Once every migration is applied, this process's code cannot need another:
# the (slow) migration graph is then read once per process, not per probe.
_migrated = False


def liveness(request):
    """The process answers; nothing else is checked, so it never flaps with the database."""
    return JsonResponse({"status": "ok", "checks": {}})


def readiness(request):
    checks = {"database": _database()}
    # Without a database the other two cannot be known.
    if checks["database"]["status"] == "ok":
        checks["migrations"] = _migrations()
        if settings.READYZ_CLUSTER_MAX_AGE_S:
            checks["cluster"] = _cluster(timezone.now())
    ok = all(check["status"] == "ok" for check in checks.values())
    if not ok:
        logger.warning("Not ready: %s", {name: check for name, check in checks.items() if check["status"] != "ok"})
    return JsonResponse({"status": "ok" if ok else "fail", "checks": checks}, status=200 if ok else 503)


def _ok(**details) -> dict:
    return {"status": "ok", **details}


def _fail(reason: str, **details) -> dict:
    return {"status": "fail", "reason": reason, **details}


def _database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as error:
        # The class only: a driver's message may name hosts and users.
        connection.close()
        return _fail(f"unreachable ({type(error).__name__})")
    return _ok()


def _migrations() -> dict:
    global _migrated
    if _migrated:
        return _ok()
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as error:
        return _fail(f"cannot be read ({type(error).__name__})")
    if plan:
        names = sorted(f"{migration.app_label}.{migration.name}" for migration, _ in plan)
        return _fail(f"{len(plan)} not applied", unapplied=names[:20])
    _migrated = True
    return _ok()


def _cluster(now) -> dict:
    """The task cluster runs the heartbeat every minute (core.schedules);
    its latest stored success says when the cluster was last seen working."""
    from django_q.models import Success

    try:
        heartbeats = Success.objects.filter(func=HEARTBEAT_FUNC)
        last = heartbeats.order_by("-stopped").values_list("stopped", flat=True).first()
    except DatabaseError as error:
        return _fail(f"cannot be read ({type(error).__name__})")
    if last is None:
        return _fail("never seen: is the task cluster (manage.py qcluster) running?")
    age = now - last
    details = {"last_seen_s": int(last.timestamp()), "age_s": max(int(age.total_seconds()), 0)}
    if age > timedelta(seconds=settings.READYZ_CLUSTER_MAX_AGE_S):
        return _fail("not seen recently", **details)
    return _ok(**details)
