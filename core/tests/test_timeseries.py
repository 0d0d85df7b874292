"""Series selectors: windows, raw samples and buckets of local time, computed
by PostgreSQL, and the same buckets from the Python path other databases take."""

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core import timeseries
from core.api import params
from core.models import Sample
from core.timeseries import Bucketing, Window, WindowError, bucket_rows, bucketing_from_query, percentile_cont

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
EVERYTHING = Window(datetime(2000, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC))


def seed(node, *samples) -> None:
    """``(time, co2)`` or ``(time, co2, temperature, humidity)`` tuples."""
    Sample.objects.bulk_create(
        Sample(
            node=node,
            timestamp=sample[0],
            co2_ppm=sample[1],
            temperature_celsius=sample[2] if len(sample) > 2 else None,
            rel_humidity_percent=sample[3] if len(sample) > 3 else None,
        )
        for sample in samples
    )


def seed_every(node, start: datetime, end: datetime, step: timedelta, co2: int = 600) -> None:
    moment, samples = start.astimezone(UTC), []
    while moment < end:
        samples.append((moment, co2))
        moment += step  # in UTC: real elapsed time, also across clock changes
    seed(node, *samples)


def buckets(node, size: str, tz=BERLIN, window: Window = EVERYTHING) -> list[dict]:
    rows = bucket_rows(node.pk, window, Bucketing(size, tz))
    return [dict(zip(timeseries.BUCKET_COLUMNS, row, strict=True)) for row in rows]


def s(moment: datetime) -> int:
    return int(moment.timestamp())


# --- Parameters --------------------------------------------------------------------------


def test_without_bucket_size_the_series_is_raw():
    assert bucketing_from_query({}) is None


def test_buckets_follow_berlin_time_unless_told_otherwise():
    assert bucketing_from_query({"bucket_size": "1d"}) == Bucketing("1d", BERLIN)
    assert bucketing_from_query({"bucket_size": "1h", "bucket_tz": "America/New_York"}) == Bucketing("1h", NEW_YORK)


@pytest.mark.parametrize("size", ["", "1", "2h", "1M", "hour", "1mon"])
def test_an_unknown_bucket_size_is_refused_by_name(size):
    with pytest.raises(WindowError) as refusal:
        bucketing_from_query({"bucket_size": size})
    assert refusal.value.parameter == "bucket_size"


@pytest.mark.parametrize("tz", ["", "Mars/Olympus", "europe/berlin", "/etc/passwd", "../zoneinfo/UTC", "EST5EDT,M3"])
def test_a_time_zone_not_in_the_tz_database_is_refused_by_name(tz):
    with pytest.raises(WindowError) as refusal:
        bucketing_from_query({"bucket_size": "1h", "bucket_tz": tz})
    assert refusal.value.parameter == "bucket_tz"


def test_the_schema_offers_exactly_the_bucket_sizes_served():
    (documented,) = [p for p in params.SERIES_OPENAPI_PARAMETERS if p.name == "bucket_size"]
    assert tuple(documented.enum) == timeseries.BUCKET_SIZES
    (tz,) = [p for p in params.SERIES_OPENAPI_PARAMETERS if p.name == "bucket_tz"]
    assert tz.default == timeseries.DEFAULT_BUCKET_TZ


# --- Figures of a bucket ----------------------------------------------------------------


def test_a_bucket_gives_count_mean_min_max_median_and_p90(node):
    at = datetime(2024, 3, 5, 10, 0, tzinfo=BERLIN)
    seed(
        node,
        (at, 400, 20.0, 40.0),
        (at + timedelta(minutes=1), 1000, 21.0, 41.0),
        (at + timedelta(minutes=2), 600, None, 42.0),
        (at + timedelta(minutes=3), 700, 22.5, None),
        (at + timedelta(minutes=4), 500, 19.5, None),
    )
    assert buckets(node, "1h") == [
        {
            "bucket_start_s": s(at),
            "count": 5,
            "co2_ppm_mean": 640.0,
            "co2_ppm_min": 400,
            "co2_ppm_max": 1000,
            "co2_ppm_median": 600.0,
            "co2_ppm_p90": 880.0,  # 700 + 0.6 * (1000 - 700)
            "temperature_celsius_mean": 20.8,  # 20.75, rounded to one decimal
            "temperature_celsius_min": 19.5,
            "temperature_celsius_max": 22.5,
            "rel_humidity_percent_mean": 41.0,
            "rel_humidity_percent_min": 40.0,
            "rel_humidity_percent_max": 42.0,
        }
    ]


