"""Read replicas: which database a read goes to, and a real primary with a real
streaming replica behind a real server, read through the API."""

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import requests
from django.contrib.sessions.models import Session
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.http import HttpResponse, StreamingHttpResponse
from django.test import RequestFactory
from rest_framework.authtoken.models import Token

from core.models import Sample, Site
from managair import replicas
from managair.replicas import (
    PRIMARY_AFTER_WRITE_COOKIE,
    PRIMARY_AFTER_WRITE_S,
    REPLICA_CONNECT_TIMEOUT_S,
    REPLICA_SKIP_SECONDS,
    ReplicaMiddleware,
    ReplicaRouter,
    is_skipped,
    replica_databases,
)
from managair.tests.redis_server import free_port, stop
from managair.tests.test_settings import PROJECT, controlled_environment

POSTGRES_PRIMARY = {
    "ENGINE": "django.db.backends.postgresql",
    "NAME": "managair",
    "USER": "managair",
    "PASSWORD": "s3cret",
    "HOST": "db-primary",
    "PORT": "5432",
    "CONN_MAX_AGE": 60,
    "CONN_HEALTH_CHECKS": True,
    "OPTIONS": {"options": "-c jit=off"},
}


# --- SQL_REPLICA_HOSTS -------------------------------------------------------------------


def test_each_replica_gets_the_primarys_database_and_credentials_at_its_own_address():
    databases = replica_databases(POSTGRES_PRIMARY, "db-replica-1:5432,10.0.0.7:6432")
    assert list(databases) == ["replica_1", "replica_2"]
    assert [(db["HOST"], db["PORT"]) for db in databases.values()] == [("db-replica-1", "5432"), ("10.0.0.7", "6432")]
    for replica in databases.values():
        assert (replica["NAME"], replica["USER"], replica["PASSWORD"]) == ("managair", "managair", "s3cret")
        assert replica["OPTIONS"] == {"options": "-c jit=off", "connect_timeout": REPLICA_CONNECT_TIMEOUT_S}
        assert replica["TEST"] == {"MIRROR": "default"}
    assert POSTGRES_PRIMARY["HOST"] == "db-primary" and "connect_timeout" not in POSTGRES_PRIMARY["OPTIONS"]


def test_replica_given_as_bracketed_ipv6_address_is_reached_at_that_address():
    assert replica_databases(POSTGRES_PRIMARY, "[2001:db8::5]:5433")["replica_1"]["HOST"] == "2001:db8::5"


@pytest.mark.parametrize("hosts", ["", "  ", " , ,"])
def test_no_replicas_without_host_entries(hosts):
    assert replica_databases(POSTGRES_PRIMARY, hosts) == {}


def test_blank_entries_and_spaces_are_ignored():
    databases = replica_databases(POSTGRES_PRIMARY, " db-replica-1:5432 , ,db-replica-2:5432,")
    assert [db["HOST"] for db in databases.values()] == ["db-replica-1", "db-replica-2"]


@pytest.mark.parametrize("bad", ["db-replica-2", "db-replica-2:", ":5432", "db-replica-2:pg", "db-replica-2:0",
                                 "db-replica-2:70000"])  # fmt: skip
def test_entry_that_is_not_host_and_port_stops_the_start_naming_it(bad):
    with pytest.raises(ImproperlyConfigured) as refused:
        replica_databases(POSTGRES_PRIMARY, f"db-replica-1:5432,{bad}")
    assert f"{bad!r} is not host:port" in str(refused.value)
    assert "SQL_REPLICA_HOSTS" in str(refused.value)


def test_replicas_are_refused_without_postgresql():
    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"}
    with pytest.raises(ImproperlyConfigured, match="SQL_REPLICA_HOSTS needs PostgreSQL"):
        replica_databases(sqlite, "db-replica-1:5432")
    assert replica_databases(sqlite, "") == {}


# --- Routing -----------------------------------------------------------------------------


class Reachability:
    """Stands in for connecting to a replica: which answer, and who was tried."""

    def __init__(self, down: set[str] = frozenset()):
        self.down = set(down)
        self.tried: list[str] = []

    def __call__(self, alias: str) -> bool:
        self.tried.append(alias)
        return alias not in self.down


