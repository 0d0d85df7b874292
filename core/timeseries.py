"""Reading windows of samples: what the time-series endpoints serve.

A window is [start, end) in aware datetimes. Installation series are clipped
to the installation's own span, so a node's samples from before or after it
hung in the room never show up there.

A series comes raw (one row per sample) or in buckets of local calendar time
(``Bucketing``). Both come bounded, for JSON answers (``raw_samples``,
``bucket_rows``: past ``TIMESERIES_MAX_POINTS`` rows a ``WindowError`` names
``bucket_size``), or unbounded and streamed from a server-side cursor, for CSV
exports (``iter_raw_samples``, ``iter_bucket_rows``).
"""

import math
import zoneinfo
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache

from django.conf import settings
from django.db import connections, router, transaction
from django.db.models import Func, IntegerField, Max, Min
from django.utils import timezone

from core import hourly
from core.models import Installation, Sample
from core.timestamps import from_unix


class WindowError(ValueError):
    """A malformed or too large window; the message says which parameter."""

    def __init__(self, message: str, parameter: str):
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    def clipped_to(self, installation: Installation) -> "Window":
        return Window(max(self.start, installation.from_time), min(self.end, installation.to_time))

    @property
    def is_empty(self) -> bool:
        return self.start >= self.end


def parse_time(raw: str | None, parameter: str) -> datetime | None:
    """Unix seconds, or ISO-8601 with a time zone."""
    if raw is None or raw.strip() == "":
        return None
    raw = raw.strip()
    try:
        return from_unix(int(raw))
    except (ValueError, OverflowError, OSError):
        pass
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise WindowError(f"{parameter} must be Unix seconds or an ISO-8601 time, not {raw!r}.", parameter) from None
    if timezone.is_naive(moment):
        raise WindowError(f"{parameter} needs a time zone (e.g. 'Z' or '+01:00').", parameter)
    return moment


def window_from_query(params, *, now: datetime | None = None) -> Window:
    """``filter[from]``/``filter[to]``; by default everything up to now."""
    now = now or timezone.now()
    start = parse_time(params.get("filter[from]"), "filter[from]") or from_unix(0)
    end = parse_time(params.get("filter[to]"), "filter[to]") or now
    if start > end:
        raise WindowError("filter[from] must not be after filter[to].", "filter[from]")
    # The API's times are inclusive seconds; the window is half-open.
    return Window(start, end.replace(microsecond=0) + _ONE_SECOND)


def _samples(node_id, window: Window):
    return Sample.objects.filter(node_id=node_id, timestamp__gte=window.start, timestamp__lt=window.end)


SAMPLE_COLUMNS = ("id", "timestamp", "co2_ppm", "temperature_celsius", "rel_humidity_percent", "measurement_status")

# --- Raw samples -------------------------------------------------------------------------

RAW_COLUMNS = ("id", "timestamp_s", "co2_ppm", "temperature_celsius", "rel_humidity_percent", "measurement_status")


class UnixSeconds(Func):
    """A timestamp as integer Unix seconds, computed by the database: turning
    tens of thousands of ``timestamptz`` values into datetimes and back in
    Python costs more than the whole query."""

    output_field = IntegerField()
    template = "floor(date_part('epoch', %(expressions)s))::bigint"

    def as_sqlite(self, compiler, connection, **extra):
        # '%%%%' comes out of two rounds of %-formatting as the '%' of '%s'.
        template = "CAST(strftime('%%%%s', %(expressions)s) AS INTEGER)"
        return self.as_sql(compiler, connection, template=template, **extra)


def _raw(node_id, window: Window):
    return (
        _samples(node_id, window)
        .order_by("timestamp")
        .values_list(
            "id", UnixSeconds("timestamp"), "co2_ppm", "temperature_celsius", "rel_humidity_percent",
            "measurement_status",
        )
    )


def raw_samples(node_id, window: Window) -> list[tuple]:
    """The window's samples (``RAW_COLUMNS``) in time order, at most
    TIMESERIES_MAX_POINTS of them."""
    if window.is_empty:
        return []
    limit = settings.TIMESERIES_MAX_POINTS
    rows = list(_raw(node_id, window)[: limit + 1])
    if len(rows) > limit:
        raise WindowError(
            f"The window holds more than {limit} samples; narrow filter[from]/filter[to] "
            "or ask for aggregated buckets with bucket_size.",
            "bucket_size",
        )
    return rows


