"""A task worker killed while a batch is out: the next drain sends the very
same batch again and nothing else twice. The worker is a real process on the
test database, killed with SIGKILL, so nothing of it gets to clean up."""

import signal
import subprocess
import sys
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from ingest.tests.conftest import T0, series
from integrations.drain import _LOCK_SPACE, drain
from integrations.models import Batch, PendingSample, Stream
from integrations.tests import test_drain as shared
from integrations.tests.test_drain import DELIVERY, deliveries
from managair.tests.processes import on_test_database
from managair.tests.test_settings import PROJECT

pytestmark = pytest.mark.django_db(transaction=True)

# The forwarding fixtures shared with test_drain, under the names the tests ask for.
forwarding = shared.forwarding
ingest = shared.ingest
public_installation = shared.public_installation
small_batches = shared.small_batches
webhook = shared.webhook

WORKER = """
import dataclasses
from integrations import registry
from integrations.drain import drain
registry.register(dataclasses.replace(registry.get("webhook"), batch_size={batch_size}))
drain({stream_id})
"""


def start_worker(stream_id: int, batch_size: int) -> subprocess.Popen:
    """A drain in a process of its own, on the test database."""
    environment = on_test_database(WEBHOOK_ALLOW_PRIVATE_ADDRESSES="1")
    code = WORKER.format(stream_id=stream_id, batch_size=batch_size)
    return subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", code],
        cwd=PROJECT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_request(platform, worker: subprocess.Popen) -> None:
    while not platform.arrived.wait(timeout=0.5):
        if worker.poll() is not None:
            pytest.fail(f"the worker ended before sending anything: {worker.communicate()}")


def lock_holders(stream_id: int) -> list[int]:
    """Backends holding the stream's advisory lock."""
    key = _LOCK_SPACE + stream_id
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND ((classid::bigint << 32) | objid::bigint) = %s",
            [key],
        )
        return [pid for (pid,) in cursor.fetchall()]


def until_released(stream_id: int) -> list[int]:
    """The lock holders once PostgreSQL noticed the dead worker's connection
    closing (it does on its own, a moment after the kill), or after 30 s."""
    deadline = timezone.now() + timedelta(seconds=30)
    while (holders := lock_holders(stream_id)) and timezone.now() < deadline:
        pass
    return holders


def test_nothing_is_duplicated_after_a_worker_crash_mid_batch(
    platform, webhook, public_installation, node, ingest, small_batches
):
    ingest(series(node, 5))
    stream = Stream.objects.get()
    platform.hold()
    worker = start_worker(stream.pk, small_batches)
    try:
        wait_for_request(platform, worker)
        assert lock_holders(stream.pk), "the worker does not hold the stream's lock"
        worker.send_signal(signal.SIGKILL)
        worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
        platform.let_go()
    [(lost_delivery, lost_samples)] = deliveries(platform)
    assert lost_samples == [T0, T0 + 60]
    assert Batch.objects.get().pk.hex == lost_delivery.replace("-", "")

    assert until_released(stream.pk) == []
    outcome = drain(stream.pk)

    assert outcome == f"stream {stream.pk}: 5 delivered, 0 dead, done"
    sent = deliveries(platform)
    assert sent[1] == (lost_delivery, lost_samples)
    # Repeats of a delivery id are the receiver's to drop; per delivery id every sample arrives once.
    per_delivery = dict(sent)
    assert len(per_delivery) == 3
    assert Counter(t for samples in per_delivery.values() for t in samples) == Counter(T0 + 60 * i for i in range(5))
    assert [request.headers[DELIVERY] for request in platform.requests].count(lost_delivery) == 2
    assert not PendingSample.objects.exists()
    assert not Batch.objects.exists()
