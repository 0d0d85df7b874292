"""Air quality of a room: the medal rule on crafted daily figures, and the
daily figures and histogram computed from crafted samples (on PostgreSQL,
and the same figures on the path other databases take)."""

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection

from core import airquality
from core.airquality import DayFigures, Month, clean_air_medal, parse_month, room_air_quality, traffic_light
from core.models import Sample
from core.tests.factories import make_installation, make_node, make_room

BERLIN = ZoneInfo("Europe/Berlin")
DAY_S = 86_400
MINUTE = timedelta(minutes=1)


def figures(
    day: int = 1,
    *,
    max_ppm: int = 800,
    above_s: float = 0,
    excess: float = 0.0,
    covered_s: float = DAY_S,
    month: int = 3,
) -> DayFigures:
    """A day of March 2024 (24 hours long) with the figures a test cares about."""
    return DayFigures(
        date=date(2024, month, day),
        sample_count=1440,
        covered_s=covered_s,
        above_clean_s=above_s,
        above_moderate_s=0,
        above_bad_s=0,
        co2_ppm_max=max_ppm,
        co2_ppm_mean=700.0,
        excess_score=excess,
        length_s=DAY_S,
    )


def clean_days(count: int) -> list[DayFigures]:
    return [figures(day) for day in range(1, count + 1)]


# --- The medal ------------------------------------------------------------------------------


def test_a_month_without_days_has_no_medal_verdict():
    assert clean_air_medal([]) is None


def test_a_month_without_a_day_of_enough_data_has_no_medal_verdict():
    assert clean_air_medal([figures(day, covered_s=DAY_S / 2) for day in range(1, 20)]) is None


def test_a_month_of_clean_days_earns_the_medal():
    assert clean_air_medal(clean_days(20)) is True


def test_a_month_where_too_few_days_have_enough_data_has_no_verdict():
    # Six judged days from the 1st to the 10th: 60 % is enough …
    patchy = clean_days(6) + [figures(10, covered_s=DAY_S / 2)]
    assert clean_air_medal(patchy) is True
    # … five are not: the days between count even without any data.
    assert clean_air_medal(clean_days(5) + [figures(10, covered_s=DAY_S / 2)]) is None
    assert clean_air_medal(clean_days(3) + [figures(10)]) is None


def test_one_judged_day_at_2000_ppm_costs_the_medal():
    assert clean_air_medal([*clean_days(19), figures(20, max_ppm=2000, above_s=60, excess=1)]) is False
    assert clean_air_medal([*clean_days(19), figures(20, max_ppm=1999, above_s=60, excess=1)]) is True


def test_a_bad_day_without_enough_data_does_not_count():
    bad = figures(20, max_ppm=3000, above_s=DAY_S / 4, excess=500, covered_s=DAY_S / 3)
    assert clean_air_medal([*clean_days(19), bad]) is True


def test_a_day_with_an_excess_score_of_150_ppm_is_red_and_costs_the_medal():
    red = figures(20, max_ppm=1900, above_s=DAY_S * 0.2, excess=150)
    assert traffic_light(red) == "red"
    assert clean_air_medal([*clean_days(19), red]) is False
    yellow = replace(red, excess_score=149.9)
    assert traffic_light(yellow) == "yellow"
    assert clean_air_medal([*clean_days(19), yellow]) is True


def test_a_day_above_1000_ppm_for_more_than_30_percent_of_its_measured_time_is_red():
    # Measured for 22 hours, above the reference for 6 h 36 min 1 s of them.
    red = figures(20, max_ppm=1100, above_s=0.3 * 79_200 + 1, excess=30, covered_s=79_200)
    assert traffic_light(red) == "red"
    assert clean_air_medal([*clean_days(19), red]) is False
    assert traffic_light(replace(red, above_clean_s=0.3 * 79_200)) == "yellow"


def test_a_day_with_any_time_above_1000_ppm_is_yellow_and_a_day_without_is_green():
    assert traffic_light(figures(above_s=60, excess=0.1, max_ppm=1001)) == "yellow"
    assert traffic_light(figures()) == "green"