def iter_raw_samples(node_id, window: Window, chunk_size: int = 5000) -> Iterator[tuple]:
    """All of the window's samples (``RAW_COLUMNS``) in time order, fetched
    ``chunk_size`` at a time from a server-side cursor; not bounded."""
    if window.is_empty:
        return
    with streaming():
        yield from _raw(node_id, window).iterator(chunk_size=chunk_size)


# --- Buckets -----------------------------------------------------------------------------

BUCKET_SIZES = ("1m", "10m", "1h", "1d", "1w", "1mo")
DEFAULT_BUCKET_TZ = "Europe/Berlin"
BUCKET_COLUMNS = (
    "bucket_start_s", "count",
    "co2_ppm_mean", "co2_ppm_min", "co2_ppm_max", "co2_ppm_median", "co2_ppm_p90",
    "temperature_celsius_mean", "temperature_celsius_min", "temperature_celsius_max",
    "rel_humidity_percent_mean", "rel_humidity_percent_min", "rel_humidity_percent_max",
)  # fmt: skip
_FIXED_SECONDS = {"1m": 60, "10m": 600, "1h": 3600}
_TRUNCATE_UNIT = {"1h": "hour", "1d": "day", "1w": "week", "1mo": "month"}


@dataclass(frozen=True)
class Bucketing:
    """Buckets of local calendar time in a zone: minutes and hours as the
    clock shows them, days, weeks (from Monday) and months from local
    midnight, so a day is 23 or 25 hours long when the clocks change."""

    size: str
    tz: zoneinfo.ZoneInfo

    def start(self, moment: datetime) -> datetime:
        """The (aware, local) start of the bucket holding ``moment``."""
        local = moment.astimezone(self.tz)
        if self.size in _FIXED_SECONDS:
            # replace() keeps ``fold``: the two 02:xx hours of the night the
            # clocks go back stay two buckets.
            minute = 0 if self.size == "1h" else local.minute - local.minute % (_FIXED_SECONDS[self.size] // 60)
            return local.replace(minute=minute, second=0, microsecond=0)
        day = local.date()
        if self.size == "1w":
            day -= timedelta(days=day.weekday())
        elif self.size == "1mo":
            day = day.replace(day=1)
        return datetime.combine(day, time(), tzinfo=self.tz)

    def next_start(self, start: datetime) -> datetime:
        """The start of the bucket after the one starting at ``start``."""
        if self.size in _FIXED_SECONDS:
            # In UTC: arithmetic on local datetimes follows the wall clock.
            return (start.astimezone(UTC) + timedelta(seconds=_FIXED_SECONDS[self.size])).astimezone(self.tz)
        day = start.date()
        if self.size == "1mo":
            following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        else:
            following = day + timedelta(days=7 if self.size == "1w" else 1)
        return datetime.combine(following, time(), tzinfo=self.tz)

    def spanned(self, first: datetime, last: datetime) -> int:
        """How many buckets (empty ones included) run from ``first`` to ``last``."""
        a, b = self.start(first), self.start(last)
        if self.size in _FIXED_SECONDS:
            return int(b.timestamp() - a.timestamp()) // _FIXED_SECONDS[self.size] + 1
        if self.size == "1mo":
            return (b.year - a.year) * 12 + b.month - a.month + 1
        return (b.date() - a.date()).days // (7 if self.size == "1w" else 1) + 1


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def bucketing_from_query(params) -> Bucketing | None:
    """``bucket_size`` and ``bucket_tz``; ``None`` for a raw series."""
    tz_name = params.get("bucket_tz", DEFAULT_BUCKET_TZ)
    # Only names of the tz database: PostgreSQL reads the same one, and
    # ZoneInfo would also open paths and POSIX TZ strings.
    if tz_name not in _zone_names():
        raise WindowError(
            f"bucket_tz must be an IANA time zone name such as {DEFAULT_BUCKET_TZ!r}, not {tz_name!r}.", "bucket_tz"
        )
    size = params.get("bucket_size")
    if size is None:
        return None
    if size not in BUCKET_SIZES:
        raise WindowError(f"bucket_size must be one of {', '.join(BUCKET_SIZES)}, not {size!r}.", "bucket_size")
    return Bucketing(size, zoneinfo.ZoneInfo(tz_name))


def bucket_rows(node_id, window: Window, bucketing: Bucketing) -> list[tuple]:
    """The window's non-empty buckets (``BUCKET_COLUMNS``) in time order.

    Bounded like raw series: when the samples in the window span more than
    TIMESERIES_MAX_POINTS buckets (empty ones counted, so that the check
    costs two index lookups, not the aggregation), a ``WindowError`` names
    ``bucket_size``.
    """
    span = _span(node_id, window)
    if span is None:
        return []
    limit = settings.TIMESERIES_MAX_POINTS
    if bucketing.spanned(*span) > limit:
        raise WindowError(
            f"The window's samples span more than {limit} buckets of {bucketing.size}; "
            "narrow filter[from]/filter[to] or choose a larger bucket_size.",
            "bucket_size",
        )
    return list(_bucket_rows(node_id, window, bucketing, span, stream=False))


def iter_bucket_rows(node_id, window: Window, bucketing: Bucketing) -> Iterator[tuple]:
    """All of the window's non-empty buckets, streamed; not bounded."""
    span = _span(node_id, window)
    if span is None:
        return
    with streaming():
        yield from _bucket_rows(node_id, window, bucketing, span, stream=True)


def streaming():
    """A transaction around a stream: in one, Django declares its server-side
    cursor WITHOUT HOLD and rows flow at once; in autocommit it declares it
    WITH HOLD, and PostgreSQL computes the whole result (a year: ~120 ms and
    its memory or temporary files) before the first row."""
    return transaction.atomic(using=router.db_for_read(Sample))


def _span(node_id, window: Window) -> tuple[datetime, datetime] | None:
    if window.is_empty:
        return None
    figures = _samples(node_id, window).aggregate(first=Min("timestamp"), last=Max("timestamp"))
    return None if figures["first"] is None else (figures["first"], figures["last"])


def _bucket_rows(node_id, window, bucketing, span, *, stream: bool) -> Iterator[tuple]:
    connection = connections[router.db_for_read(Sample)]
    if connection.vendor != "postgresql":
        # The slow path (SQLite, for development): every sample through Python.
        rows = _samples(node_id, window).order_by("timestamp").values_list(
            UnixSeconds("timestamp"), "co2_ppm", "temperature_celsius", "rel_humidity_percent"
        )
        yield from aggregate(rows.iterator(chunk_size=5000), bucketing)
        return
    sql, params = _bucket_sql(node_id, window, bucketing, span)
    # A server-side cursor for streams (Django's, as QuerySet.iterator uses).
    with connection.chunked_cursor() if stream else connection.cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(2000):
            for row in chunk:
                yield _rounded(row)


# Minutes and ten minutes: each bucket holds a sample or a few, so grouping
# the window's rows (one sort) beats a lookup per bucket. date_bin from a
# local midnight is exact in every zone since 2000: no zone's UTC offset has
# changed by other than whole ten minutes (ingest refuses earlier samples).
_GROUPED = """
SELECT floor(date_part('epoch', bucket))::bigint, {figures}
FROM (
    SELECT date_bin(%(step)s::interval, "timestamp", timezone(%(tz)s, '2000-01-01'::timestamp)) AS bucket,
           co2_ppm, temperature_celsius, rel_humidity_percent
    FROM {table}
    WHERE node_id = %(node)s AND "timestamp" >= %(start)s AND "timestamp" < %(end)s
) AS samples
GROUP BY bucket
ORDER BY bucket
"""

# Hours and longer: the buckets' starts are date_trunc() in the zone of
# probes every half hour/hour/day from the first to the last sample (each
# bucket is longer than the probe step, so none is missed, and date_trunc
# knows the zone's history); each bucket then aggregates an index range
# scan. Grouping a year's 525,600 rows instead would sort them all and
# convert each to local time: about twice as slow.
_PROBED = """
WITH starts AS (
    SELECT date_trunc(%(unit)s, probe, %(tz)s) AS start
    FROM generate_series(%(first)s::timestamptz, %(last)s::timestamptz, %(step)s::interval) AS probe
    UNION
    SELECT date_trunc(%(unit)s, %(last)s::timestamptz, %(tz)s)
), buckets AS (
    SELECT start, lead(start) OVER (ORDER BY start) AS next FROM starts
)
SELECT floor(date_part('epoch', buckets.start))::bigint, figures.*
FROM buckets CROSS JOIN LATERAL (
    SELECT {figures}
    FROM {table}
    WHERE node_id = %(node)s
      AND "timestamp" >= greatest(buckets.start, %(start)s) AND "timestamp" < least(buckets.next, %(end)s)
) AS figures
WHERE figures.sample_count > 0
ORDER BY buckets.start
"""
_PROBE_STEP = {"1h": "30 minutes", "1d": "1 hour", "1w": "24 hours", "1mo": "24 hours"}


def _bucket_sql(node_id, window: Window, bucketing: Bucketing, span) -> tuple[str, dict]:
    if bucketing.size == "1h" and hourly.whole_hour_zone(bucketing.tz.key):
        # Clipped to the hours holding samples: hours past the summaries'
        # horizon are read one by one.
        first, last = hourly.floor_hour(span[0]), hourly.floor_hour(span[1]) + hourly.HOUR
        return hourly.bucket_sql(node_id, max(window.start, first), min(window.end, last))
    params = {
        "node": node_id, "start": window.start, "end": window.end, "tz": bucketing.tz.key,
        "first": span[0], "last": span[1],
    }  # fmt: skip
    if bucketing.size in _TRUNCATE_UNIT:
        template = _PROBED
        params |= {"unit": _TRUNCATE_UNIT[bucketing.size], "step": _PROBE_STEP[bucketing.size]}
    else:
        template = _GROUPED
        params["step"] = f"{_FIXED_SECONDS[bucketing.size]} seconds"
    return template.format(figures=hourly.FIGURES, table=Sample._meta.db_table), params


# Means and percentiles are rounded to one decimal: finer than any of the
# sensors resolves (1 ppm, 0.1 °C, 0.5 %), and the same on both paths.
def _rounded(row: tuple) -> tuple:
    start_s, count, co2_mean, co2_min, co2_max, co2_median, co2_p90, t_mean, t_min, t_max, h_mean, h_min, h_max = row
    return (
        start_s, count, round(co2_mean, 1), co2_min, co2_max, round(co2_median, 1), round(co2_p90, 1),
        None if t_mean is None else round(t_mean, 1), t_min, t_max,
        None if h_mean is None else round(h_mean, 1), h_min, h_max,
    )  # fmt: skip


def aggregate(rows: Iterable[tuple], bucketing: Bucketing) -> Iterator[tuple]:
    """Buckets (``BUCKET_COLUMNS``) of ``(timestamp_s, co2_ppm,
    temperature_celsius, rel_humidity_percent)`` rows in time order, as the
    database computes them: the Python path for databases without
    ``percentile_cont``. Holds one bucket's rows at a time."""
    start_s = end_s = None
    co2: list[int] = []
    temperature: list[float] = []
    humidity: list[float] = []
    for timestamp_s, co2_ppm, temperature_celsius, rel_humidity_percent in rows:
        if end_s is None or not start_s <= timestamp_s < end_s:
            if co2:
                yield _bucket(start_s, co2, temperature, humidity)
                co2, temperature, humidity = [], [], []
            start = bucketing.start(from_unix(timestamp_s))
            start_s, end_s = int(start.timestamp()), int(bucketing.next_start(start).timestamp())
        co2.append(co2_ppm)
        if temperature_celsius is not None:
            temperature.append(temperature_celsius)
        if rel_humidity_percent is not None:
            humidity.append(rel_humidity_percent)
    if co2:
        yield _bucket(start_s, co2, temperature, humidity)


def _bucket(start_s: int, co2: list[int], temperature: list[float], humidity: list[float]) -> tuple:
    co2.sort()
    return _rounded((
        start_s, len(co2), sum(co2) / len(co2), co2[0], co2[-1],
        percentile_cont(co2, 0.5), percentile_cont(co2, 0.9),
        *_mean_min_max(temperature), *_mean_min_max(humidity),
    ))  # fmt: skip


def _mean_min_max(values: list[float]) -> tuple:
    if not values:
        return None, None, None
    return sum(values) / len(values), min(values), max(values)


def percentile_cont(ordered: list, fraction: float) -> float:
    """PostgreSQL's ``percentile_cont``: linear interpolation between the two
    nearest of the sorted values."""
    position = fraction * (len(ordered) - 1)
    below, above = math.floor(position), math.ceil(position)
    if below == above:
        return float(ordered[below])
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


_ONE_SECOND = from_unix(1) - from_unix(0)