def make_router(*aliases: str, down: set[str] = frozenset()) -> tuple[ReplicaRouter, Reachability]:
    reachability = Reachability(down)
    return ReplicaRouter(replicas=list(aliases), reachable=reachability), reachability


def serve(method: str, view, path: str = "/api/v1/sites/"):
    """``view(request)`` behind the middleware, as Django serves a request."""
    request = RequestFactory().generic(method, path)
    return ReplicaMiddleware(view)(request)


def reads_during(method: str, router: ReplicaRouter, *steps: str) -> list[str]:
    """The database of each read in a request doing ``steps`` ("read", "write") in order."""
    reads = []

    def view(request):
        for step in steps:
            if step == "read":
                reads.append(router.db_for_read(Site))
            else:
                router.db_for_write(Site)
        return HttpResponse()

    serve(method, view)
    return reads


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_safe_request_reads_from_a_replica(method):
    router, _ = make_router("replica_1")
    assert reads_during(method, router, "read", "read") == ["replica_1", "replica_1"]


def test_request_that_wrote_reads_its_own_write_from_the_primary():
    router, _ = make_router("replica_1")
    assert reads_during("GET", router, "read", "write", "read", "read") == ["replica_1", "default", "default"]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_unsafe_request_reads_from_the_primary_without_touching_a_replica(method):
    router, reachability = make_router("replica_1")
    assert reads_during(method, router, "read", "write", "read") == ["default", "default"]
    assert reachability.tried == []


def test_browser_that_wrote_reads_from_the_primary_for_a_few_seconds(monkeypatch):
    # After "Save" the admin redirects to a list, which must show the change.
    monkeypatch.setattr(replicas, "replica_aliases", lambda: ["replica_1"])
    router, reachability = make_router("replica_1")
    saved = serve("POST", lambda request: router.db_for_write(Site) and HttpResponse())
    cookie = saved.cookies[PRIMARY_AFTER_WRITE_COOKIE]
    assert cookie["max-age"] == PRIMARY_AFTER_WRITE_S and cookie["httponly"]

    reads = []
    request = RequestFactory().get("/admin/core/site/")
    request.COOKIES[PRIMARY_AFTER_WRITE_COOKIE] = cookie.value
    ReplicaMiddleware(lambda request: reads.append(router.db_for_read(Site)) or HttpResponse())(request)
    assert reads == ["default"] and reachability.tried == []
    assert reads_during("GET", router, "read") == ["replica_1"]  # without the cookie


def test_requests_that_write_nothing_or_run_without_replicas_set_no_cookie(monkeypatch):
    router, _ = make_router("replica_1")
    monkeypatch.setattr(replicas, "replica_aliases", lambda: ["replica_1"])
    assert PRIMARY_AFTER_WRITE_COOKIE not in serve("GET", lambda request: HttpResponse()).cookies
    monkeypatch.setattr(replicas, "replica_aliases", lambda: [])
    wrote = serve("POST", lambda request: router.db_for_write(Site) and HttpResponse())
    assert PRIMARY_AFTER_WRITE_COOKIE not in wrote.cookies


def test_writes_always_go_to_the_primary():
    router, _ = make_router("replica_1")
    written = []
    serve("GET", lambda request: written.append(router.db_for_write(Site)) or HttpResponse())
    assert written == ["default"]
    assert router.db_for_write(Site) == "default"


def test_work_outside_requests_reads_from_the_primary():
    """Tasks, commands and migrations, and reads after a request ended."""
    router, reachability = make_router("replica_1")
    assert router.db_for_read(Site) == "default"
    reads_during("GET", router, "read")
    assert router.db_for_read(Site) == "default"
    assert reachability.tried == ["replica_1"]


def test_sessions_and_tokens_are_read_from_the_primary():
    """A client logging in uses its new session or token in the very next request."""
    router, _ = make_router("replica_1")
    reads = []
    serve("GET", lambda request: reads.extend(router.db_for_read(model) for model in (Session, Token, Site))
          or HttpResponse())  # fmt: skip
    assert reads == ["default", "default", "replica_1"]


@pytest.mark.django_db
def test_reads_inside_a_transaction_on_the_primary_stay_in_it():
    router, reachability = make_router("replica_1")
    reads = []

    def view(request):
        with transaction.atomic():
            reads.append(router.db_for_read(Site))
        return HttpResponse()

    serve("GET", view)
    assert reads == ["default"]
    assert reachability.tried == []


