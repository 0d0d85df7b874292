"""The container's start: entrypoint.sh and managair.wait_for_db, run as the container runs them."""

import os
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from managair.tests.test_settings import PROJECT, controlled_environment

ENTRYPOINT = PROJECT / "entrypoint.sh"
# The entrypoint calls `python` from PATH, as in the image.
VENV_BIN = str(Path(sys.executable).parent)


def run_entrypoint(tmp_path: Path, *command: str, **variables: str) -> subprocess.CompletedProcess:
    environment = controlled_environment(tmp_path, DEBUG="1", COLLECT_STATIC_FILES="0", **variables)
    environment["PATH"] = f"{VENV_BIN}{os.pathsep}{environment.get('PATH', '')}"
    return subprocess.run(
        ["bash", str(ENTRYPOINT), *command], cwd=tmp_path, env=environment,
        capture_output=True, text=True, timeout=180,
    )


def migrated_apps(database: Path) -> set[str]:
    with sqlite3.connect(database) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "django_migrations" not in tables:
            return set()
        return {row[0] for row in db.execute("SELECT DISTINCT app FROM django_migrations")}


def test_entrypoint_migrates_then_hands_the_process_to_the_command(tmp_path):
    result = run_entrypoint(
        tmp_path, "bash", "-c", 'echo "done ppid=$PPID"', DB_MIGRATE="1",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert {"core", "user_manager", "django_q"} <= migrated_apps(tmp_path / "db.sqlite3")
    # exec: the command replaced the entrypoint's shell, so its parent is us and
    # the container's stop signal reaches the server directly.
    assert result.stdout.endswith(f"done ppid={os.getpid()}\n")


def test_entrypoint_without_db_migrate_leaves_the_schema_alone(tmp_path):
    result = run_entrypoint(tmp_path, "echo", "done", DB_MIGRATE="0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.endswith("done\n")
    assert migrated_apps(tmp_path / "db.sqlite3") == set()


def test_entrypoint_refuses_a_malformed_boolean_before_doing_anything(tmp_path):
    result = run_entrypoint(tmp_path, "echo", "done", DB_MIGRATE="maybe")
    assert result.returncode != 0
    assert "DB_MIGRATE must be a boolean" in result.stderr
    assert "wait_for_db" not in result.stderr
    assert "done" not in result.stdout


def test_wait_for_db_gives_up_naming_host_and_port(tmp_path):
    environment = controlled_environment(
        tmp_path, DEBUG="1", SQL_ENGINE="django.db.backends.postgresql",
        SQL_HOST="127.0.0.1", SQL_PORT="1", SQL_DATABASE="managair", DB_WAIT_TIMEOUT="2",
    )
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "managair.wait_for_db"], cwd=PROJECT, env=environment,
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert "127.0.0.1:1" in result.stderr
    assert "did not accept connections within DB_WAIT_TIMEOUT=2 s" in result.stderr
    assert time.monotonic() - started < 30


@pytest.fixture
def empty_postgres_database():
    """A fresh database on the test server, as a new deployment's PostgreSQL has."""
    server = {
        "host": os.environ["SQL_HOST"], "port": os.environ["SQL_PORT"],
        "user": os.environ["SQL_USER"], "password": os.environ.get("SQL_PASSWORD", ""),
    }
    name = f"managair_start_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield {f"SQL_{key.upper()}": str(value) for key, value in server.items()} | {"SQL_DATABASE": name}
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.skipif(
    os.environ.get("SQL_ENGINE") != "django.db.backends.postgresql",
    reason="needs the PostgreSQL that scripts/test.sh starts",
)
def test_replicas_starting_together_migrate_one_after_another(tmp_path, empty_postgres_database):
    environment = controlled_environment(
        tmp_path, DEBUG="1", SQL_ENGINE="django.db.backends.postgresql", **empty_postgres_database
    )
    replicas = [
        subprocess.Popen(
            [sys.executable, "-m", "managair.wait_for_db", "--migrate"], cwd=PROJECT, env=environment,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for _ in range(2)
    ]
    outputs = [replica.communicate(timeout=300)[0] for replica in replicas]
    assert [replica.returncode for replica in replicas] == [0, 0], "\n".join(outputs)
    assert sum("No migrations to apply" in output for output in outputs) == 1
