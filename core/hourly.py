"""Hourly summaries: a year by hours from 8,760 stored rows, not 525,600 samples.

``HourlySummary`` holds, per node and UTC hour, exactly the figures of a
1-hour bucket (the same SQL computes both). Before the horizon
(``SummaryHorizon``) every hour holding samples has a row, and triggers mark
a row stale when its samples change (migration 0006). ``refresh``, on a
schedule, moves the horizon up to the last ended hour and recomputes stale
rows. Readers (``bucket_sql``, ``SampleCount``) take fresh rows before the
horizon as they are and compute everything else from the samples, so answers
never depend on how recently the refresh ran.

Only PostgreSQL keeps summaries, and only 1-hour buckets in zones whose
offsets are whole hours read them: there a local hour is a UTC hour. Medians
of longer buckets cannot be combined from hourly ones.
"""

import time
import zoneinfo
from datetime import UTC, datetime, timedelta
from functools import cache

from django.db import connection, transaction
from django.db.models import Func, IntegerField

from core.models import HourlySummary, Sample, SummaryHorizon

HOUR = timedelta(hours=1)
# Bounds for "all of a node's samples".
EARLIEST = datetime(1, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)

# The figures of a bucket of samples, in the order of ``timeseries.BUCKET_COLUMNS``
# after its start. Means and percentiles are rounded later, in Python.
FIGURES = """
    count(*) AS sample_count, avg(co2_ppm)::float8, min(co2_ppm), max(co2_ppm),
    percentile_cont(0.5) WITHIN GROUP (ORDER BY co2_ppm),
    percentile_cont(0.9) WITHIN GROUP (ORDER BY co2_ppm),
    avg(temperature_celsius), min(temperature_celsius), max(temperature_celsius),
    avg(rel_humidity_percent), min(rel_humidity_percent), max(rel_humidity_percent)
"""
_FIGURE_COLUMNS = (
    "sample_count", "co2_ppm_mean", "co2_ppm_min", "co2_ppm_max", "co2_ppm_median", "co2_ppm_p90",
    "temperature_celsius_mean", "temperature_celsius_min", "temperature_celsius_max",
    "rel_humidity_percent_mean", "rel_humidity_percent_min", "rel_humidity_percent_max",
)  # fmt: skip


@cache
def whole_hour_zone(tz_name: str) -> bool:
    """Whether the zone's offset from UTC was a whole number of hours on every
    day from 2000 (the oldest sample ingest accepts) to 2040. Checked once a
    day at noon UTC: no zone has held an offset for less than a day."""
    tz = zoneinfo.ZoneInfo(tz_name)
    moment, last = datetime(2000, 1, 1, 12, tzinfo=UTC), datetime(2040, 1, 1, tzinfo=UTC)
    while moment < last:
        if tz.utcoffset(moment).total_seconds() % 3600:
            return False
        moment += timedelta(days=1)
    return True


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


# Fresh summaries before the horizon as they are; the rest from samples,
# hour by hour: stale hours, hours past the horizon and, at the window's
# edges, the parts of hours it cuts.
_BUCKETS = """
WITH horizon AS (
    SELECT least(%(full_end)s, coalesce(
        (SELECT complete_before FROM {horizon} WHERE id = 1), '-infinity'::timestamptz
    )) AS summarised_end
), parts AS (
    SELECT hour, hour AS since, hour + interval '1 hour' AS until FROM {summaries}, horizon
    WHERE node_id = %(node)s AND hour >= %(full_start)s AND hour < summarised_end AND stale
    UNION ALL
    SELECT hour, hour, hour + interval '1 hour' FROM horizon,
        generate_series(greatest(%(full_start)s, summarised_end), %(full_end)s - interval '1 hour', '1 hour') AS hour
    UNION ALL
    SELECT * FROM unnest(%(part_hours)s::timestamptz[], %(part_since)s::timestamptz[], %(part_until)s::timestamptz[])
)
SELECT floor(date_part('epoch', hour))::bigint, {columns}
FROM {summaries}, horizon
WHERE node_id = %(node)s AND hour >= %(full_start)s AND hour < summarised_end AND NOT stale
UNION ALL
SELECT floor(date_part('epoch', parts.hour))::bigint, figures.*
FROM parts CROSS JOIN LATERAL (
    SELECT {figures} FROM {samples}
    WHERE node_id = %(node)s AND "timestamp" >= parts.since AND "timestamp" < parts.until
) AS figures
WHERE figures.sample_count > 0
ORDER BY 1
"""