def test_each_request_keeps_one_replica_and_requests_take_turns():
    router, _ = make_router("replica_1", "replica_2")
    requests_reads = [reads_during("GET", router, "read", "read", "read") for _ in range(4)]
    assert [set(reads) for reads in requests_reads] == [{"replica_1"}, {"replica_2"}, {"replica_1"}, {"replica_2"}]


def test_replica_that_does_not_answer_is_skipped_and_the_request_reads_from_another():
    router, reachability = make_router("replica_1", "replica_2", down={"replica_1"})
    assert reads_during("GET", router, "read") == ["replica_2"]
    assert reads_during("GET", router, "read") == ["replica_2"]
    assert reads_during("GET", router, "read") == ["replica_2"]
    assert reachability.tried.count("replica_1") == 1  # not asked again while skipped


def test_request_reads_from_the_primary_when_no_replica_answers():
    router, reachability = make_router("replica_1", down={"replica_1"})
    assert reads_during("GET", router, "read", "read") == ["default", "default"]
    assert reads_during("GET", router, "read") == ["default"]
    assert reachability.tried == ["replica_1"]


def test_replica_is_tried_again_after_the_skip_window():
    router, reachability = make_router("replica_1", down={"replica_1"})
    reads_during("GET", router, "read")
    reachability.down.clear()
    # As if the window had passed since the failure.
    router.failed_at["replica_1"] -= REPLICA_SKIP_SECONDS
    assert reads_during("GET", router, "read") == ["replica_1"]
    assert "replica_1" not in router.failed_at


@pytest.mark.parametrize(
    ("failed_at", "now", "skipped"),
    [
        (None, 1000.0, False),
        (1000.0, 1000.0, True),
        (1000.0, 1000.0 + REPLICA_SKIP_SECONDS - 0.1, True),
        (1000.0, 1000.0 + REPLICA_SKIP_SECONDS, False),
        (1000.0, 5000.0, False),
    ],
)
def test_replica_is_skipped_only_within_the_window_after_its_failure(failed_at, now, skipped):
    assert is_skipped(failed_at, now) is skipped


def test_streamed_answer_reads_from_the_replica_while_it_is_sent():
    """A CSV time series is read as the server sends it, after the view returned."""
    router, _ = make_router("replica_1")
    reads = []

    def rows():
        for chunk in (b"a\n", b"b\n"):
            reads.append(router.db_for_read(Sample))
            yield chunk

    response = serve("GET", lambda request: StreamingHttpResponse(rows()))
    assert b"".join(response.streaming_content) == b"a\nb\n"
    assert reads == ["replica_1", "replica_1"]
    assert router.db_for_read(Sample) == "default"


def test_async_request_reads_from_a_replica_and_from_the_primary_after_writing():
    router, _ = make_router("replica_1")
    reads = []

    async def view(request):
        reads.append(router.db_for_read(Site))
        router.db_for_write(Site)
        reads.append(router.db_for_read(Site))
        return HttpResponse()

    asyncio.run(ReplicaMiddleware(view)(RequestFactory().get("/api/v1/sites/")))
    assert reads == ["replica_1", "default"]


def test_migrations_run_on_the_primary_only_and_objects_relate_across_copies():
    router, _ = make_router("replica_1")
    assert router.allow_migrate("default", "core") is True
    assert router.allow_migrate("replica_1", "core") is False
    on_replica, on_primary = Site(), Site()
    on_replica._state.db, on_primary._state.db = "replica_1", "default"
    assert router.allow_relation(on_replica, on_primary) is True


# --- A real primary and streaming replica -----------------------------------------------

PG_BIN = max(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda path: float(path.parent.name), default=None)
needs_postgresql = pytest.mark.skipif(
    PG_BIN is None or not (PG_BIN / "initdb").exists(), reason="needs PostgreSQL's server binaries"
)
DATABASE = "managair"
JSON_API = "application/vnd.api+json"


def as_postgres(*command: str) -> subprocess.CompletedProcess:
    # PostgreSQL refuses to run as root (see scripts/postgres.sh).
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    result = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
    return result


