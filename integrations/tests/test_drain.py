"""Draining the outbox to a real webhook: samples come in through the ingest
endpoint, a stand-in platform on 127.0.0.1 answers, and the drain decides
what goes out, what waits and what is given up.

The fixtures and helpers at the top are shared with the other forwarding
test modules."""

import dataclasses
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connections
from django.utils import timezone
from django_q.models import OrmQ

from core.models import Installation, Sample
from core.tests.factories import make_installation, make_node, make_room
from ingest.tests.conftest import T0, sample, series
from integrations import registry
from integrations.drain import drain, retry_dead, sweep
from integrations.models import Batch, Stream
from integrations.webhook.models import Webhook

pytestmark = pytest.mark.django_db

# --- Shared by the forwarding tests ------------------------------------------------------------

DELIVERY = "X-Managair-Delivery"


@pytest.fixture
def forwarding(settings, platform):
    """Forwarding switched on, webhooks allowed to reach the stand-in platform."""
    settings.IOTDP_INTEGRATION = True
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    return platform


@pytest.fixture
def public_installation(node, room):
    return make_installation(node, room, is_public=True)


@pytest.fixture
def webhook(forwarding, organization):
    return Webhook.objects.create(organization=organization, url=forwarding.url + "/hook")


@pytest.fixture
def ingest(gateway, django_capture_on_commit_callbacks):
    """Post samples through the ingest endpoint and run what it does after the commit."""

    def post(samples, status=201):
        with django_capture_on_commit_callbacks(execute=True):
            response = gateway.post(samples)
        assert response.status_code == status, response.content
        return response

    return post


@pytest.fixture
def small_batches():
    """The webhook integration sending at most two samples per request."""
    original = registry.get("webhook")
    registry.register(dataclasses.replace(original, batch_size=2))
    yield 2
    registry.register(original)


def answering(*statuses: int, body=b"{}"):
    """An ``answer`` for the stub: the statuses in turn, the last one from then on."""
    remaining = list(statuses)

    def answer(request):
        status = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        return status, {}, body

    return answer


def deliveries(platform) -> list[tuple[str, list[int]]]:
    """Each request the platform got: (delivery id, timestamps of its samples)."""
    return [
        (request.headers[DELIVERY], [s["timestamp_s"] for s in request.json()["samples"]])
        for request in platform.to("/hook")
    ]


def sent_timestamps(platform) -> list[int]:
    return [timestamp for _, timestamps in deliveries(platform) for timestamp in timestamps]


def stream_state(stream_id: int) -> Stream:
    return Stream.objects.with_counts().get(pk=stream_id)


def in_thread(work) -> tuple[threading.Thread, dict]:
    """Run ``work()`` in a thread with its own database connection; its result
    or exception lands in the returned dict."""
    outcome = {}

    def run():
        try:
            outcome["result"] = work()
        except BaseException as exc:  # noqa: B036 - re-raised by the test
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def finished(thread: threading.Thread, outcome: dict):
    thread.join(timeout=60)
    assert not thread.is_alive(), "the drain hung"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def arrived(platform) -> None:
    assert platform.arrived.wait(timeout=30), "no request reached the platform"


def at(timestamp_s: int) -> datetime:
    return datetime.fromtimestamp(timestamp_s, tz=UTC)


def after_back_off(stream_id: int) -> None:
    """Skip the rest of a back-off, as if its time had come."""
    Stream.objects.filter(pk=stream_id).update(next_attempt=timezone.now() - timedelta(seconds=1))


# --- Delivery ----------------------------------------------------------------------------------


def test_samples_go_out_oldest_first_in_batches(platform, webhook, public_installation, node, ingest, small_batches):
    ingest(series(node, 3, T0 + 600))
    ingest(series(node, 2, T0))
    stream = Stream.objects.get()

    outcome = drain(stream.pk)

    sent = deliveries(platform)
    assert [timestamps for _, timestamps in sent] == [[T0, T0 + 60], [T0 + 600, T0 + 660], [T0 + 720]]
    assert len({delivery for delivery, _ in sent}) == 3
    assert outcome == f"stream {stream.pk}: 5 delivered, 0 dead, done"
    state = stream_state(stream.pk)
    assert (state.backlog, state.dead_letters) == (0, 0)
    assert state.last_sent is not None
    assert platform.requests[0].json()["samples"][0] == {
        "node": str(node.pk),
        "installation": str(public_installation.pk),
        "timestamp_s": T0,
        "co2_ppm": 600,
        "temperature_celsius": None,
        "rel_humidity_percent": None,
    }