def bucket_sql(node_id, start: datetime, end: datetime) -> tuple[str, dict]:
    """SQL for the 1-hour buckets of a node's samples in [start, end), rows
    as ``timeseries.BUCKET_COLUMNS`` before rounding; only for zones where
    ``whole_hour_zone`` holds. Hours past the horizon are read one by one,
    so [start, end) should not reach far beyond the samples."""
    full_start = floor_hour(start) + (HOUR if floor_hour(start) < start else timedelta(0))
    full_end = floor_hour(end)
    parts = []  # (hour, since, until)
    if full_start > full_end:  # the window lies inside one hour
        parts.append((floor_hour(start), start, end))
        full_start = full_end
    else:
        if start < full_start:
            parts.append((floor_hour(start), start, full_start))
        if full_end < end:
            parts.append((full_end, full_end, end))
    sql = _BUCKETS.format(
        columns=", ".join(_FIGURE_COLUMNS), figures=FIGURES, horizon=SummaryHorizon._meta.db_table,
        summaries=HourlySummary._meta.db_table, samples=Sample._meta.db_table,
    )  # fmt: skip
    params = {
        "node": node_id, "full_start": full_start, "full_end": full_end,
        "part_hours": [p[0] for p in parts], "part_since": [p[1] for p in parts], "part_until": [p[2] for p in parts],
    }  # fmt: skip
    return sql, params


class SampleCount(Func):
    """The number of a node's samples in [since, until), as an expression for
    annotations (lists show it per row): on PostgreSQL the function
    ``core_count_samples`` (migration 0006), which adds up summaries; on
    SQLite a plain count."""

    function = "core_count_samples"
    arity = 3
    output_field = IntegerField()  # arguments: node, since, until

    def as_sqlite(self, compiler, connection, **extra):
        (node, node_params), (since, since_params), (until, until_params) = (
            compiler.compile(expression) for expression in self.get_source_expressions()
        )
        sql = (
            f'(SELECT COUNT(*) FROM {Sample._meta.db_table} WHERE node_id = {node} '
            f'AND "timestamp" >= {since} AND "timestamp" < {until})'
        )
        return sql, (*node_params, *since_params, *until_params)


# Samples of the current hour set off no trigger, so the horizon stays behind
# every transaction that may still be writing them: it moves only to an hour
# that began this long ago, and only after the transactions running when it
# looked have ended.
HORIZON_MARGIN = timedelta(minutes=5)
# How far one step moves it: after days without a refresh, adding the rows of
# the gap in one statement could outlast the task's timeout.
HORIZON_STEP = timedelta(days=1)

# Our own transaction id is newer than that of every transaction running now;
# once the oldest one running is no older, they have all ended.
_TARGET = """
SELECT date_bin('1 hour', now() - %(margin)s, '2000-01-01 00:00:00+00'::timestamptz), pg_current_xact_id()::text
"""
_STILL_RUNNING = """
SELECT pg_snapshot_xmin(pg_current_snapshot()) < %(xid)s::xid8
"""
_ADD_ROWS = """
INSERT INTO {summaries} (node_id, hour, stale)
SELECT DISTINCT node_id, date_bin('1 hour', "timestamp", '2000-01-01 00:00:00+00'::timestamptz), true
FROM {samples} WHERE "timestamp" >= %(since)s AND "timestamp" < %(until)s
ORDER BY 1, 2
ON CONFLICT (node_id, hour) DO UPDATE SET stale = true WHERE NOT {summaries}.stale
"""


