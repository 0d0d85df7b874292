"""Storing a validated batch exactly once.

On PostgreSQL one statement does the work of a request: it checks the ingest
key and that every node exists and belongs to the key's organization, inserts
the samples with ``ON CONFLICT DO NOTHING`` (so a retried request, or two
gateways racing with the same samples, never meets a unique violation),
moves the nodes' last contact forward and finds the samples that public
installations publish. Only when some samples were already stored does a
second statement compare them with what was sent: equal values are
duplicates, different ones a conflict that rolls the batch back.

A single sample runs in autocommit (one round trip; it cannot be half
written); a batch runs in one transaction. Other databases (SQLite, for
trying Managair out) take a slower ORM path with the same behaviour.
"""

import json
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg
from django.db import DatabaseError, IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from core.models import Installation, Node, NodeFidelity, Sample
from ingest.models import IngestKey
from ingest.signals import PublishedSample, sample_published
from ingest.validation import Batch, IngestError, error, same_values, status_of

#: SQLSTATEs after which the whole batch may simply be tried again.
_RETRYABLE = {"40P01", "40001"}  # deadlock detected, serialization failure
_ATTEMPTS = 3
#: "cached plan must not change result type": the prepared statement predates a migration.
_STALE_PLAN = "0A000"


@dataclass(slots=True)
class Stored:
    accepted: int = 0
    duplicates: int = 0
    #: The stored sample's id, for the answer to a single-sample request.
    sample_id: int | None = None
    published: list[PublishedSample] = field(default_factory=list)


def store(batch: Batch, key_hash: str | None, *, publish: bool) -> Stored:
    """Store ``batch`` for the ingest key hashed as ``key_hash`` (``None``: no
    authentication). Raises ``IngestError`` and stores nothing when the key,
    a node or a repeated sample is refused."""
    write = _store_postgresql if connection.vendor == "postgresql" else _store_generic
    _skip_health_check()
    for attempt in range(_ATTEMPTS):
        try:
            stored = write(batch, key_hash, publish)
            break
        except DatabaseError as exc:
            if _sqlstate(exc) in _RETRYABLE and attempt + 1 < _ATTEMPTS:
                continue
            stale = isinstance(exc, OperationalError) or _sqlstate(exc) == _STALE_PLAN
            if attempt == 0 and stale and not connection.in_atomic_block:
                # Most likely the server dropped the kept-alive connection, or
                # a migration changed the table under the prepared statement;
                # everything here may be repeated (see _skip_health_check).
                connection.close()
                continue
            if isinstance(exc, IntegrityError):
                # A node deleted while its samples were being stored.
                raise IngestError(
                    409,
                    [
                        error(
                            409,
                            "conflict",
                            "Concurrent change",
                            "The inventory changed while storing; send again.",
                        )
                    ],
                ) from exc
            raise
    stored.duplicates += batch.repeated
    if stored.published:
        published = stored.published
        transaction.on_commit(lambda: _publish(published))
    return stored


def _publish(samples: list[PublishedSample]) -> None:
    # The samples are committed: a failing receiver must not turn the
    # gateway's answer into an error, or it would send them again.
    # (send_robust logs the receiver's error to "django.dispatch".)
    sample_published.send_robust(sender=Sample, samples=samples)


def _skip_health_check() -> None:
    """Spare the ``SELECT 1`` Django sends before a request's first query
    (CONN_HEALTH_CHECKS): on a path with one statement per request it costs a
    sixth of the throughput. The statement itself is the check: it either
    runs, or fails on a dead connection and is repeated on a fresh one, which
    is harmless because storing a batch twice stores it once."""
    if connection.connection is not None and not connection.in_atomic_block:
        connection.health_check_done = True


def _sqlstate(exc: Exception) -> str | None:
    return getattr(exc.__cause__, "sqlstate", None)


def key_is_usable(key_hash: str) -> bool:
    return IngestKey.objects.usable().filter(key_hash=key_hash).exists()