def test_a_drain_with_nothing_waiting_sends_nothing(platform, webhook, public_installation, node, ingest):
    ingest(series(node, 2))
    stream = Stream.objects.get()
    drain(stream.pk)

    drain(stream.pk)

    assert len(platform.requests) == 1


def test_a_deleted_webhook_gets_nothing(platform, webhook, public_installation, node, ingest):
    ingest(series(node, 2))
    stream = Stream.objects.get()

    webhook.delete()

    assert drain(stream.pk) == f"stream {stream.pk}: gone"
    assert platform.requests == []


# --- Transient failures ------------------------------------------------------------------------


def test_platform_down_backs_off_then_gets_the_same_batch(platform, webhook, public_installation, node, ingest):
    ingest(series(node, 3))
    stream = Stream.objects.get()
    platform.answer = answering(500, body=b"down for maintenance")

    assert drain(stream.pk).endswith("backing off")

    state = stream_state(stream.pk)
    assert state.next_attempt > timezone.now()
    assert state.failures == 1
    assert "HTTP 500" in state.last_error
    assert "down for maintenance" in state.last_error
    assert state.backlog == 3
    [(first_delivery, first_samples)] = deliveries(platform)

    # Not due yet: a drain started by the schedule or a new sample must wait.
    assert "backing off" in drain(stream.pk)
    assert len(platform.requests) == 1

    after_back_off(stream.pk)
    platform.answer = answering(200)
    drain(stream.pk)

    assert deliveries(platform)[1] == (first_delivery, first_samples)
    assert first_samples == [T0, T0 + 60, T0 + 120]
    state = stream_state(stream.pk)
    assert (state.backlog, state.failures, state.next_attempt, state.last_error) == (0, 0, None, "")


def test_each_failure_in_a_row_waits_longer(platform, webhook, public_installation, node, ingest, settings):
    settings.FORWARDING_RETRY_S = 30
    ingest(series(node, 1))
    stream = Stream.objects.get()
    platform.answer = answering(503)
    waits = []
    for _ in range(3):
        after_back_off(stream.pk)
        before = timezone.now()
        drain(stream.pk)
        waits.append((stream_state(stream.pk).next_attempt - before).total_seconds())

    assert stream_state(stream.pk).failures == 3
    assert 30 <= waits[0] < 60 <= waits[1] < 120 <= waits[2] < 240
    assert len({delivery for delivery, _ in deliveries(platform)}) == 1
    assert Batch.objects.get().attempts == 3


def test_retry_after_postpones_the_next_attempt(platform, webhook, public_installation, node, ingest):
    ingest(series(node, 1))
    stream = Stream.objects.get()
    platform.answer = lambda request: (429, {"Retry-After": "900"}, b"slow down")

    before = timezone.now()
    drain(stream.pk)

    assert stream_state(stream.pk).next_attempt >= before + timedelta(seconds=900)


def test_retry_after_in_asctime_form_backs_off(platform, webhook, public_installation, node, ingest):
    ingest(series(node, 1))
    stream = Stream.objects.get()
    platform.answer = lambda request: (503, {"Retry-After": "Sun Nov  6 08:49:37 2094"}, b"busy")

    assert drain(stream.pk).endswith("backing off")
    assert stream_state(stream.pk).next_attempt > timezone.now()


# --- Permanent failures ------------------------------------------------------------------------


def test_refused_batch_becomes_a_dead_letter_and_the_next_one_goes_out(
    platform, webhook, public_installation, node, ingest, small_batches
):
    ingest(series(node, 4))
    stream = Stream.objects.get()
    platform.answer = answering(422, 200, body=b"unknown field")

    outcome = drain(stream.pk)

    assert outcome == f"stream {stream.pk}: 2 delivered, 2 dead, done"
    (refused, refused_samples), (_, delivered_samples) = deliveries(platform)
    assert (refused_samples, delivered_samples) == ([T0, T0 + 60], [T0 + 120, T0 + 180])
    dead = Batch.objects.get()
    assert (str(dead.id), dead.state, dead.attempts) == (refused, Batch.DEAD, 1)
    assert "HTTP 422" in dead.last_error
    kept = Sample.objects.filter(pk__in=dead.samples.values("sample_id"))
    assert sorted(int(s.timestamp.timestamp()) for s in kept) == [T0, T0 + 60]
    state = stream_state(stream.pk)
    assert (state.backlog, state.dead_letters, state.failures, state.next_attempt) == (0, 1, 0, None)

    # A dead letter is not sent again by itself.
    drain(stream.pk)
    assert len(platform.requests) == 2


