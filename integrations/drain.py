"""Emptying the outbox: the task that sends one stream's samples in batches,
the schedule that keeps every stream moving, and the retry of dead letters.

A drain holds a lock on its stream for as long as it runs (a PostgreSQL
session advisory lock: released even if the worker dies), so a stream's
batches go out one after another, oldest first. A batch is committed before
it is sent: a worker that dies mid-request leaves it pending, and the next
drain sends the very same batch with the same delivery id.
"""

import logging
import time
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from core.models import Installation, Sample
from core.schedules import Every, sync_schedules
from ingest.signals import PublishedSample
from integrations import registry
from integrations.models import Batch, PendingSample, Stream
from integrations.outbox import queue_drains
from integrations.transport import TransportError

log = logging.getLogger(__name__)

FORWARD = "Forward samples"
#: A drain starts no batch after this long and queues itself again, so that
#: with the batch under way (up to three requests of FORWARDING_TIMEOUT_S)
#: it stays within the task cluster's timeout (60 s).
DRAIN_BUDGET_S = 20
#: A drain queued this long ago and not started is assumed lost.
QUEUED_EXPIRY = timedelta(minutes=10)
_LOCK_SPACE = 0x4D46 << 40  # "MF": managair forwarding


def backoff_s(failures: int, retry_after_s: int | None = None) -> int:
    """Seconds to wait after the ``failures``-th transient failure in a row:
    doubling from ``FORWARDING_RETRY_S``, never sooner than the platform
    asked for (``Retry-After``), and never longer than ``FORWARDING_MAX_BACKOFF_S``."""
    delay = settings.FORWARDING_RETRY_S * 2 ** min(max(failures - 1, 0), 30)
    delay = min(delay, settings.FORWARDING_MAX_BACKOFF_S)
    return max(delay, min(retry_after_s or 0, settings.FORWARDING_MAX_BACKOFF_S))


def drain(stream_id: int) -> str:
    """Send the stream's waiting samples (the django-q2 task)."""
    with _stream_lock(stream_id) as locked:
        if not locked:
            return f"stream {stream_id}: another drain is running"
        stream = Stream.objects.filter(pk=stream_id).first()
        if stream is None:
            return f"stream {stream_id}: gone"
        if stream.next_attempt and stream.next_attempt > timezone.now():
            _unqueue(stream)
            return f"stream {stream_id}: backing off until {stream.next_attempt.isoformat()}"
        integration = registry.get(stream.integration)
        if integration is None:
            _unqueue(stream)
            return f"stream {stream_id}: {stream.integration} is not enabled"
        transport = integration.transport(stream)
        deadline = time.monotonic() + DRAIN_BUDGET_S
        delivered = dead = 0
        outcome = "done"
        while True:
            if transport.is_paused():
                outcome = "paused"
                break
            if time.monotonic() > deadline:
                outcome = "budget"
                break
            batch = _next_batch(stream, integration.batch_size)
            if batch is None:
                break
            samples = _samples_of(batch, stream)
            if not samples:
                batch.delete()
                continue
            try:
                transport.push(batch.id, samples)
            except TransportError as error:
                if error.permanent:
                    _bury(stream, batch, error)
                    dead += len(samples)
                    continue
                _back_off(stream, batch, error)
                outcome = "backing off"
                break
            _delivered(stream, batch)
            delivered += len(samples)
        _unqueue(stream)
        if outcome in ("done", "budget") and _has_work(stream):
            # More arrived while the last batch was out, or the budget ran out.
            queue_drains([stream.pk])
        return f"stream {stream_id}: {delivered} delivered, {dead} dead, {outcome}"


def sweep(now=None) -> str:
    """Queue a drain for every stream with samples waiting that is due (the
    schedule): picks up retries after a back-off and drains that were lost."""
    now = now or timezone.now()
    Stream.objects.filter(queued__lt=now - QUEUED_EXPIRY).update(queued=None)
    queued = queue_drains(due_streams(now).filter(queued__isnull=True).values_list("pk", flat=True), now=now)
    return f"{len(queued)} stream(s) queued"


def due_streams(now=None):
    """Streams with samples waiting and not backing off."""
    now = now or timezone.now()
    return Stream.objects.filter(Q(next_attempt__isnull=True) | Q(next_attempt__lte=now)).filter(_work_waiting())


def retry_dead(batches) -> int:
    """Give dead-lettered batches another go (from the admin): they are sent
    before anything newer of their stream, with their old delivery id."""
    with transaction.atomic():
        stream_ids = set(batches.filter(state=Batch.DEAD).values_list("stream_id", flat=True))
        count = batches.filter(state=Batch.DEAD).update(state=Batch.PENDING, attempts=0)
        Stream.objects.filter(pk__in=stream_ids).update(next_attempt=None, failures=0)
    transaction.on_commit(lambda: queue_drains(stream_ids))
    return count