def unauthorized() -> IngestError:
    return IngestError(
        401,
        [
            error(
                401,
                "not_authenticated",
                "Unknown ingest key",
                "The ingest key is unknown or revoked.",
            )
        ],
        {"WWW-Authenticate": 'Bearer realm="ingest"'},
    )


def _unknown_nodes(batch: Batch, known: set[str]) -> IngestError:
    # A node of another organization is reported exactly like a missing one.
    errors = [
        error(
            422,
            "not_found",
            "Unknown node",
            f"No node has the id {batch.node[row]!r}.",
            _pointer(batch, row, "/relationships/node/data/id"),
        )
        for row in range(len(batch))
        if batch.node[row] not in known
    ]
    return IngestError(422, errors)


def _conflicts(batch: Batch, rows: list[int]) -> IngestError:
    errors = [
        error(
            409,
            "conflict",
            "Conflicting sample",
            "A sample of this node at this timestamp is already stored with other values.",
            _pointer(batch, row),
        )
        for row in rows
    ]
    return IngestError(status_of(errors), errors)


def _pointer(batch: Batch, row: int, suffix: str = "") -> str:
    return ("/data" if batch.single else f"/data/{batch.index[row]}") + suffix


# --- PostgreSQL -----------------------------------------------------------------------

_INCOMING = """
    SELECT pos, node, to_timestamp(ts) AS at, ts, co2, t, h
    FROM unnest(%(pos)s::int4[], %(node)s::uuid[], %(ts)s::int8[], %(co2)s::int4[],
                %(t)s::float8[], %(h)s::float8[]) AS i(pos, node, ts, co2, t, h)
"""

_KEY = """
    key AS (SELECT id, organization_id FROM ingest_ingestkey WHERE key_hash = %(key_hash)s AND NOT revoked),
    -- At most once a minute, so that a busy key's row is rarely locked.
    key_used AS (
        UPDATE ingest_ingestkey SET last_used = now()
        WHERE id IN (SELECT id FROM key) AND (last_used IS NULL OR last_used < now() - interval '1 minute')
    ),
    -- Looked up by primary key first: without statistics (a fresh database)
    -- the planner would otherwise walk all the organization's nodes.
    named AS MATERIALIZED (SELECT id, owner_id FROM core_node WHERE id = ANY(%(nodes)s::uuid[])),
    known AS (SELECT id FROM named WHERE owner_id IN (SELECT organization_id FROM key)),
"""

_OPEN = """
    key AS (SELECT),
    known AS (SELECT id FROM core_node WHERE id = ANY(%(nodes)s::uuid[])),
"""

_STORE = """
    WITH {key}
    complete AS (SELECT count(*) = %(node_count)s AS ok FROM known),
    incoming AS ({incoming}),
    stored AS (
        INSERT INTO core_sample
            (node_id, "timestamp", co2_ppm, temperature_celsius, rel_humidity_percent, measurement_status)
        SELECT node, at, co2, t, h, 'M' FROM incoming
        WHERE (SELECT ok FROM complete)
          -- Tells core's insert trigger that ``summarised`` marks the hours.
          AND set_config('managair.summaries_marked', statement_timestamp()::text, true) IS NOT NULL
        -- One order for everybody: concurrent batches wait for each other
        -- instead of deadlocking.
        ORDER BY node, at
        ON CONFLICT (node_id, "timestamp") DO NOTHING
        RETURNING id, node_id, "timestamp"
    ),
    -- Late samples (before the current hour) make their hours' summaries
    -- stale: one upsert per hour, not per sample (see core.hourly).
    summarised AS (
        INSERT INTO core_hourlysummary (node_id, hour, stale)
        SELECT DISTINCT node_id, date_bin('1 hour', "timestamp", '2000-01-01 00:00:00+00'::timestamptz), true
        FROM stored WHERE "timestamp" < date_bin('1 hour', now(), '2000-01-01 00:00:00+00'::timestamptz)
        ORDER BY 1, 2
        ON CONFLICT (node_id, hour) DO UPDATE SET stale = true WHERE NOT core_hourlysummary.stale
    ),
    contact AS (
        INSERT INTO core_nodefidelity (node_id, fidelity, last_contact)
        SELECT node_id, 'U', now() FROM stored GROUP BY node_id ORDER BY node_id
        ON CONFLICT (node_id) DO UPDATE SET last_contact = excluded.last_contact
        -- Ten seconds are precise enough for the fidelity check, and spare a
        -- busy node's row a new version with every sample.
        WHERE core_nodefidelity.last_contact IS NULL
           OR core_nodefidelity.last_contact < excluded.last_contact - interval '10 seconds'
    )
    SELECT
        EXISTS (SELECT FROM key),
        (SELECT ok FROM complete),
        ARRAY(SELECT id::text FROM known),
        ARRAY(SELECT id FROM stored),
        {published}
"""