def test_yellow_days_cost_the_medal_from_30_percent_of_the_judged_days():
    def month(yellow_count):
        return [
            figures(day, above_s=600, excess=2, max_ppm=1200) if day <= yellow_count else figures(day)
            for day in range(1, 11)
        ]

    assert clean_air_medal(month(2)) is True
    assert clean_air_medal(month(3)) is False


def test_a_day_has_enough_data_from_90_percent_of_its_own_length():
    assert figures(covered_s=0.9 * DAY_S).enough_data
    assert not figures(covered_s=0.9 * DAY_S - 1).enough_data


# --- Months ----------------------------------------------------------------------------------


def test_a_month_runs_from_local_midnight_to_local_midnight():
    start, end = Month(2024, 3).bounds(BERLIN)
    assert start == datetime(2024, 2, 29, 23, tzinfo=UTC)
    assert end == datetime(2024, 3, 31, 22, tzinfo=UTC)  # summer time began on the 31st
    assert Month(2024, 12).bounds(BERLIN)[1] == datetime(2024, 12, 31, 23, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    ["2024-13", "2024-00", "abcd", "2024-1", "24-01", "2024/01", "2024-011", "２０２４-01", "1969-12", "9999-01", ""],
)
def test_malformed_months_are_refused(text):
    with pytest.raises(airquality.MonthError):
        parse_month(text)


def test_well_formed_months_are_read():
    assert parse_month("2024-03") == Month(2024, 3)
    assert parse_month("2024-03").label == "2024-03"


def test_the_current_month_is_the_local_one():
    # 23:30 UTC on 31 March is already 1 April in Berlin.
    assert airquality.month_of(datetime(2024, 3, 31, 23, 30, tzinfo=UTC), BERLIN) == Month(2024, 4)


# --- Daily figures from samples --------------------------------------------------------------


def local(*args) -> datetime:
    return datetime(*args, tzinfo=BERLIN).astimezone(UTC)


def seed(node, start: datetime, values, step: timedelta = MINUTE) -> None:
    Sample.objects.bulk_create(
        Sample(node=node, timestamp=start + index * step, co2_ppm=value) for index, value in enumerate(values)
    )


def march(room, user, **kwargs):
    return room_air_quality(room, Month(2024, 3), user=user, **kwargs)


@pytest.fixture
def room_with_node(installation, owner):
    """The fixture installation (open-ended since 2024-01-01) and its owner."""
    return installation.room, installation.node, owner


def test_minutes_above_the_thresholds_count_time(room_with_node):
    room, node, owner = room_with_node
    seed(node, local(2024, 3, 5, 8), [1500] * 60 + [2100] * 30 + [700] * 60)
    (day,) = march(room, owner).days
    assert day.date == date(2024, 3, 5)
    assert day.sample_count == 150
    assert day.above_clean_s == day.above_moderate_s == 90 * 60
    assert day.above_bad_s == 30 * 60
    assert day.co2_ppm_max == 2100
    # The last reading stands for ten minutes: 149 one-minute holds plus 10.
    assert day.covered_s == (149 + 10) * 60
    assert day.co2_ppm_mean == pytest.approx((60 * 1500 + 30 * 2100 + 59 * 700 + 10 * 700) / 159)


def test_readings_every_five_minutes_stand_for_five_minutes_each(room_with_node):
    room, node, owner = room_with_node
    seed(node, local(2024, 3, 5, 8), [1200] * 12 + [600], step=timedelta(minutes=5))
    (day,) = march(room, owner).days
    assert day.above_clean_s == 60 * 60
    assert day.sample_count == 13


def test_a_reading_before_a_gap_stands_for_ten_minutes_at_most(room_with_node):
    room, node, owner = room_with_node
    seed(node, local(2024, 3, 5, 8), [1100] * 60)
    seed(node, local(2024, 3, 5, 11), [600] * 60)
    (day,) = march(room, owner).days
    assert day.above_clean_s == (59 + 10) * 60
    assert day.covered_s == 2 * (59 + 10) * 60


def test_samples_within_one_minute_count_once_in_time_and_each_as_a_sample(room_with_node):
    room, node, owner = room_with_node
    seed(node, local(2024, 3, 5, 8), [1100, 1300, 700], step=timedelta(seconds=20))
    seed(node, local(2024, 3, 5, 8, 1), [700])
    (day,) = march(room, owner).days
    assert day.sample_count == 4
    assert day.above_clean_s == 60  # the minute's highest reading, for its minute
    assert day.co2_ppm_max == 1300


