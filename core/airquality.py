"""A room's air quality in one calendar month: daily figures, the weekday ×
hour histogram and the clean-air medal.

Which samples count: those of every installation in the room that the caller
may see (``core.scoping.installations``: members see all of their rooms'
installations, everybody else only the public ones, so a private
installation's data never reaches an anonymous caller through its room),
each clipped to the installation's span and to the month. Months and days
are local (``settings.TIME_ZONE``, Europe/Berlin): a day is 23, 24 or 25 hours
long.

The room's series: in each minute, the highest reading any of the room's
sensors sent. With one node (the usual case) that is just its samples; with
several nodes at once the room is taken to be as bad as its worst corner,
the place where people would ventilate, and nothing is counted twice. Each
reading stands for the time until the room's next reading, at most
``MAX_HOLD`` and never past the end of its installation or its local day;
time, not the number of samples, is what the figures add up, so a node that
sends every three minutes is judged like one that sends every minute.

PostgreSQL computes everything in one statement (``AT TIME ZONE`` for the
local days and hours); other databases (SQLite in development) get the same
figures from a loop over the month's samples in Python.
"""

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connections, router

from core import scoping
from core.models import Room, Sample

# --- The rule's figures ------------------------------------------------------------

#: Levels the daily figures report time above. 1000 ppm is the Pettenkofer
#: number, the German Umweltbundesamt's limit of hygienically harmless air and
#: the clean-air reference below; 1400 ppm is EN 13779's upper bound for
#: "moderate" indoor air (1000 ppm above ~400 ppm outdoors); above 2000 ppm
#: the Umweltbundesamt calls indoor air unacceptable.
CLEAN_AIR_PPM = 1000
MODERATE_AIR_PPM = 1400
BAD_AIR_PPM = 2000

#: The original Managair's thresholds for the medal (see ``clean_air_medal``).
EXCESS_SCORE_LIMIT_PPM = 150
RED_DAY_SHARE_ABOVE_CLEAN = 0.3
YELLOW_DAY_SHARE_LIMIT = 0.3
VALID_DAY_SHARE = 0.6

#: How long one reading stands for the room. The original Managair put its
#: samples on a 10-minute grid, so a reading stood for ten minutes there too;
#: a longer hold would paper over outages, a shorter one would call nodes
#: that send every five or ten minutes (some LoRaWAN models do) half blind.
MAX_HOLD = timedelta(minutes=10)

#: A day has enough data when its readings cover at least this share of it.
#: The original Managair allowed one missing hour a day (~96 %); readings
#: are held for at most ten minutes here, so a few lost radio messages in a
#: row already count as missing time, and 90 % (about 2.4 hours missing)
#: keeps such days while still refusing days that began with the
#: installation or end now — those say little about a whole day.
ENOUGH_DATA_SHARE = 0.9

WEEKDAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")  # como-ui's keys, ISO order


def local_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


# --- Months --------------------------------------------------------------------------


class MonthError(ValueError):
    """A month that is not ``yyyy-mm``; ``parameter`` names where it came from."""

    parameter = "month"