_PUBLISHED = """
    (
        SELECT json_agg(json_build_array(s.id, inst.id, s.node_id, extract(epoch FROM s."timestamp")::int8))
        FROM stored s JOIN core_installation inst
          ON inst.node_id = s.node_id AND inst.is_public
         AND inst.from_time <= s."timestamp" AND s."timestamp" < inst.to_time
    )
"""

_REPEATS = """
    SELECT i.pos, s.id,
           s.co2_ppm = i.co2
           AND s.temperature_celsius IS NOT DISTINCT FROM i.t::real
           AND s.rel_humidity_percent IS NOT DISTINCT FROM i.h::real
    FROM ({incoming}) i
    JOIN core_sample s ON s.node_id = i.node AND s."timestamp" = i.at
    WHERE s.id <> ALL(%(ours)s::int8[])
"""


def _sql(template: str, **parts) -> str:
    return template.format(incoming=_INCOMING, **parts)


_STORE_WITH_KEY = _sql(_STORE, key=_KEY, published="NULL")
_STORE_WITH_KEY_PUBLISHED = _sql(_STORE, key=_KEY, published=_PUBLISHED)
_STORE_OPEN = _sql(_STORE, key=_OPEN, published="NULL")
_STORE_OPEN_PUBLISHED = _sql(_STORE, key=_OPEN, published=_PUBLISHED)
_FIND_REPEATS = _sql(_REPEATS)


def _store_postgresql(batch: Batch, key_hash: str | None, publish: bool) -> Stored:
    nodes = sorted(set(batch.node))
    params = {
        "key_hash": key_hash,
        "nodes": nodes,
        "node_count": len(nodes),
        "pos": list(range(len(batch))),
        "node": batch.node,
        "ts": batch.timestamp_s,
        "co2": batch.co2_ppm,
        "t": batch.temperature_celsius,
        "h": batch.rel_humidity_percent,
    }
    if key_hash is None:
        sql = _STORE_OPEN_PUBLISHED if publish else _STORE_OPEN
    else:
        sql = _STORE_WITH_KEY_PUBLISHED if publish else _STORE_WITH_KEY
    # A batch is all or nothing; a single sample is atomic by itself, and
    # autocommit spares it a round trip for COMMIT.
    with nullcontext() if batch.single else transaction.atomic():
        with _prepared_cursor() as cursor:
            cursor.execute(sql, params, prepare=True)
            key_ok, complete, known, ours, published = cursor.fetchone()
            if not key_ok:
                raise unauthorized()
            if not complete:
                raise _unknown_nodes(batch, set(known))
            stored = Stored(accepted=len(ours), sample_id=ours[0] if ours else None)
            if len(ours) < len(batch):
                cursor.execute(_FIND_REPEATS, {**params, "ours": ours})
                differing = []
                for row, sample_id, same in cursor.fetchall():
                    if same:
                        stored.duplicates += 1
                        stored.sample_id = stored.sample_id or sample_id
                    else:
                        differing.append(row)
                if differing:
                    raise _conflicts(batch, sorted(differing))
    if published:
        stored.published = _published(batch, json.loads(published) if isinstance(published, str) else published)
    return stored


@contextmanager
def _prepared_cursor():
    """A psycopg cursor that binds parameters on the server and may prepare
    its statement (when ``SQL_PREPARED_STATEMENTS`` is on).

    Django's cursors bind on the client and never prepare; for this
    statement that means quoting seven arrays in Python and PostgreSQL
    parsing and planning 2 KB of SQL on every request, which halves what
    the ingest path can take.
    """
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield cursor


