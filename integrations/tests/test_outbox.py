"""What ingest puts into the outbox and when the task cluster is asked to
empty it."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from django_q.models import OrmQ

from core.models import Sample
from core.tests.factories import make_installation, make_organization
from ingest.tests.conftest import T0, sample, series
from integrations import outbox
from integrations.drain import drain
from integrations.models import PendingSample, Stream
from integrations.tests import test_drain as shared
from integrations.tests.test_drain import finished, in_thread
from integrations.webhook.models import Webhook

pytestmark = pytest.mark.django_db

# The forwarding fixtures shared with test_drain, under the names the tests ask for.
forwarding = shared.forwarding
ingest = shared.ingest
public_installation = shared.public_installation
webhook = shared.webhook


def waiting(stream: Stream) -> list[int]:
    return sorted(PendingSample.objects.filter(stream=stream).values_list("sample_id", flat=True))


def test_public_samples_wait_in_one_stream_per_webhook_and_installation(
    webhook, organization, public_installation, node, ingest, forwarding
):
    second = Webhook.objects.create(organization=organization, url=forwarding.url + "/other")

    ingest(series(node, 3))

    streams = Stream.objects.all()
    assert {(s.integration, s.destination, s.installation_id) for s in streams} == {
        ("webhook", str(hook.pk), public_installation.pk) for hook in (webhook, second)
    }
    stored = sorted(Sample.objects.filter(node=node).values_list("pk", flat=True))
    assert [waiting(stream) for stream in streams] == [stored, stored]


def test_recording_a_sample_twice_keeps_it_once(webhook, public_installation, node, ingest):
    ingest(series(node, 2))
    stream = Stream.objects.get()
    before = waiting(stream)

    assert outbox.record("webhook", [(str(webhook.pk), public_installation.pk, before[0])] * 2) == [stream.pk]

    assert waiting(stream) == before
    assert Stream.objects.count() == 1


def test_a_repeated_ingest_request_adds_nothing(webhook, public_installation, node, ingest):
    ingest(series(node, 2))
    ingest(series(node, 2), status=200)

    assert len(waiting(Stream.objects.get())) == 2


def test_samples_of_private_installations_never_reach_the_outbox(webhook, installation, node, ingest):
    assert not installation.is_public

    ingest(series(node, 3))

    assert Sample.objects.filter(node=node).count() == 3
    assert not Stream.objects.exists()
    assert not PendingSample.objects.exists()
    assert not OrmQ.objects.exists()


def test_samples_outside_the_public_installation_never_reach_the_outbox(webhook, node, room, ingest):
    make_installation(node, room, from_time=datetime.fromtimestamp(T0 + 60, tz=UTC), is_public=True)

    ingest([sample(node, T0), sample(node, T0 + 60)])

    stored_later = Sample.objects.get(node=node, timestamp=datetime.fromtimestamp(T0 + 60, tz=UTC))
    assert waiting(Stream.objects.get()) == [stored_later.pk]


def test_nothing_is_recorded_while_forwarding_is_off(webhook, public_installation, node, ingest, settings):
    settings.IOTDP_INTEGRATION = False

    ingest(series(node, 2))

    assert not PendingSample.objects.exists()


def test_inactive_webhooks_and_other_organizations_webhooks_get_nothing(
    forwarding, organization, public_installation, node, ingest
):
    Webhook.objects.create(organization=organization, url=forwarding.url + "/off", is_active=False)
    Webhook.objects.create(organization=make_organization(), url=forwarding.url + "/theirs")

    ingest(series(node, 2))

    assert not PendingSample.objects.exists()


# --- Queuing drains ----------------------------------------------------------------------------


def test_ingest_queues_one_drain_while_one_is_queued(webhook, public_installation, node, ingest):
    ingest(sample(node, T0))
    stream = Stream.objects.get()
    assert [row.task["args"] for row in OrmQ.objects.all()] == [(stream.pk,)]
    assert OrmQ.objects.get().task["func"] == "integrations.drain.drain"

    ingest(sample(node, T0 + 60))
    assert outbox.queue_drains([stream.pk]) == []

    assert OrmQ.objects.count() == 1


def test_a_drain_is_queued_again_once_the_queued_one_ran(webhook, public_installation, node, ingest):
    ingest(sample(node, T0))
    stream = Stream.objects.get()
    drain(stream.pk)

    ingest(sample(node, T0 + 60))

    assert OrmQ.objects.count() == 2
    assert Stream.objects.get().queued is not None


def test_no_drain_is_queued_while_the_stream_backs_off(platform, webhook, public_installation, node, ingest):
    ingest(sample(node, T0))
    stream = Stream.objects.get()
    platform.answer = lambda request: (503, {}, b"busy")
    drain(stream.pk)
    assert Stream.objects.get().next_attempt > timezone.now()

    ingest(sample(node, T0 + 60))
    assert outbox.queue_drains([stream.pk]) == []

    assert OrmQ.objects.count() == 1
    # Once the back-off is over the stream is queued again.
    assert outbox.queue_drains([stream.pk], now=timezone.now() + timedelta(hours=2)) == [stream.pk]
    assert OrmQ.objects.count() == 2


# --- Two requests at once ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_racing_records_create_one_stream(forwarding, webhook, public_installation, node):
    first_sample, second_sample = (
        Sample.objects.create(node=node, timestamp=datetime.fromtimestamp(T0 + i, tz=UTC), co2_ppm=500)
        for i in range(2)
    )
    entry = (str(webhook.pk), public_installation.pk)
    first_inserted = threading.Event()

    def first():
        # Holds its new stream uncommitted until the second request waits for it.
        with transaction.atomic():
            recorded = outbox.record("webhook", [(*entry, first_sample.pk)])
            first_inserted.set()
            deadline = timezone.now() + timedelta(seconds=30)
            while not (raced := someone_waits_for_a_lock()) and timezone.now() < deadline:
                pass
        assert raced, "the second request never waited for the first one's stream"
        return recorded

    def second():
        assert first_inserted.wait(timeout=30)
        return outbox.record("webhook", [(*entry, second_sample.pk)])

    racing = [in_thread(first), in_thread(second)]
    results = [finished(*each) for each in racing]

    stream = Stream.objects.get()
    assert results == [[stream.pk], [stream.pk]]
    assert waiting(stream) == sorted([first_sample.pk, second_sample.pk])


def someone_waits_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted)")
        return cursor.fetchone()[0]
