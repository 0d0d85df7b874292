"""The task cluster on Redis (``Q_BROKER_URL``): what is queued lands in a
real redis-server on 127.0.0.1 and not in the database, and real ``qcluster``
processes on the test database take it from there. django-q2 reads its
configuration once per process, so everything that queues or runs tasks
here is a process of its own with the broker in its environment."""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from django_q.models import OrmQ, Schedule, Success

from core.models import FidelityEvent, NodeFidelity
from core.models.fidelity import Fidelity
from core.tests.factories import make_node
from ingest.models import IngestKey
from ingest.tests import conftest as ingest_fixtures
from ingest.tests.conftest import T0, series
from integrations.models import PendingSample, Stream
from integrations.tests import conftest as forwarding_fixtures
from integrations.tests import test_drain as shared
from integrations.tests.test_drain import DELIVERY, deliveries
from integrations.webhook.forwarding import signature
from managair.tests.processes import on_test_database
from managair.tests.redis_server import RedisServer, free_port, redis_server
from managair.tests.test_settings import PROJECT

pytestmark = pytest.mark.django_db(transaction=True)

# The ingest and forwarding fixtures shared with their apps' tests, under the names the tests ask for.
ingest_key = ingest_fixtures.ingest_key
platform = forwarding_fixtures.platform
forwarding = shared.forwarding
public_installation = shared.public_installation
webhook = shared.webhook

#: The Redis list django-q2 keeps the queue of the cluster named "managair" in.
QUEUE = "django_q:managair:q"
#: Each running cluster keeps a short-lived status entry under this prefix.
CLUSTER_STATS = "django_q:managair:cluster:*"
#: Long enough for a cluster to start and run a few tasks on a slow machine.
DEADLINE_S = 45


@pytest.fixture
def broker() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@pytest.fixture(autouse=True)
def _no_schedules(transactional_db):
    # Only what a test queues runs: the schedules migrate registered would queue work of their own.
    Schedule.objects.all().delete()


def environment(broker_url: str | None, **variables: str) -> dict[str, str]:
    """The test's environment (DEBUG=0, the test database) with the broker and ``variables``."""
    env = on_test_database(**variables)
    env.pop("Q_BROKER_URL", None)
    if broker_url is not None:
        env["Q_BROKER_URL"] = broker_url
    return env