def test_a_bucket_without_temperature_or_humidity_gives_nulls(node):
    seed(node, (datetime(2024, 3, 5, 10, tzinfo=UTC), 450))
    (bucket,) = buckets(node, "1h")
    assert bucket["co2_ppm_median"] == bucket["co2_ppm_p90"] == 450.0
    assert {key: value for key, value in bucket.items() if key.startswith(("temp", "rel"))} == dict.fromkeys(
        timeseries.BUCKET_COLUMNS[7:]
    )


def test_means_and_percentiles_are_rounded_to_one_decimal(node):
    at = datetime(2024, 3, 5, 10, tzinfo=UTC)
    seed(node, (at, 400, 20.0, 40.0), (at + timedelta(minutes=1), 401, 20.5, 40.5), (at + timedelta(minutes=2), 401))
    (bucket,) = buckets(node, "1h")
    assert bucket["co2_ppm_mean"] == 400.7  # 400.666…
    assert bucket["co2_ppm_p90"] == 401.0
    assert bucket["temperature_celsius_mean"] == 20.2  # 20.25: halves go to the even neighbour
    assert bucket["rel_humidity_percent_mean"] == 40.2


def test_percentile_cont_interpolates_like_postgresql():
    assert percentile_cont([5], 0.9) == 5.0
    assert percentile_cont([1, 2], 0.5) == 1.5
    assert percentile_cont([400, 500, 600, 700, 1000], 0.9) == 880.0
    assert percentile_cont(list(range(11)), 0.9) == 9.0


# --- Each bucket size -------------------------------------------------------------------

# size: (start of a bucket, offsets of five samples inside it, start of the bucket after the next)
LOCAL = datetime(2024, 3, 5, 10, 0, tzinfo=BERLIN)  # a Tuesday
SIZES = {
    "1m": (LOCAL, [timedelta(seconds=x) for x in (0, 10, 20, 30, 59)], LOCAL + timedelta(minutes=2)),
    "10m": (LOCAL, [timedelta(minutes=x) for x in (0, 2, 4, 6, 9.99)], LOCAL + timedelta(minutes=20)),
    "1h": (LOCAL, [timedelta(minutes=x) for x in (0, 10, 20, 30, 59.99)], LOCAL + timedelta(hours=2)),
    "1d": (
        datetime(2024, 3, 5, tzinfo=BERLIN),
        [timedelta(hours=x) for x in (0, 6, 12, 18, 23.99)],
        datetime(2024, 3, 7, 5, tzinfo=BERLIN),
    ),
    "1w": (
        datetime(2024, 3, 4, tzinfo=BERLIN),  # a Monday
        [timedelta(days=x) for x in (0, 1, 3, 5, 6.99)],
        datetime(2024, 3, 18, 5, tzinfo=BERLIN),
    ),
    "1mo": (
        datetime(2024, 3, 1, tzinfo=BERLIN),
        # The last one after the clocks went forward on 31 March.
        [timedelta(days=x) for x in (0, 5, 10, 20)] + [timedelta(days=30, hours=23, minutes=30)],
        datetime(2024, 5, 1, 5, tzinfo=BERLIN),
    ),
}


@pytest.mark.parametrize("size", list(SIZES))
def test_each_bucket_size_groups_its_samples_and_leaves_out_empty_buckets(node, size):
    start, offsets, later = SIZES[size]
    # Aware local datetime + timedelta moves the wall clock, as a calendar does.
    seed(node, *[(start + offset, co2) for offset, co2 in zip(offsets, (400, 1000, 600, 700, 500), strict=True)])
    seed(node, (later, 800), (start - timedelta(microseconds=1), 900))
    result = buckets(node, size)
    assert [(b["count"], b["co2_ppm_mean"], b["co2_ppm_median"], b["co2_ppm_p90"]) for b in result] == [
        (1, 900.0, 900.0, 900.0),
        (5, 640.0, 600.0, 880.0),
        (1, 800.0, 800.0, 800.0),
    ]
    assert result[1]["bucket_start_s"] == s(start)
    assert result[2]["bucket_start_s"] == s(later.replace(**_TRUNCATE[size]))
    assert result[0]["bucket_start_s"] < s(start)


_TRUNCATE = {
    "1m": {"second": 0},
    "10m": {"second": 0},
    "1h": {"minute": 0},
    "1d": {"hour": 0},
    "1w": {"hour": 0},
    "1mo": {"hour": 0},
}


def test_weeks_start_on_monday_and_months_on_the_first(node):
    sunday_night = datetime(2024, 3, 10, 23, 59, tzinfo=BERLIN)
    seed(node, (sunday_night, 500), (sunday_night + timedelta(minutes=1), 600))
    assert [b["bucket_start_s"] for b in buckets(node, "1w")] == [
        s(datetime(2024, 3, 4, tzinfo=BERLIN)),
        s(datetime(2024, 3, 11, tzinfo=BERLIN)),
    ]
    assert [b["bucket_start_s"] for b in buckets(node, "1mo")] == [s(datetime(2024, 3, 1, tzinfo=BERLIN))]