def _published(batch: Batch, stored: list[list]) -> list[PublishedSample]:
    rows = {(batch.node[r], batch.timestamp_s[r]): r for r in range(len(batch))}
    published = []
    for sample_id, installation_id, node, timestamp_s in stored:
        r = rows[(node, timestamp_s)]
        published.append(
            PublishedSample(
                sample_id=sample_id,
                node_id=node,
                installation_id=installation_id,
                timestamp_s=timestamp_s,
                co2_ppm=batch.co2_ppm[r],
                temperature_celsius=batch.temperature_celsius[r],
                rel_humidity_percent=batch.rel_humidity_percent[r],
            )
        )
    return published


# --- Other databases ---------------------------------------------------------------------


def _store_generic(batch: Batch, key_hash: str | None, publish: bool) -> Stored:
    with transaction.atomic():
        nodes = Node.objects.filter(pk__in=set(batch.node))
        if key_hash is not None:
            key = IngestKey.objects.usable().filter(key_hash=key_hash).first()
            if key is None:
                raise unauthorized()
            IngestKey.objects.filter(pk=key.pk).update(last_used=timezone.now())
            nodes = nodes.filter(owner_id=key.organization_id)
        known = {str(pk) for pk in nodes.values_list("pk", flat=True)}
        if len(known) < len(set(batch.node)):
            raise _unknown_nodes(batch, known)

        at = [datetime.fromtimestamp(ts, tz=UTC) for ts in batch.timestamp_s]
        existing = {
            (str(node_id), int(timestamp.timestamp())): (pk, co2, t, h)
            for pk, node_id, timestamp, co2, t, h in Sample.objects.filter(
                node_id__in=known, timestamp__gte=min(at), timestamp__lte=max(at)
            ).values_list("pk", "node_id", "timestamp", "co2_ppm", "temperature_celsius", "rel_humidity_percent")
        }
        stored, new_rows, differing = Stored(), [], []
        for r in range(len(batch)):
            found = existing.get((batch.node[r], batch.timestamp_s[r]))
            if found is None:
                new_rows.append(r)
            elif same_values((None, None, *found[1:]), batch.row(r)):
                stored.duplicates += 1
                stored.sample_id = stored.sample_id or found[0]
            else:
                differing.append(r)
        if differing:
            raise _conflicts(batch, differing)

        samples = Sample.objects.bulk_create(
            [
                Sample(
                    node_id=batch.node[r],
                    timestamp=at[r],
                    co2_ppm=batch.co2_ppm[r],
                    temperature_celsius=batch.temperature_celsius[r],
                    rel_humidity_percent=batch.rel_humidity_percent[r],
                )
                for r in new_rows
            ]
        )
        stored.accepted = len(samples)
        if samples:
            stored.sample_id = samples[0].pk
        now = timezone.now()
        for node_id in sorted({s.node_id for s in samples}, key=str):
            NodeFidelity.objects.update_or_create(node_id=node_id, defaults={"last_contact": now})
        if publish and samples:
            stored.published = _published_generic(batch, new_rows, samples)
    return stored


def _published_generic(batch: Batch, rows: list[int], samples: list[Sample]) -> list[PublishedSample]:
    installations = list(Installation.objects.filter(node_id__in={s.node_id for s in samples}, is_public=True))
    published = []
    for r, sample in zip(rows, samples, strict=True):
        for inst in installations:
            if str(inst.node_id) == batch.node[r] and inst.from_time <= sample.timestamp < inst.to_time:
                published.append(
                    PublishedSample(
                        sample_id=sample.pk,
                        node_id=batch.node[r],
                        installation_id=inst.pk,
                        timestamp_s=batch.timestamp_s[r],
                        co2_ppm=batch.co2_ppm[r],
                        temperature_celsius=batch.temperature_celsius[r],
                        rel_humidity_percent=batch.rel_humidity_percent[r],
                    )
                )
    return published