@dataclass
class Cluster:
    data: Path
    port: int

    def start(self) -> None:
        settings = f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.data.parent}"
        as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", f"{self.data}.log", "-w", "-t", "30",
                    "-o", settings, "start")  # fmt: skip

    def stop(self) -> None:
        as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def stop_if_running(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop()

    def sql(self, query: str):
        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=DATABASE, autocommit=True) as db:
            return db.execute(query).fetchall()


@dataclass
class Primary:
    cluster: Cluster
    token: str
    organization_id: int
    run_root: Path


SEED = """
from rest_framework.authtoken.models import Token
from user_manager.models import User
from user_manager.services import organization_create
user = User.objects.create_user(username="lupe", email="lupe@example.org", password=None)
organization = organization_create(name="Clair Berlin", creator=user)
print("SEEDED", organization.pk, Token.objects.create(user=user).key)
"""


def django_environment(run_root: Path, primary_port: int, replica_port: int) -> dict[str, str]:
    return controlled_environment(
        run_root, DEBUG="0", SECRET_KEY="test-only-secret-key-for-the-replica-test-0123456789",
        DJANGO_ALLOWED_HOSTS="127.0.0.1", SECURE_SSL_REDIRECT="0",
        SQL_ENGINE="django.db.backends.postgresql", SQL_HOST="127.0.0.1", SQL_PORT=str(primary_port),
        SQL_USER="postgres", SQL_PASSWORD="", SQL_DATABASE=DATABASE,
        SQL_REPLICA_HOSTS=f"127.0.0.1:{replica_port}",
    )  # fmt: skip