#: Unix times are the API's currency; a month outside them has no samples and
#: cannot always be converted (year 1 local is year 0 UTC).
_FIRST_YEAR, _LAST_YEAR = 1970, 9998


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """[start, end) of the month as aware datetimes (UTC), local midnights."""
        following = Month(self.year + self.month // 12, self.month % 12 + 1)
        return _local_midnight(date(self.year, self.month, 1), zone), _local_midnight(
            date(following.year, following.month, 1), zone
        )


def parse_month(text: str) -> Month:
    """``yyyy-mm``, exactly: four digits, a hyphen, two digits."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", text, re.ASCII)
    if match is None:
        raise MonthError(f"The month must be written yyyy-mm (e.g. 2024-03), not {text!r}.")
    year, month = int(match[1]), int(match[2])
    if not 1 <= month <= 12:
        raise MonthError(f"There is no month {match[2]} in {text!r}; months run from 01 to 12.")
    if not _FIRST_YEAR <= year <= _LAST_YEAR:
        raise MonthError(f"The year must lie between {_FIRST_YEAR} and {_LAST_YEAR}, not {match[1]}.")
    return Month(year, month)


def month_of(moment: datetime, zone: ZoneInfo) -> Month:
    local = moment.astimezone(zone)
    return Month(local.year, local.month)


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def day_length_s(day: date, zone: ZoneInfo) -> float:
    """23, 24 or 25 hours in Europe/Berlin. (Aware datetimes of one zone
    subtract as wall clocks, hence the detour through UTC.)"""
    return (_local_midnight(day + timedelta(days=1), zone) - _local_midnight(day, zone)).total_seconds()


# --- Daily figures and the medal -----------------------------------------------------


@dataclass(frozen=True)
class DayFigures:
    """One local day of the room's series. Times are seconds."""

    date: date
    sample_count: int
    covered_s: float
    above_clean_s: float  # > CLEAN_AIR_PPM
    above_moderate_s: float  # > MODERATE_AIR_PPM
    above_bad_s: float  # > BAD_AIR_PPM
    co2_ppm_max: int
    co2_ppm_mean: float  # weighted by time
    excess_score: float  # time-weighted mean of max(CO2 − CLEAN_AIR_PPM, 0), ppm
    length_s: float  # of the local day

    @property
    def enough_data(self) -> bool:
        return self.covered_s >= ENOUGH_DATA_SHARE * self.length_s

    @property
    def share_above_clean(self) -> float:
        return self.above_clean_s / self.covered_s if self.covered_s else 0.0


def traffic_light(day: DayFigures) -> str:
    """The day's rating as the original Managair meant it: ``red`` when the
    air was well above the clean-air reference (an excess score of
    ``EXCESS_SCORE_LIMIT_PPM`` or more, or above ``CLEAN_AIR_PPM`` for more
    than ``RED_DAY_SHARE_ABOVE_CLEAN`` of the measured time), ``yellow`` when
    it was above it at all, ``green`` otherwise."""
    if day.excess_score >= EXCESS_SCORE_LIMIT_PPM or day.share_above_clean > RED_DAY_SHARE_ABOVE_CLEAN:
        return "red"
    if day.above_clean_s > 0:
        return "yellow"
    return "green"


def clean_air_medal(days: Iterable[DayFigures]) -> bool | None:
    """Whether the month earns the clean-air medal (Frischluft-Medaille).

    Only days with enough data are judged. There is no verdict (None) when
    none has, or when they are fewer than ``VALID_DAY_SHARE`` of the days from
    the first to the last day with data: the month is too patchy to judge.
    Otherwise the medal is earned when, on every judged day, CO2 stayed below
    ``BAD_AIR_PPM`` and the day was not red (see ``traffic_light``), and fewer
    than ``YELLOW_DAY_SHARE_LIMIT`` of the judged days were yellow.

    These are the original Managair's thresholds and intent. Two of its slips
    are not repeated: it counted days with an excess score of zero or more
    as "yellow" (every day, so it never awarded the medal), and it answered
    False instead of "don't know" for a patchy month. Its German comment
    describes a red day by time above the reference (30 %), its code by the
    excess score (150); a day that is either counts as red here.
    """
    days = list(days)
    judged = [day for day in days if day.enough_data]
    if not judged:
        return None
    span = (max(day.date for day in days) - min(day.date for day in days)).days + 1
    if len(judged) < VALID_DAY_SHARE * span:
        return None
    if any(day.co2_ppm_max >= BAD_AIR_PPM for day in judged):
        return False
    lights = [traffic_light(day) for day in judged]
    if "red" in lights:
        return False
    return lights.count("yellow") < YELLOW_DAY_SHARE_LIMIT * len(judged)


# --- The selector ------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """Where one installation's samples count: its node, within [start, end)."""

    node_id: UUID
    start: datetime
    end: datetime


@dataclass(frozen=True)
class AirQuality:
    month: Month
    start: datetime
    end: datetime
    days: list[DayFigures]
    #: Weekday (``WEEKDAYS``) -> 24 hourly CO2 means (None without data).
    histogram: dict[str, list[float | None]] | None

    @property
    def clean_air_medal(self) -> bool | None:
        return clean_air_medal(self.days)


def room_spans(room: Room, user, start: datetime, end: datetime) -> list[Span]:
    """The spans of the room's installations visible to ``user``, clipped to [start, end)."""
    installations = scoping.installations(user).filter(room=room, from_time__lt=end, to_time__gt=start)
    return [
        Span(node_id, max(from_time, start), min(to_time, end))
        for node_id, from_time, to_time in installations.values_list("node_id", "from_time", "to_time")
    ]


def room_air_quality(room: Room, month: Month, *, user, with_histogram: bool = False) -> AirQuality:
    zone = local_zone()
    start, end = month.bounds(zone)
    spans = room_spans(room, user, start, end)
    connection = connections[router.db_for_read(Sample)]
    compute = _figures_in_postgresql if connection.vendor == "postgresql" else _figures_in_python
    day_rows, hour_rows = compute(spans, zone, connection) if spans else ([], [])
    days = [_day(row, zone) for row in day_rows]
    return AirQuality(month, start, end, days, _histogram(hour_rows) if with_histogram else None)


# Both paths give the same rows:
# - per local day: (date, samples, covered s, s above clean/moderate/bad, highest CO2, Σ CO2·s, Σ excess·s);
# - per local weekday and hour: (ISO weekday, hour, covered s, Σ CO2·s).


def _day(row, zone: ZoneInfo) -> DayFigures:
    day, samples, covered, above_clean, above_moderate, above_bad, co2_max, co2_time, excess_time = row
    return DayFigures(
        date=day,
        sample_count=samples,
        covered_s=covered,
        above_clean_s=above_clean,
        above_moderate_s=above_moderate,
        above_bad_s=above_bad,
        co2_ppm_max=co2_max,
        co2_ppm_mean=co2_time / covered,
        excess_score=excess_time / covered,
        length_s=day_length_s(day, zone),
    )


def _histogram(hour_rows: Iterable[tuple]) -> dict[str, list[float | None]]:
    means = {(isoweekday, hour): co2_time / covered for isoweekday, hour, covered, co2_time in hour_rows}
    return {
        weekday: [means.get((isoweekday, hour)) for hour in range(24)]
        for isoweekday, weekday in enumerate(WEEKDAYS, start=1)
    }


# Each installation's samples come from their own range scan of the (node,
# timestamp) index, written as row comparisons, which only that index can
# serve: given plain ``timestamp`` bounds, the planner prefers the BRIN index
# on ``timestamp`` for a node that holds most rows, and then reads every page
# of a range not yet summarized (the newest ones) in full. The price is a
# row estimate of one; grouping days and weekday-hours in one pass keeps the
# plan a hash aggregate all the same (a sort could not serve both).
# Local time is computed once a row: a conversion by zone name costs more
# than the rest of the arithmetic. The time to local midnight is taken on the
# wall clock; it differs from real time only across a clock change within
# MAX_HOLD before midnight, which Europe/Berlin never has. ``date_part``, not
# ``extract``, which computes in ``numeric``.
_SERIES_SQL = """
WITH sample AS (
    {samples}
), minute AS (
    SELECT date_trunc('minute', timestamp) AS at, max(co2_ppm) AS co2, count(*) AS samples,
           max(span_end) AS span_end
    FROM sample
    GROUP BY 1
), series AS (
    SELECT at, at AT TIME ZONE %(zone)s AS local_at, lead(at) OVER (ORDER BY at) AS next_at,
           co2, samples, span_end
    FROM minute
), held AS (
    SELECT local_at::date AS day, date_part('isodow', local_at)::int AS isoweekday,
           date_part('hour', local_at)::int AS hour, co2, samples,
           date_part('epoch', least(
               next_at - at, %(hold)s, span_end - at, date_trunc('day', local_at) + interval '1 day' - local_at
           )) AS held_s
    FROM series
)
SELECT GROUPING(day) = 1 AS by_hour, day, isoweekday, hour,
       sum(samples)::int, sum(held_s),
       coalesce(sum(held_s) FILTER (WHERE co2 > %(clean)s), 0),
       coalesce(sum(held_s) FILTER (WHERE co2 > %(moderate)s), 0),
       coalesce(sum(held_s) FILTER (WHERE co2 > %(bad)s), 0),
       max(co2), sum(co2 * held_s), sum(greatest(co2 - %(clean)s, 0) * held_s)
FROM held
GROUP BY GROUPING SETS ((day), (isoweekday, hour))
ORDER BY 1, 2, 3, 4
"""
_SPAN_SQL = (
    "SELECT timestamp, co2_ppm, %(end_{n})s::timestamptz AS span_end FROM {table} "
    "WHERE (node_id, timestamp) >= (%(node_{n})s, %(start_{n})s) AND (node_id, timestamp) < (%(node_{n})s, %(end_{n})s)"
)


def _figures_in_postgresql(spans: Sequence[Span], zone: ZoneInfo, connection) -> tuple[list, list]:
    table = connection.ops.quote_name(Sample._meta.db_table)
    union = "\n    UNION ALL\n    ".join(_SPAN_SQL.format(n=n, table=table) for n in range(len(spans)))
    params = {
        "zone": zone.key,
        "hold": MAX_HOLD,
        "clean": CLEAN_AIR_PPM,
        "moderate": MODERATE_AIR_PPM,
        "bad": BAD_AIR_PPM,
    }
    for n, span in enumerate(spans):
        params.update({f"node_{n}": span.node_id, f"start_{n}": span.start, f"end_{n}": span.end})
    with connection.cursor() as cursor:
        cursor.execute(_SERIES_SQL.format(samples=union), params)
        rows = cursor.fetchall()
    day_rows, hour_rows = [], []
    for by_hour, day, isoweekday, hour, samples, covered, *figures in rows:
        if by_hour:
            hour_rows.append((isoweekday, hour, covered, figures[-2]))
        else:
            day_rows.append((day, samples, covered, *figures))
    return day_rows, hour_rows


def _figures_in_python(spans: Sequence[Span], zone: ZoneInfo, connection) -> tuple[list, list]:
    """The rows of ``_SERIES_SQL``, for databases without time zones (SQLite)."""
    minutes: dict[datetime, list] = {}  # minute -> [highest CO2, samples, latest span end]
    for span in spans:
        samples = Sample.objects.using(connection.alias).filter(
            node_id=span.node_id, timestamp__gte=span.start, timestamp__lt=span.end
        )
        for moment, co2 in samples.values_list("timestamp", "co2_ppm").iterator():
            minute = moment.astimezone(UTC).replace(second=0, microsecond=0)
            entry = minutes.setdefault(minute, [co2, 0, span.end])
            entry[0], entry[1], entry[2] = max(entry[0], co2), entry[1] + 1, max(entry[2], span.end)
    ordered = sorted(minutes)
    days: dict[date, list] = {}
    hours: dict[tuple[int, int], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for index, minute in enumerate(ordered):
        co2, samples, span_end = minutes[minute]
        wall = minute.astimezone(zone).replace(tzinfo=None)
        holds = [MAX_HOLD, span_end - minute, datetime.combine(wall.date() + timedelta(days=1), time()) - wall]
        if index + 1 < len(ordered):
            holds.append(ordered[index + 1] - minute)
        held = min(holds).total_seconds()
        day = days.setdefault(wall.date(), [0, 0.0, 0.0, 0.0, 0.0, co2, 0.0, 0.0])
        day[0] += samples
        day[1] += held
        day[2] += held if co2 > CLEAN_AIR_PPM else 0.0
        day[3] += held if co2 > MODERATE_AIR_PPM else 0.0
        day[4] += held if co2 > BAD_AIR_PPM else 0.0
        day[5] = max(day[5], co2)
        day[6] += co2 * held
        day[7] += max(co2 - CLEAN_AIR_PPM, 0) * held
        hour = hours[(wall.isoweekday(), wall.hour)]
        hour[0] += held
        hour[1] += co2 * held
    return (
        [(day, *figures) for day, figures in sorted(days.items())],
        [(*key, covered, co2_time) for key, (covered, co2_time) in sorted(hours.items())],
    )