def test_a_day_with_little_data_is_marked_and_gives_no_medal(room_with_node):
    room, node, owner = room_with_node
    seed(node, local(2024, 3, 5, 8), [600] * 600)
    quality = march(room, owner)
    (day,) = quality.days
    assert not day.enough_data
    assert quality.clean_air_medal is None


def test_a_fully_measured_clean_month_earns_the_medal(room_with_node):
    room, node, owner = room_with_node
    seed(node, local(2024, 3, 4), [650] * 3 * 1440)  # Monday to Wednesday
    quality = march(room, owner)
    assert [day.date.day for day in quality.days] == [4, 5, 6]
    assert all(day.enough_data for day in quality.days)
    assert quality.days[0].covered_s == DAY_S
    assert quality.clean_air_medal is True


def test_readings_belong_to_their_local_day_and_stop_at_its_end(room_with_node):
    room, node, owner = room_with_node
    seed(node, datetime(2024, 3, 4, 22, 55, tzinfo=UTC), [900])  # 23:55 on the 4th in Berlin
    seed(node, datetime(2024, 3, 4, 23, 30, tzinfo=UTC), [900])  # 00:30 on the 5th
    first, second = march(room, owner).days
    assert (first.date, second.date) == (date(2024, 3, 4), date(2024, 3, 5))
    assert first.covered_s == 5 * 60  # until local midnight, not ten minutes


def test_the_day_summer_time_begins_has_23_hours(room_with_node):
    room, node, owner = room_with_node
    seed(node, local(2024, 3, 31), [700] * 23 * 60)
    (day,) = march(room, owner).days
    assert (day.date, day.covered_s, day.length_s) == (date(2024, 3, 31), 23 * 3600, 23 * 3600)
    assert day.enough_data


def test_the_day_summer_time_ends_has_25_hours_and_needs_90_percent_of_them(room_with_node):
    room, node, owner = room_with_node
    # 1340 readings a minute apart stand for 22 h 29 min: under 90 % of 25 hours, over 90 % of 24.
    seed(node, local(2024, 10, 27), [700] * 1340)
    seed(node, local(2024, 10, 28), [700] * 1340)
    longer, ordinary = room_air_quality(room, Month(2024, 10), user=owner).days
    assert longer.length_s == 25 * 3600 and not longer.enough_data
    assert ordinary.length_s == 24 * 3600 and ordinary.enough_data


def test_only_samples_within_the_installation_count(room_with_node, organization):
    room, node, owner = room_with_node
    other_room = make_room(site=room.site, name="Flur")
    elsewhere = make_node(owner=organization)
    make_installation(elsewhere, other_room, from_time=local(2024, 3, 1))
    seed(elsewhere, local(2024, 3, 5, 8), [1500] * 60)
    # The fixture node came to this room on 1 January; move its start into March.
    node.installations.update(from_time=local(2024, 3, 5, 9), to_time=local(2024, 3, 5, 10))
    seed(node, local(2024, 3, 5, 8), [1500] * 180)
    (day,) = march(room, owner).days
    assert day.sample_count == 60
    # The last reading stops at the installation's end.
    assert day.covered_s == 3600


def test_several_nodes_in_a_room_at_once_count_as_its_worst_corner(room_with_node, organization):
    room, node, owner = room_with_node
    second = make_node(owner=organization)
    make_installation(second, room, from_time=local(2024, 3, 1))
    seed(node, local(2024, 3, 5, 8), [800] * 60)
    seed(second, local(2024, 3, 5, 8, 0, 30), [1200] * 60)
    (day,) = march(room, owner).days
    assert day.sample_count == 120
    assert day.covered_s == (59 + 10) * 60  # not counted twice
    assert day.above_clean_s == day.covered_s
    assert day.co2_ppm_mean == pytest.approx(1200)