def manage(environment: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=PROJECT, env=environment, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def primary():
    """A primary ready to stream its WAL, migrated, with an owner and their API token."""
    # Under /tmp with a world-readable path: the postgres user must reach it.
    run_root = Path(tempfile.mkdtemp(prefix="managair-replicas-"))
    run_root.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(run_root, "postgres")
    cluster = Cluster(run_root / "primary", free_port())
    try:
        as_postgres(str(PG_BIN / "initdb"), "-D", str(cluster.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                    "--no-sync")  # fmt: skip
        with (cluster.data / "postgresql.conf").open("a") as conf:
            conf.write("wal_level = replica\nmax_wal_senders = 5\nfsync = off\nsynchronous_commit = off\n")
        with (cluster.data / "pg_hba.conf").open("a") as hba:
            hba.write("host replication postgres 127.0.0.1/32 trust\n")
        cluster.start()
        with psycopg.connect(host="127.0.0.1", port=cluster.port, user="postgres", dbname="postgres",
                             autocommit=True) as db:  # fmt: skip
            db.execute(f"CREATE DATABASE {DATABASE}")
        # With the replica setting as deployments have it: migrations and
        # commands work on the primary alone (no replica is up yet).
        environment = django_environment(run_root, cluster.port, replica_port=free_port())
        manage(environment, "migrate", "-v", "0")
        seeded = next(line for line in manage(environment, "shell", "-v", "0", "-c", SEED).splitlines()
                      if line.startswith("SEEDED"))  # fmt: skip
        _, organization_id, token = seeded.split()
        yield Primary(cluster, token, int(organization_id), run_root)
    finally:
        cluster.stop_if_running()
        shutil.rmtree(run_root, ignore_errors=True)


@pytest.fixture
def replica(primary):
    """A hot standby streaming from the primary, started from a fresh base backup."""
    cluster = Cluster(primary.run_root / f"replica-{free_port()}", free_port())
    try:
        as_postgres(str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.cluster.port),
                    "-U", "postgres", "-D", str(cluster.data), "-R", "-X", "stream", "-c", "fast")  # fmt: skip
        cluster.start()
        assert cluster.sql("SELECT pg_is_in_recovery()") == [(True,)]
        yield cluster
    finally:
        cluster.stop_if_running()
        shutil.rmtree(cluster.data, ignore_errors=True)


@dataclass
class Api:
    url: str
    session: requests.Session
    log: Path
    organization_id: int

    def get(self, path: str) -> requests.Response:
        return self.session.get(self.url + path, timeout=30)

    def post(self, path: str, document: dict) -> requests.Response:
        return self.session.post(self.url + path, json=document, headers={"Content-Type": JSON_API}, timeout=30)

    def site_names(self) -> set[str]:
        response = self.get("/api/v1/sites/?page[size]=100")
        assert response.status_code == 200, response.text[:500] + self.log_tail()
        return {site["attributes"]["name"] for site in response.json()["data"]}

    def room_names(self, site_id: str) -> list[str] | None:
        """None while the site is unknown."""
        response = self.get(f"/api/v1/sites/{site_id}/rooms/")
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text[:500] + self.log_tail()
        return [room["attributes"]["name"] for room in response.json()["data"]]

    def create_site(self, name: str) -> dict:
        response = self.post("/api/v1/sites/", {"data": {
            "type": "Site", "attributes": {"name": name},
            "relationships": {"operator": {"data": {"type": "Organization", "id": str(self.organization_id)}}},
        }})  # fmt: skip
        assert response.status_code == 201, response.text[:500] + self.log_tail()
        return response.json()["data"]

    def create_room(self, site_id: str, name: str) -> dict:
        response = self.post("/api/v1/rooms/", {"data": {
            "type": "Room", "attributes": {"name": name},
            "relationships": {"site": {"data": {"type": "Site", "id": site_id}}},
        }})  # fmt: skip
        assert response.status_code == 201, response.text[:500] + self.log_tail()
        return response.json()["data"]

    def log_tail(self) -> str:
        return "\n--- server log ---\n" + self.log.read_text(errors="replace")[-3000:]


def wait_until(condition, what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout_s} s for {what}"
        time.sleep(0.1)


@pytest.fixture
def api(primary, replica):
    """Managair under gunicorn (one worker, so one pooled connection per database) reading from ``replica``."""
    port = free_port()
    log = replica.data.parent / f"server-{port}.log"
    environment = django_environment(primary.run_root, primary.cluster.port, replica.port) | {
        "GUNICORN_WORKERS": "1", "GUNICORN_MAX_REQUESTS": "0",
    }  # fmt: skip
    command = [sys.executable, "-m", "gunicorn", "-c", "managair/gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
               "managair.wsgi"]  # fmt: skip
    with log.open("wb") as output:
        server = subprocess.Popen(command, cwd=PROJECT, env=environment, stdout=output, stderr=subprocess.STDOUT)
    session = requests.Session()
    session.headers.update({"Authorization": f"Token {primary.token}", "Accept": JSON_API})
    client = Api(f"http://127.0.0.1:{port}", session, log, primary.organization_id)
    try:

        def answers() -> bool:
            assert server.poll() is None, "the server exited" + client.log_tail()
            try:
                return requests.get(f"{client.url}/healthz", timeout=5).status_code == 200
            except requests.ConnectionError:
                return False

        wait_until(answers, "the server to start", timeout_s=60)
        yield client
    finally:
        session.close()
        stop(server, timeout_s=30)


@needs_postgresql
def test_lists_are_read_from_the_replica_and_writes_from_the_primary(primary, replica, api):
    assert "Neubau" not in api.site_names()
    replica.sql("SELECT pg_wal_replay_pause()")  # from now on the replica shows an older state

    site = api.create_site("Neubau")
    assert site["attributes"]["name"] == "Neubau"
    # The site exists on the primary only: a POST reads (checks the site) from the primary.
    api.create_room(site["id"], "Aula")
    assert primary.cluster.sql("SELECT name FROM core_site") == [("Neubau",)]

    # Lists and single objects come from the paused replica: the new site is not there yet.
    assert "Neubau" not in api.site_names()
    assert api.get(f"/api/v1/sites/{site['id']}").status_code == 404

    replica.sql("SELECT pg_wal_replay_resume()")
    # The room was written last: once it is there, so is everything before it.
    wait_until(lambda: api.room_names(site["id"]) == ["Aula"], "the replica to replay the new room")
    assert "Neubau" in api.site_names()


@needs_postgresql
def test_api_keeps_answering_from_the_primary_when_the_replica_stops(primary, replica, api):
    replica.sql("SELECT pg_wal_replay_pause()")
    site = api.create_site("Altbau")
    assert "Altbau" not in api.site_names()  # read from the replica, whose connection the server now holds

    replica.stop()

    # The very first request after the stop already falls back, and then every one.
    assert "Altbau" in api.site_names()
    assert "Altbau" in api.site_names()
    api.create_room(site["id"], "Turnhalle")
    assert api.room_names(site["id"]) == ["Turnhalle"]
    assert "does not answer" in api.log.read_text()