def advance_horizon(*, wait_s: float = 2.0) -> datetime | None:
    """Move the horizon forward, by at most HORIZON_STEP, towards the last
    hour that began at least HORIZON_MARGIN ago, first adding rows for the
    hours it passes. Returns the horizon, or None when transactions still
    running after ``wait_s`` kept it where it was."""
    names = {"summaries": HourlySummary._meta.db_table, "samples": Sample._meta.db_table}
    with connection.cursor() as cursor:
        cursor.execute(_TARGET, {"margin": HORIZON_MARGIN})
        target, xid = cursor.fetchone()
        deadline = time.monotonic() + wait_s
        while True:
            cursor.execute(_STILL_RUNNING, {"xid": xid})
            if not cursor.fetchone()[0]:
                break
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)
    with transaction.atomic(), connection.cursor() as cursor:
        horizon = SummaryHorizon.objects.select_for_update().filter(id=1).first()
        if horizon is not None and horizon.complete_before >= target:
            return horizon.complete_before
        if horizon is None:  # only after the table was emptied: start from the first sample
            since = datetime(1, 1, 1, tzinfo=UTC)
        else:
            since, target = horizon.complete_before, min(target, horizon.complete_before + HORIZON_STEP)
        cursor.execute(_ADD_ROWS.format(**names), {"since": since, "until": target})
        SummaryHorizon.objects.update_or_create(id=1, defaults={"complete_before": target})
    return target


_LOCK_STALE = """
SELECT node_id, hour FROM {summaries}
WHERE stale AND hour < %(before)s
ORDER BY hour LIMIT %(limit)s
FOR UPDATE SKIP LOCKED
"""

# A statement of its own after the locks: in READ COMMITTED it sees every
# change committed before them, and changes after them wait for our commit
# and then mark the hour stale again.
_RECOMPUTE = """
UPDATE {summaries} AS summary
SET stale = false, ({columns}) = (
    SELECT {figures} FROM {samples}
    WHERE node_id = summary.node_id AND "timestamp" >= summary.hour AND "timestamp" < summary.hour + interval '1 hour'
)
FROM unnest(%(nodes)s::uuid[], %(hours)s::timestamptz[]) AS locked(node_id, hour)
WHERE summary.node_id = locked.node_id AND summary.hour = locked.hour
"""

_DELETE_EMPTY = """
DELETE FROM {summaries} AS summary
USING unnest(%(nodes)s::uuid[], %(hours)s::timestamptz[]) AS locked(node_id, hour)
WHERE summary.node_id = locked.node_id AND summary.hour = locked.hour AND summary.sample_count = 0
"""


def refresh(*, now: datetime | None = None, batch_size: int = 5000, time_budget_s: float = 45.0) -> int:
    """Move the horizon forward, then recompute stale hours before it that
    ended before ``now``, ``batch_size`` per transaction, until none are left
    or ``time_budget_s`` is spent (below the task cluster's timeout). Hours
    locked by a concurrent change are left for the next run. Returns how many
    hours were recomputed."""
    if connection.vendor != "postgresql":
        return 0
    done, deadline = 0, time.monotonic() + time_budget_s
    horizon = previous = None
    while time.monotonic() < deadline and (horizon := advance_horizon()) not in (None, previous):
        previous = horizon
    if horizon is None:
        horizon = SummaryHorizon.objects.values_list("complete_before", flat=True).first()
    # Rows past the horizon may lack samples that set off no trigger.
    before = min(floor_hour(now or datetime.now(UTC)), horizon or datetime(1, 1, 1, tzinfo=UTC))
    names = {
        "summaries": HourlySummary._meta.db_table, "samples": Sample._meta.db_table,
        "figures": FIGURES, "columns": ", ".join(_FIGURE_COLUMNS),
    }  # fmt: skip
    while time.monotonic() < deadline:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_LOCK_STALE.format(**names), {"before": before, "limit": batch_size})
            locked = cursor.fetchall()
            if not locked:
                break
            keys = {"nodes": [node for node, _ in locked], "hours": [hour for _, hour in locked]}
            cursor.execute(_RECOMPUTE.format(**names), keys)
            cursor.execute(_DELETE_EMPTY.format(**names), keys)
            # The insert trigger remembers the hour it marked last in this
            # transaction; marked rows may be fresh now (only when one
            # transaction both stores samples and refreshes, as tests do).
            cursor.execute("SELECT set_config('managair.hour_marked', '', true)")
        done += len(locked)
        if len(locked) < batch_size:
            break
    return done
