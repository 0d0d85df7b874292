"""Recording what has to be forwarded (called by each platform's signal
receiver, right after ingest committed the samples) and asking the task
cluster to drain it."""

from collections.abc import Iterable
from contextlib import contextmanager

import psycopg
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from integrations.models import PendingSample, Stream


def record(integration: str, entries: Iterable[tuple[str, int, int]]) -> list[int]:
    """Put samples into the outbox of ``integration``: ``entries`` are
    (destination, installation id, sample id). Creates the streams on first
    use; a sample recorded twice for a stream is kept once. Queues a drain
    for each stream that has none waiting; returns the streams that got
    samples."""
    entries = list(entries)
    if not entries:
        return []
    if connection.vendor == "postgresql":
        return _record_in_one_statement(integration, entries)
    return _record_generic(integration, entries)


# Runs in the ingest request: one statement (in the common case that every
# stream exists), not five, keeps forwarding's price for the gateway small.
_RECORD = """
WITH wanted AS (
    SELECT * FROM unnest(%(destinations)s::text[], %(installations)s::int8[], %(samples)s::int8[])
        AS w(destination, installation_id, sample_id)
), streams AS (
    SELECT s.id, s.destination, s.installation_id, s.queued, s.next_attempt
    FROM (SELECT DISTINCT destination, installation_id FROM wanted) k
    JOIN integrations_stream s
      ON s.integration = %(integration)s::text AND s.destination = k.destination AND s.installation_id = k.installation_id
), added AS (
    INSERT INTO integrations_pendingsample (stream_id, sample_id)
    SELECT s.id, w.sample_id FROM wanted w JOIN streams s USING (destination, installation_id)
    ON CONFLICT DO NOTHING
), claimed AS (
    UPDATE integrations_stream SET queued = now()
    WHERE id IN (
        SELECT id FROM streams WHERE queued IS NULL AND (next_attempt IS NULL OR next_attempt <= now())
    )
    RETURNING id
)
SELECT
    (SELECT count(DISTINCT (destination, installation_id)) FROM wanted) = (SELECT count(*) FROM streams),
    ARRAY(SELECT id FROM streams),
    ARRAY(SELECT id FROM claimed)
"""


def _record_in_one_statement(integration: str, entries: list[tuple[str, int, int]]) -> list[int]:
    destinations, installations, samples = (list(column) for column in zip(*entries, strict=True))
    params = {
        "integration": integration,
        "destinations": destinations,
        "installations": installations,
        "samples": samples,
    }
    with prepared_cursor() as cursor:
        cursor.execute(_RECORD, params, prepare=True)
        complete, streams, claimed = cursor.fetchone()
    if not complete:
        # First samples for a stream: create it, then record again (what
        # the first run stored is kept once).
        _create_streams(integration, entries)
        with prepared_cursor() as cursor:
            cursor.execute(_RECORD, params, prepare=True)
            complete, streams, more = cursor.fetchone()
        claimed += more
    # Inside a caller's transaction, a drain must not look before it commits.
    transaction.on_commit(lambda: _queue(claimed))
    return sorted(streams)


@contextmanager
def prepared_cursor():
    """A psycopg cursor binding parameters on the server, so that statements
    run on every ingest request are parsed and planned once per connection
    (as ingest's own statement is), not once per request."""
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield cursor


def _create_streams(integration: str, entries) -> None:
    keys = {(destination, installation) for destination, installation, _ in entries}
    Stream.objects.bulk_create(
        [Stream(integration=integration, destination=d, installation_id=i) for d, i in keys], ignore_conflicts=True
    )


def _record_generic(integration: str, entries: list[tuple[str, int, int]]) -> list[int]:
    keys = {(destination, installation) for destination, installation, _ in entries}
    with transaction.atomic():
        _create_streams(integration, entries)
        # A new statement sees streams that a concurrent request created
        # (its conflicting insert waited for their commit).
        streams = {
            (destination, installation): pk
            for pk, destination, installation in Stream.objects.filter(
                integration=integration, installation_id__in={i for _, i in keys}
            ).values_list("pk", "destination", "installation_id")
        }
        PendingSample.objects.bulk_create(
            [
                PendingSample(stream_id=streams[(destination, installation)], sample_id=sample)
                for destination, installation, sample in entries
                if (destination, installation) in streams
            ],
            ignore_conflicts=True,
        )
    touched = sorted({streams[key] for key in keys if key in streams})
    transaction.on_commit(lambda: queue_drains(touched))
    return touched


def queue_drains(stream_ids: Iterable[int], now=None) -> list[int]:
    """Queue one drain task per stream that has none waiting and is not
    backing off; returns the streams queued. Two callers racing may both
    queue a stream: harmless, the second drain finds it locked or empty."""
    now = now or timezone.now()
    due = (
        Stream.objects.filter(pk__in=list(stream_ids), queued__isnull=True)
        .filter(Q(next_attempt__isnull=True) | Q(next_attempt__lte=now))
        .values_list("pk", flat=True)
    )
    ids = list(due)
    if ids:
        Stream.objects.filter(pk__in=ids).update(queued=now)
        _queue(ids)
    return ids


def _queue(stream_ids: list[int]) -> None:
    for stream_id in stream_ids:
        async_task("integrations.drain.drain", stream_id, task_name=f"Forward stream {stream_id}")