def test_retried_dead_letters_go_out_first_with_their_delivery_id(
    platform, webhook, public_installation, node, ingest, django_capture_on_commit_callbacks
):
    ingest(series(node, 2))
    stream = Stream.objects.get()
    platform.answer = answering(410)
    drain(stream.pk)
    [(refused, refused_samples)] = deliveries(platform)
    ingest(series(node, 1, T0 + 3600))
    platform.answer = answering(200)
    Stream.objects.filter(pk=stream.pk).update(queued=None)

    with django_capture_on_commit_callbacks(execute=True):
        assert retry_dead(Batch.objects.all()) == 1
    assert Stream.objects.get(pk=stream.pk).queued is not None
    drain(stream.pk)

    (_, _), retried, newer = deliveries(platform)
    assert retried == (refused, refused_samples)
    assert newer[1] == [T0 + 3600]
    assert newer[0] != refused
    assert not Batch.objects.exists()


def test_retrying_a_pending_batch_changes_nothing(platform, webhook, public_installation, node, ingest):
    ingest(series(node, 1))
    platform.answer = answering(503)
    drain(Stream.objects.get().pk)

    assert retry_dead(Batch.objects.all()) == 0
    assert Stream.objects.get().next_attempt > timezone.now()


# --- What is no longer public, no longer there or not wanted -----------------------------------


def test_samples_of_an_installation_made_private_are_not_sent(platform, webhook, public_installation, node, ingest):
    ingest(series(node, 3))
    stream = Stream.objects.get()
    Installation.objects.filter(pk=public_installation.pk).update(is_public=False)

    drain(stream.pk)

    assert platform.requests == []
    assert stream_state(stream.pk).backlog == 0


def test_samples_after_a_shortened_installations_end_are_not_sent(platform, webhook, public_installation, node, ingest):
    ingest(series(node, 4))
    stream = Stream.objects.get()
    Installation.objects.filter(pk=public_installation.pk).update(to_time=at(T0 + 90))

    drain(stream.pk)

    assert sent_timestamps(platform) == [T0, T0 + 60]
    assert stream_state(stream.pk).backlog == 0


def test_a_batch_waiting_for_a_retry_is_not_sent_once_its_installation_is_private(
    platform, webhook, public_installation, node, ingest
):
    ingest(series(node, 2))
    stream = Stream.objects.get()
    platform.answer = answering(503, 200)
    drain(stream.pk)
    Installation.objects.filter(pk=public_installation.pk).update(is_public=False)
    after_back_off(stream.pk)

    drain(stream.pk)

    assert len(platform.requests) == 1


def test_a_deleted_sample_is_not_sent(platform, webhook, public_installation, node, ingest):
    ingest(series(node, 3))
    stream = Stream.objects.get()
    Sample.objects.filter(timestamp=at(T0 + 60)).delete()

    drain(stream.pk)

    assert sent_timestamps(platform) == [T0, T0 + 120]
    assert stream_state(stream.pk).backlog == 0


def test_a_sample_deleted_while_its_batch_waits_for_a_retry_is_left_out(
    platform, webhook, public_installation, node, ingest
):
    ingest(series(node, 3))
    stream = Stream.objects.get()
    platform.answer = answering(503, 200)
    drain(stream.pk)
    Sample.objects.filter(timestamp=at(T0 + 60)).delete()
    after_back_off(stream.pk)

    drain(stream.pk)

    first, retry = deliveries(platform)
    assert retry == (first[0], [T0, T0 + 120])


def test_a_batch_whose_samples_are_all_deleted_is_dropped(platform, webhook, public_installation, node, ingest):
    ingest(series(node, 2))
    stream = Stream.objects.get()
    platform.answer = answering(503, 200)
    drain(stream.pk)
    Sample.objects.filter(node=node).delete()
    after_back_off(stream.pk)

    drain(stream.pk)

    assert len(platform.requests) == 1
    assert not Batch.objects.exists()