# --- Time zones and clock changes ---------------------------------------------------------


def test_berlin_days_have_23_and_25_hours_when_the_clocks_change(node):
    ten_minutes = timedelta(minutes=10)
    seed_every(node, datetime(2024, 3, 30, tzinfo=BERLIN), datetime(2024, 4, 2, tzinfo=BERLIN), ten_minutes)
    seed_every(node, datetime(2024, 10, 26, tzinfo=BERLIN), datetime(2024, 10, 29, tzinfo=BERLIN), ten_minutes)
    days = {b["bucket_start_s"]: b["count"] for b in buckets(node, "1d")}
    assert days == {
        s(datetime(2024, 3, 30, tzinfo=BERLIN)): 144,
        s(datetime(2024, 3, 31, tzinfo=BERLIN)): 138,  # 23 hours
        s(datetime(2024, 4, 1, tzinfo=BERLIN)): 144,
        s(datetime(2024, 10, 26, tzinfo=BERLIN)): 144,
        s(datetime(2024, 10, 27, tzinfo=BERLIN)): 150,  # 25 hours
        s(datetime(2024, 10, 28, tzinfo=BERLIN)): 144,
    }


def test_the_hour_that_repeats_when_the_clocks_go_back_is_two_buckets(node):
    # 00:00-02:00 UTC on 27 October 2024 is 02:00-03:00 in Berlin twice.
    seed_every(node, datetime(2024, 10, 27, tzinfo=UTC), datetime(2024, 10, 27, 2, tzinfo=UTC), timedelta(minutes=10))
    hours = [(b["bucket_start_s"], b["count"]) for b in buckets(node, "1h")]
    assert hours == [(s(datetime(2024, 10, 27, 0, tzinfo=UTC)), 6), (s(datetime(2024, 10, 27, 1, tzinfo=UTC)), 6)]
    assert len(buckets(node, "10m")) == 12


def test_the_time_zone_shifts_day_buckets(node):
    seed_every(node, datetime(2024, 3, 5, tzinfo=UTC), datetime(2024, 3, 6, tzinfo=UTC), timedelta(hours=1))
    assert [(b["bucket_start_s"], b["count"]) for b in buckets(node, "1d", ZoneInfo("UTC"))] == [
        (s(datetime(2024, 3, 5, tzinfo=UTC)), 24)
    ]
    assert [(b["bucket_start_s"], b["count"]) for b in buckets(node, "1d", NEW_YORK)] == [
        (s(datetime(2024, 3, 4, tzinfo=NEW_YORK)), 5),  # 00:00-04:00 UTC is still the 4th there
        (s(datetime(2024, 3, 5, tzinfo=NEW_YORK)), 19),
    ]
    assert [b["count"] for b in buckets(node, "1d")] == [23, 1]  # Berlin: the 6th starts at 23:00 UTC


def test_new_york_loses_an_hour_on_its_own_date(node):
    seed_every(node, datetime(2024, 3, 9, tzinfo=NEW_YORK), datetime(2024, 3, 12, tzinfo=NEW_YORK), timedelta(hours=1))
    assert [b["count"] for b in buckets(node, "1d", NEW_YORK)] == [24, 23, 24]


def test_ten_minute_buckets_follow_a_zone_with_a_quarter_hour_offset(node):
    kathmandu = ZoneInfo("Asia/Kathmandu")  # UTC+05:45
    seed(node, (datetime(2024, 3, 5, 10, 4, tzinfo=kathmandu), 500), (datetime(2024, 3, 5, 10, 9, tzinfo=kathmandu), 0))
    assert [(b["bucket_start_s"], b["count"]) for b in buckets(node, "10m", kathmandu)] == [
        (s(datetime(2024, 3, 5, 10, 0, tzinfo=kathmandu)), 2)
    ]
    assert [b["bucket_start_s"] for b in buckets(node, "1h", kathmandu)] == [
        s(datetime(2024, 3, 5, 10, 0, tzinfo=kathmandu))
    ]


# --- Windows and bounds -------------------------------------------------------------------


def test_buckets_hold_only_the_windows_samples(node):
    day = datetime(2024, 3, 5, tzinfo=BERLIN)
    seed_every(node, day, day + timedelta(days=1), timedelta(hours=1))
    window = Window(day + timedelta(hours=6), day + timedelta(hours=8))
    # The bucket keeps its calendar start; only the window's two samples count.
    assert [(b["bucket_start_s"], b["count"]) for b in buckets(node, "1d", window=window)] == [(s(day), 2)]
    assert [(b["bucket_start_s"], b["count"]) for b in buckets(node, "1h", window=window)] == [
        (s(day + timedelta(hours=6)), 1),
        (s(day + timedelta(hours=7)), 1),
    ]