def ensure_schedule(using: str = "default", **kwargs) -> None:
    """The sweep runs every minute while forwarding is on (post_migrate)."""
    wanted = [Every(FORWARD, "integrations.drain.sweep", minutes=1)] if settings.IOTDP_INTEGRATION else []
    sync_schedules(wanted, ours={FORWARD}, using=using)


# --- One drain's steps --------------------------------------------------------------------


def _next_batch(stream: Stream, size: int) -> Batch | None:
    """The oldest batch not yet delivered, or a new one of the oldest samples."""
    with transaction.atomic():
        _drop_unpublishable(stream)
        pending = stream.batches.filter(state=Batch.PENDING).order_by("created").first()
        if pending is not None:
            return pending
        ids = list(
            PendingSample.objects.filter(stream=stream, batch=None)
            .order_by("sample__timestamp", "sample_id")
            .values_list("pk", flat=True)[:size]
        )
        if not ids:
            return None
        batch = Batch.objects.create(stream=stream, size=len(ids))
        PendingSample.objects.filter(pk__in=ids).update(batch=batch)
    return batch


def _drop_unpublishable(stream: Stream) -> None:
    """Forget samples not yet delivered that are no longer public: the
    installation was made private or shortened, or the sample was deleted
    (also from a batch waiting for a retry: withdrawing publication wins over
    resending a batch exactly as it was)."""
    waiting = PendingSample.objects.filter(stream=stream).exclude(batch__state=Batch.DEAD)
    span = Installation.objects.filter(pk=stream.installation_id, is_public=True).values("from_time", "to_time").first()
    if span is None:
        waiting.delete()
        return
    public = Sample.objects.filter(
        pk=OuterRef("sample_id"), timestamp__gte=span["from_time"], timestamp__lt=span["to_time"]
    )
    waiting.exclude(Exists(public)).delete()


def _samples_of(batch: Batch, stream: Stream) -> list[PublishedSample]:
    rows = (
        Sample.objects.filter(pk__in=batch.samples.values("sample_id"))
        .order_by("timestamp", "id")
        .values_list("id", "node_id", "timestamp", "co2_ppm", "temperature_celsius", "rel_humidity_percent")
    )
    return [
        PublishedSample(
            sample_id=sample_id,
            node_id=str(node_id),
            installation_id=stream.installation_id,
            timestamp_s=int(timestamp.timestamp()),
            co2_ppm=co2,
            temperature_celsius=temperature,
            rel_humidity_percent=humidity,
        )
        for sample_id, node_id, timestamp, co2, temperature, humidity in rows
    ]


def _delivered(stream: Stream, batch: Batch) -> None:
    with transaction.atomic():
        batch.delete()  # and its pending samples
        Stream.objects.filter(pk=stream.pk).update(
            last_sent=timezone.now(), failures=0, next_attempt=None, last_error="", last_error_at=None
        )


def _back_off(stream: Stream, batch: Batch, error: TransportError) -> None:
    now = timezone.now()
    failures = stream.failures + 1
    stream.failures = failures
    stream.next_attempt = now + timedelta(seconds=backoff_s(failures, error.retry_after_s))
    log.warning("Forwarding %s: %s; next attempt at %s", stream, error, stream.next_attempt.isoformat())
    with transaction.atomic():
        Batch.objects.filter(pk=batch.pk).update(attempts=batch.attempts + 1, last_error=str(error))
        # The destination is down, not just this stream: its other streams
        # wait too, or a thousand installations would each spend a timeout
        # on it and starve the task cluster.
        Stream.objects.filter(integration=stream.integration, destination=stream.destination).filter(
            Q(pk=stream.pk) | Q(next_attempt__isnull=True) | Q(next_attempt__lt=stream.next_attempt)
        ).update(failures=failures, next_attempt=stream.next_attempt, last_error=str(error), last_error_at=now)


def _bury(stream: Stream, batch: Batch, error: TransportError) -> None:
    log.error("Forwarding %s: batch %s refused for good: %s", stream, batch.pk, error)
    with transaction.atomic():
        Batch.objects.filter(pk=batch.pk).update(state=Batch.DEAD, attempts=batch.attempts + 1, last_error=str(error))
        Stream.objects.filter(pk=stream.pk).update(last_error=str(error), last_error_at=timezone.now())


def _unqueue(stream: Stream) -> None:
    Stream.objects.filter(pk=stream.pk).update(queued=None)


def _work_waiting():
    """Streams with samples not yet in a batch, or a batch not yet delivered."""
    return Exists(PendingSample.objects.filter(stream=OuterRef("pk"), batch=None)) | Exists(
        Batch.objects.filter(stream=OuterRef("pk"), state=Batch.PENDING)
    )


def _has_work(stream: Stream) -> bool:
    return Stream.objects.filter(pk=stream.pk).filter(_work_waiting()).exists()


@contextmanager
def _stream_lock(stream_id: int):
    if connection.vendor != "postgresql":
        # SQLite (trying Managair out): one database writer at a time anyway.
        yield True
        return
    key = _LOCK_SPACE + stream_id
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        locked = cursor.fetchone()[0]
    try:
        yield locked
    finally:
        if locked:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