def test_private_installations_do_not_reach_anonymous_callers(room_with_node, organization):
    room, node, owner = room_with_node
    node.installations.update(to_time=local(2024, 3, 10))
    public = make_node(owner=organization)
    make_installation(public, room, from_time=local(2024, 3, 10), is_public=True)
    seed(node, local(2024, 3, 5, 8), [1500] * 60)
    seed(public, local(2024, 3, 12, 8), [600] * 60)
    assert [day.date.day for day in march(room, AnonymousUser()).days] == [12]
    assert [day.date.day for day in march(room, owner).days] == [5, 12]


def test_an_empty_month_has_no_days_no_medal_and_an_empty_histogram(room_with_node):
    room, node, owner = room_with_node
    seed(node, local(2024, 4, 1, 8), [1500] * 60)
    quality = march(room, owner, with_histogram=True)
    assert quality.days == []
    assert quality.clean_air_medal is None
    assert quality.histogram == {weekday: [None] * 24 for weekday in airquality.WEEKDAYS}


def test_a_room_without_installations_has_an_empty_month(room, owner):
    quality = march(room, owner, with_histogram=True)
    assert quality.days == [] and quality.clean_air_medal is None


# --- The histogram ----------------------------------------------------------------------------


def test_the_histogram_is_keyed_by_local_weekday_and_hour(room_with_node):
    room, node, owner = room_with_node
    seed(node, datetime(2024, 3, 4, 7, 30, tzinfo=UTC), [1000, 1200])  # Monday 08:30 winter time
    seed(node, datetime(2024, 3, 10, 22, 59, tzinfo=UTC), [500])  # Sunday 23:59
    histogram = march(room, owner, with_histogram=True).histogram
    assert list(histogram) == ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"]
    assert all(len(hours) == 24 for hours in histogram.values())
    # Weighted by time: 1000 for a minute, 1200 for ten.
    assert histogram["Mo"][8] == pytest.approx((1000 + 1200 * 10) / 11)
    assert histogram["Su"][23] == 500
    assert sum(value is not None for hours in histogram.values() for value in hours) == 2


def test_the_histogram_follows_summer_time(room_with_node):
    room, node, owner = room_with_node
    seed(node, datetime(2024, 7, 1, 6, 30, tzinfo=UTC), [900])  # Monday 08:30 summer time
    histogram = room_air_quality(room, Month(2024, 7), user=owner, with_histogram=True).histogram
    assert histogram["Mo"][8] == 900
    assert histogram["Mo"][6] is None


def test_without_asking_there_is_no_histogram(room_with_node):
    room, node, owner = room_with_node
    seed(node, local(2024, 3, 5, 8), [900])
    assert march(room, owner).histogram is None


# --- The path for other databases --------------------------------------------------------------


def test_other_databases_get_the_same_figures(room_with_node, organization):
    if connection.vendor != "postgresql":
        pytest.skip("compares with the PostgreSQL statement")
    room, node, owner = room_with_node
    second = make_node(owner=organization)
    make_installation(second, room, from_time=local(2024, 10, 20, 12))
    chance = random.Random(4)
    for sensor, start in ((node, local(2024, 10, 25)), (second, local(2024, 10, 26, 7, 0, 17))):
        moments, moment = [], start
        while moment < local(2024, 10, 29):
            moments.append(moment)
            # Mostly a minute apart, sometimes seconds, sometimes an outage.
            moment += timedelta(seconds=chance.choice([60] * 20 + [20, 95, 300, 1800, 7200]))
        Sample.objects.bulk_create(
            Sample(node=sensor, timestamp=at, co2_ppm=chance.randint(400, 2600)) for at in moments
        )
    start, end = Month(2024, 10).bounds(BERLIN)
    spans = airquality.room_spans(room, owner, start, end)
    days, hours = airquality._figures_in_postgresql(spans, BERLIN, connection)
    same_days, same_hours = airquality._figures_in_python(spans, BERLIN, connection)
    assert [day for day, *_ in days] == [date(2024, 10, day) for day in (25, 26, 27, 28)]
    for (day, *figures), (same_day, *same_figures) in zip(days, same_days, strict=True):
        assert day == same_day
        assert figures == pytest.approx(same_figures)
    assert [key for *key, _, _ in hours] == [key for *key, _, _ in same_hours]
    assert [figure for row in hours for figure in row[2:]] == pytest.approx(
        [figure for row in same_hours for figure in row[2:]]
    )