def test_an_empty_window_has_no_buckets(node):
    seed(node, (datetime(2024, 3, 5, tzinfo=UTC), 500))
    assert buckets(node, "1h", window=Window(datetime(2024, 4, 1, tzinfo=UTC), datetime(2024, 5, 1, tzinfo=UTC))) == []
    assert buckets(node, "1d", window=Window(datetime(2024, 4, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC))) == []


def test_more_buckets_than_the_maximum_are_refused_naming_bucket_size(node, settings):
    settings.TIMESERIES_MAX_POINTS = 3
    start = datetime(2024, 3, 5, tzinfo=UTC)
    seed(node, (start, 500), (start + timedelta(minutes=3), 500))  # spans four minutes, two of them empty
    assert len(buckets(node, "10m")) == 1
    with pytest.raises(WindowError) as refusal:
        buckets(node, "1m")
    assert refusal.value.parameter == "bucket_size"


def test_more_raw_samples_than_the_maximum_are_refused_naming_bucket_size(node, settings):
    settings.TIMESERIES_MAX_POINTS = 3
    seed_every(node, datetime(2024, 3, 5, tzinfo=UTC), datetime(2024, 3, 5, 0, 4, tzinfo=UTC), timedelta(minutes=1))
    with pytest.raises(WindowError) as refusal:
        timeseries.raw_samples(node.pk, EVERYTHING)
    assert refusal.value.parameter == "bucket_size"


def test_streams_are_not_bounded(node, settings):
    settings.TIMESERIES_MAX_POINTS = 3
    seed_every(node, datetime(2024, 3, 5, tzinfo=UTC), datetime(2024, 3, 5, 0, 5, tzinfo=UTC), timedelta(minutes=1))
    assert len(list(timeseries.iter_raw_samples(node.pk, EVERYTHING, chunk_size=2))) == 5
    assert len(list(timeseries.iter_bucket_rows(node.pk, EVERYTHING, Bucketing("1m", BERLIN)))) == 5


def test_raw_samples_come_in_time_order_with_unix_seconds(node):
    late, early = datetime(2024, 3, 5, 12, tzinfo=UTC), datetime(2024, 3, 5, 11, tzinfo=UTC)
    seed(node, (late, 700, 21.5, 40.0), (early, 600))
    rows = timeseries.raw_samples(node.pk, EVERYTHING)
    assert [row[1:] for row in rows] == [(s(early), 600, None, None, "M"), (s(late), 700, 21.5, 40.0, "M")]


# --- The Python path ----------------------------------------------------------------------


@pytest.mark.parametrize("tz", [BERLIN, NEW_YORK, ZoneInfo("Asia/Kathmandu")], ids=str)
@pytest.mark.parametrize("size", timeseries.BUCKET_SIZES)
def test_the_python_path_computes_what_postgresql_computes(node, size, tz):
    rng = random.Random(8)
    samples = []
    # Both clock changes of the spring (New York's, then Berlin's), and a
    # few samples in other months.
    for start, end in [("2024-01-30", "2024-01-31"), ("2024-03-08", "2024-03-12"), ("2024-03-29", "2024-04-02")]:
        moment = datetime.fromisoformat(start).replace(tzinfo=UTC)
        while moment < datetime.fromisoformat(end).replace(tzinfo=UTC):
            # Quarter degrees and half percents: exact in 4-byte reals, so
            # that both paths add up the same numbers.
            temperature = None if rng.random() < 0.1 else rng.randrange(60, 100) / 4
            samples.append((moment, rng.randrange(400, 3000), temperature, rng.randrange(40, 140) / 2))
            # Mostly a sample every two minutes, with gaps of up to a day.
            moment += timedelta(minutes=2) if rng.random() < 0.995 else timedelta(hours=rng.randrange(1, 24))
    seed(node, *samples)
    rows = (
        Sample.objects.filter(node=node)
        .order_by("timestamp")
        .values_list(timeseries.UnixSeconds("timestamp"), "co2_ppm", "temperature_celsius", "rel_humidity_percent")
    )
    bucketing = Bucketing(size, tz)
    computed_by_postgresql = bucket_rows(node.pk, EVERYTHING, bucketing)
    assert len(computed_by_postgresql) >= 3
    assert list(timeseries.aggregate(rows.iterator(), bucketing)) == computed_by_postgresql


def test_the_python_path_splits_the_repeated_hour(node):
    moment = datetime(2024, 10, 27, tzinfo=UTC)
    rows = [(s(moment) + 600 * i, 500, None, None) for i in range(12)]
    hours = list(timeseries.aggregate(rows, Bucketing("1h", BERLIN)))
    assert [(h[0], h[1]) for h in hours] == [(s(moment), 6), (s(moment) + 3600, 6)]
