import subprocess
import sys
from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone
from django_q.models import Success

from core.schedules import HEARTBEAT_FUNC, heartbeat
from managair import health
from managair.tests.test_settings import PROJECT, controlled_environment


@pytest.fixture(autouse=True)
def _forget_migrations_checked(monkeypatch):
    monkeypatch.setattr(health, "_migrated", False)


def cluster_ran_heartbeat(seconds_ago: int) -> None:
    stopped = timezone.now() - timedelta(seconds=seconds_ago)
    Success.objects.create(
        id=f"heartbeat-{seconds_ago}", name="heartbeat", func=HEARTBEAT_FUNC, started=stopped, stopped=stopped,
        success=True, result=heartbeat(),
    )


@pytest.mark.django_db
def test_liveness_answers_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {}}


@pytest.mark.django_db
def test_ready_when_database_migrations_and_cluster_are_fine(client):
    cluster_ran_heartbeat(seconds_ago=30)
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "database": "ok", "migrations": "ok", "cluster": "ok",
    }
    assert body["checks"]["cluster"]["age_s"] in range(25, 60)


@pytest.mark.django_db
def test_not_ready_while_the_cluster_never_ran(client):
    response = client.get("/readyz/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["cluster"]["status"] == "fail"
    assert "qcluster" in body["checks"]["cluster"]["reason"]
    assert body["checks"]["database"]["status"] == "ok"


@pytest.mark.django_db
def test_not_ready_when_the_cluster_was_last_seen_too_long_ago(client, settings):
    settings.READYZ_CLUSTER_MAX_AGE_S = 300
    cluster_ran_heartbeat(seconds_ago=301)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["cluster"]["reason"] == "not seen recently"


@pytest.mark.django_db
def test_cluster_check_can_be_switched_off(client, settings):
    settings.READYZ_CLUSTER_MAX_AGE_S = 0
    response = client.get("/readyz")
    assert response.status_code == 200
    assert "cluster" not in response.json()["checks"]


@pytest.mark.django_db
def test_not_ready_while_a_migration_is_unapplied(client):
    """As after deploying new code before `migrate`: core's newest migration is not recorded."""
    cluster_ran_heartbeat(seconds_ago=1)
    newest = next(name for app, name in MigrationLoader(connection).graph.leaf_nodes() if app == "core")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE app = 'core' AND name = %s", [newest])
    response = client.get("/readyz")
    assert response.status_code == 503
    migrations = response.json()["checks"]["migrations"]
    assert migrations["status"] == "fail"
    assert migrations["unapplied"] == [f"core.{newest}"]


@pytest.mark.django_db
def test_heartbeat_is_scheduled_every_minute():
    from django_q.models import Schedule

    schedule = Schedule.objects.get(func=HEARTBEAT_FUNC)
    assert schedule.minutes == 1 and schedule.repeats == -1


def test_not_ready_without_a_database_and_nothing_about_it_leaks(tmp_path):
    """A real server process whose PostgreSQL does not listen."""
    script = (
        "import django; django.setup(); from django.test import Client; "
        "r = Client(HTTP_HOST='localhost').get('/readyz'); print('ANSWER', r.status_code, r.content.decode())"
    )
    environment = controlled_environment(
        tmp_path, SQL_ENGINE="django.db.backends.postgresql", SQL_HOST="127.0.0.1", SQL_PORT="1",
        SQL_USER="managair-user", SQL_PASSWORD="do-not-show-me", SQL_DATABASE="managair", DEBUG="1",
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT, env=environment, capture_output=True, text=True, timeout=60
    )
    answer = next(line for line in result.stdout.splitlines() if line.startswith("ANSWER"))
    _, status, body = answer.split(" ", 2)
    assert status == "503", result.stdout + result.stderr
    assert '"database": {"status": "fail", "reason": "unreachable (OperationalError)"}' in body
    assert "migrations" not in body
    assert "do-not-show-me" not in result.stdout + result.stderr