def shell(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``manage.py shell -c code`` in a process of its own; its log (on stdout) kept to warnings."""
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", code],
        cwd=PROJECT, env={**env, "LOG_LEVEL": "WARNING"}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def shell_ok(code: str, env: dict[str, str]) -> str:
    finished = shell(code, env)
    assert finished.returncode == 0, finished.stderr
    return finished.stdout


@contextmanager
def task_cluster(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """``manage.py qcluster`` until the block ends: stopped with SIGTERM as a
    service manager does, its process group killed if it does not stop."""
    with log.open("w") as output:
        cluster = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=PROJECT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        yield cluster
    finally:
        if cluster.poll() is None:
            cluster.send_signal(signal.SIGTERM)
        try:
            cluster.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait()


def wait_for(condition, clusters: list[subprocess.Popen], logs: list[Path], what: str):
    """Poll ``condition`` until it holds; fails at the deadline or when a cluster ended."""
    deadline = time.monotonic() + DEADLINE_S
    while not (outcome := condition()):
        ended = [cluster for cluster in clusters if cluster.poll() is not None]
        if ended or time.monotonic() > deadline:
            output = "\n".join(log.read_text() for log in logs)
            pytest.fail(f"{what}: {'a cluster ended' if ended else 'not within the deadline'}\n{output}")
        time.sleep(0.1)  # a poll interval: the outcome is awaited by the condition, not by the clock
    return outcome


def queued_in_database() -> int:
    return OrmQ.objects.count()


# --- Choosing the broker -----------------------------------------------------------------------

ENQUEUE_HEARTBEAT = """
from django_q.brokers import get_broker
from django_q.tasks import async_task
broker = get_broker()
print(broker.__class__.__name__, broker.ping())
async_task("core.schedules.heartbeat")
"""


def test_broker_url_puts_tasks_into_that_redis_database(broker):
    out = shell_ok(ENQUEUE_HEARTBEAT, environment(broker.url(db=2)))

    assert out.split() == ["Redis", "True"]
    assert broker.client(db=2).llen(QUEUE) == 1
    assert broker.client(db=0).llen(QUEUE) == 0
    assert queued_in_database() == 0


def test_without_broker_url_tasks_queue_in_the_database():
    out = shell_ok(ENQUEUE_HEARTBEAT, environment(None))

    assert out.split() == ["ORM", "True"]
    assert queued_in_database() == 1


def test_cluster_refuses_to_start_when_nothing_listens_at_the_broker_url(tmp_path):
    log = tmp_path / "qcluster.log"
    with task_cluster(environment(f"redis://127.0.0.1:{free_port()}/0"), log) as cluster:
        cluster.wait(timeout=DEADLINE_S)

    assert cluster.returncode != 0
    output = log.read_text()
    assert "Can not connect to Redis server" in output
    assert "failed to start" in output


# --- Fidelity through Redis --------------------------------------------------------------------

ENQUEUE_FIDELITY_CHECK = """
from django_q.tasks import async_task
async_task("core.fidelity.scheduled_check", task_name="fidelity check through redis")
"""


def test_fidelity_check_runs_through_redis(broker, tmp_path, organization, owner, node):
    NodeFidelity.objects.create(node=node, fidelity=Fidelity.ALIVE, last_contact=timezone.now() - timedelta(hours=5))
    newcomer = make_node(owner=organization)
    env = environment(broker.url(), NODE_FIDELITY="1")

    shell_ok(ENQUEUE_FIDELITY_CHECK, env)

    assert broker.client().llen(QUEUE) == 1
    assert queued_in_database() == 0
    log = tmp_path / "qcluster.log"
    with task_cluster(env, log) as cluster:
        # The check queues the owners' e-mail in turn; this cluster reads only Redis, so it went there too.
        [mail] = wait_for(
            lambda: list(Success.objects.filter(func="core.fidelity.notify_owners")),
            [cluster], [log], "the owners' notification never ran",
        )  # fmt: skip
    assert cluster.returncode == 0, "the cluster did not stop on SIGTERM"
    [check] = Success.objects.filter(func="core.fidelity.scheduled_check")
    assert check.name == "fidelity check through redis"
    assert check.result == "2 nodes, 1 changes, 1 organizations notified"
    assert mail.result == 1
    assert NodeFidelity.objects.get(node=node).fidelity == Fidelity.DEAD
    assert NodeFidelity.objects.get(node=newcomer).fidelity == Fidelity.UNKNOWN
    assert list(FidelityEvent.objects.filter(node=node).values_list("old", "new")) == [("E", "D")]
    assert broker.client().llen(QUEUE) == 0
    assert queued_in_database() == 0


# --- Forwarding through Redis ------------------------------------------------------------------

INGEST = """
import json, os
from django.test import Client
response = Client().post(
    "/ingest/v1/ingest/", os.environ["SAMPLES"], content_type="application/vnd.api+json",
    HTTP_AUTHORIZATION="Bearer " + os.environ["INGEST_KEY"], HTTP_HOST="localhost",
)
print(response.status_code)
"""


def test_ingested_samples_are_forwarded_through_redis(
    broker, tmp_path, platform, webhook, public_installation, node, ingest_key
):
    env = environment(broker.url(), IOTDP_INTEGRATION="1", WEBHOOK_ALLOW_PRIVATE_ADDRESSES="1")

    out = shell_ok(INGEST, {**env, "SAMPLES": json.dumps({"data": series(node, 5)}), "INGEST_KEY": ingest_key[1]})

    assert out.strip() == "201"
    stream = Stream.objects.get()
    assert stream.queued is not None
    assert broker.client().llen(QUEUE) == 1
    assert queued_in_database() == 0
    log = tmp_path / "qcluster.log"
    with task_cluster(env, log) as cluster:
        [drained] = wait_for(
            lambda: list(Success.objects.filter(func="integrations.drain.drain")),
            [cluster], [log], "the drain never ran",
        )  # fmt: skip
    assert drained.result == f"stream {stream.pk}: 5 delivered, 0 dead, done"
    sent = deliveries(platform)
    assert Counter(timestamp for _, timestamps in sent for timestamp in timestamps) == Counter(
        T0 + 60 * i for i in range(5)
    )
    assert len({delivery for delivery, _ in sent}) == len(sent)
    for request in platform.to("/hook"):
        assert request.headers["X-Managair-Signature"] == signature(webhook.secret, request.body)
        assert request.headers[DELIVERY]
    assert not PendingSample.objects.exists()
    assert Stream.objects.get().queued is None
    assert broker.client().llen(QUEUE) == 0


SWEEP_LATER = """
from datetime import timedelta
from django.utils import timezone
from integrations.drain import QUEUED_EXPIRY, sweep
print(sweep(timezone.now() + QUEUED_EXPIRY + timedelta(minutes=1)))
"""


def test_ingest_answers_while_redis_is_down_and_the_sweep_queues_the_drain_later(
    broker, platform, webhook, public_installation, node, ingest_key
):
    down = environment(f"redis://127.0.0.1:{free_port()}/0", IOTDP_INTEGRATION="1")

    out = shell_ok(INGEST, {**down, "SAMPLES": json.dumps({"data": series(node, 3)}), "INGEST_KEY": ingest_key[1]})

    # The gateway hears its samples were stored; queueing their drain failed after the commit.
    assert out.strip().splitlines()[-1] == "201"
    assert PendingSample.objects.count() == 3
    assert broker.client().llen(QUEUE) == 0
    # The stream counts as queued until that is assumed lost; then the sweep queues it again.
    out = shell_ok(SWEEP_LATER, environment(broker.url(), IOTDP_INTEGRATION="1"))
    assert out.strip() == "1 stream(s) queued"
    assert broker.client().llen(QUEUE) == 1
    assert queued_in_database() == 0


# --- Several clusters, one queue ---------------------------------------------------------------

# Creating a key adds a row each time, so a task run twice would leave two.
ENQUEUE_KEYS = """
from django_q.tasks import async_task
from user_manager.models import Organization
organization = Organization.objects.get(pk={organization})
for i in range({count}):
    async_task("ingest.keys.ingest_key_create", organization, f"key {{i}}", group="shared queue")
"""


def test_two_clusters_on_one_redis_run_each_task_once(broker, tmp_path, organization):
    count = 12
    env = environment(broker.url())
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    with task_cluster(env, logs[0]) as first, task_cluster(env, logs[1]) as second:
        wait_for(lambda: len(broker.client().keys(CLUSTER_STATS)) == 2, [first, second], logs, "both clusters up")

        shell_ok(ENQUEUE_KEYS.format(organization=organization.pk, count=count), env)

        wait_for(
            lambda: Success.objects.filter(group="shared queue").count() == count,
            [first, second], logs, "not every task ran",
        )  # fmt: skip
    assert (first.returncode, second.returncode) == (0, 0), "a cluster did not stop on SIGTERM"
    names = Counter(IngestKey.objects.filter(organization=organization).values_list("name", flat=True))
    assert names == Counter(f"key {i}" for i in range(count))
    assert broker.client().llen(QUEUE) == 0
    assert queued_in_database() == 0