def test_inactive_webhook_gets_nothing_and_its_backlog_waits(platform, webhook, public_installation, node, ingest):
    ingest(series(node, 3))
    stream = Stream.objects.get()
    Webhook.objects.filter(pk=webhook.pk).update(is_active=False)

    assert drain(stream.pk).endswith("paused")

    assert platform.requests == []
    assert stream_state(stream.pk).backlog == 3

    Webhook.objects.filter(pk=webhook.pk).update(is_active=True)
    drain(stream.pk)

    assert sent_timestamps(platform) == [T0, T0 + 60, T0 + 120]
    assert stream_state(stream.pk).backlog == 0


# --- The schedule ------------------------------------------------------------------------------


def queued_streams() -> list[int]:
    return sorted(row.task["args"][0] for row in OrmQ.objects.all())


def test_sweep_queues_only_streams_that_are_due_and_have_work(platform, webhook, organization, node, room, ingest):
    nodes = [node, make_node(owner=organization), make_node(owner=organization)]
    for each in nodes:
        make_installation(each, make_room(operator=organization), is_public=True)
    ingest([sample(each) for each in nodes])
    done, backing_off, due = (Stream.objects.get(installation__node=each) for each in nodes)
    drain(done.pk)
    Stream.objects.filter(pk=backing_off.pk).update(next_attempt=timezone.now() + timedelta(hours=1))
    # As if the task cluster had run every queued drain.
    OrmQ.objects.all().delete()
    Stream.objects.update(queued=None)

    assert sweep() == "1 stream(s) queued"

    assert queued_streams() == [due.pk]
    assert Stream.objects.get(pk=due.pk).queued is not None


def test_sweep_does_not_queue_a_stream_twice_but_requeues_a_lost_drain(
    platform, webhook, public_installation, node, ingest
):
    ingest(series(node, 1))
    stream = Stream.objects.get()
    assert queued_streams() == [stream.pk]

    assert sweep() == "0 stream(s) queued"
    assert len(queued_streams()) == 1

    # Queued long ago and never started: the task was lost.
    Stream.objects.update(queued=timezone.now() - timedelta(minutes=11))
    assert sweep() == "1 stream(s) queued"
    assert queued_streams() == [stream.pk, stream.pk]


# --- Concurrency (each drain on its own connection) --------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_second_drain_of_a_busy_stream_sends_nothing(platform, webhook, public_installation, node, ingest):
    ingest(series(node, 3))
    stream = Stream.objects.get()
    platform.hold()
    first = in_thread(lambda: drain(stream.pk))
    arrived(platform)

    try:
        assert drain(stream.pk) == f"stream {stream.pk}: another drain is running"
        assert len(platform.requests) == 1
    finally:
        platform.let_go()
    assert finished(*first) == f"stream {stream.pk}: 3 delivered, 0 dead, done"
    assert sent_timestamps(platform) == [T0, T0 + 60, T0 + 120]


@pytest.mark.django_db(transaction=True)
def test_deleting_a_webhook_while_its_batch_is_out_ends_the_drain_quietly(
    platform, webhook, public_installation, node, ingest
):
    ingest(series(node, 2))
    stream = Stream.objects.get()
    platform.hold()
    running = in_thread(lambda: drain(stream.pk))
    arrived(platform)

    try:
        webhook.delete()
    finally:
        platform.let_go()

    finished(*running)
    assert not Stream.objects.exists()
    assert len(platform.requests) == 1


@pytest.mark.django_db(transaction=True)
def test_ingest_answers_while_the_platform_hangs(platform, webhook, public_installation, node, gateway):
    assert gateway.post(series(node, 2)).status_code == 201
    stream = Stream.objects.get()
    platform.hold()
    hanging = in_thread(lambda: drain(stream.pk))
    arrived(platform)

    try:
        response = gateway.post(sample(node, T0 + 3600))
        assert response.status_code == 201, response.content
        assert Sample.objects.filter(node=node, timestamp=at(T0 + 3600)).exists()
        # It really was answered while the drain was still waiting for the platform.
        assert platform.holding and hanging[0].is_alive()
    finally:
        platform.let_go()
    finished(*hanging)

    # The running drain takes the sample that came in meanwhile along.
    assert sent_timestamps(platform) == [T0, T0 + 60, T0 + 3600]
    assert stream_state(stream.pk).backlog == 0
