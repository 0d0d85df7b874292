"""Hourly summaries on a real PostgreSQL: triggers mark the hours whose samples
change stale, the refresh recomputes ended hours, and 1-hour buckets read
fresh summaries without ever answering differently from the samples."""

import random
import threading
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.db.models import F, Value

from core import hourly, timeseries
from core.hourly import EARLIEST, LATEST, SampleCount
from core.models import HourlySummary, Node, Sample, SummaryHorizon
from core.tests.factories import make_node
from core.tests.test_timeseries import BERLIN, EVERYTHING, NEW_YORK, buckets, s, seed, seed_every
from core.timeseries import Bucketing, Window, bucket_rows

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="only PostgreSQL keeps summaries")

KATHMANDU = ZoneInfo("Asia/Kathmandu")
UTC_HOURS = Bucketing("1h", ZoneInfo("UTC"))
HOUR = datetime(2024, 3, 5, 10, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def summaries(node) -> dict[datetime, bool]:
    """The node's summary rows: hour -> stale."""
    return dict(HourlySummary.objects.filter(node=node).values_list("hour", "stale"))


def counts(node, tz=BERLIN, window: Window = EVERYTHING) -> dict[int, int]:
    """Sample count by start of the node's 1-hour buckets."""
    return {bucket["bucket_start_s"]: bucket["count"] for bucket in buckets(node, "1h", tz, window)}


def computed_from_samples(node, window: Window, bucketing: Bucketing) -> list[tuple]:
    """The buckets as the Python path computes them, one sample at a time."""
    rows = (
        Sample.objects.filter(node=node, timestamp__gte=window.start, timestamp__lt=window.end)
        .order_by("timestamp")
        .values_list(timeseries.UnixSeconds("timestamp"), "co2_ppm", "temperature_celsius", "rel_humidity_percent")
    )
    return list(timeseries.aggregate(rows.iterator(), bucketing))


class Worker(threading.Thread):
    """Runs ``work`` on a database connection of its own; ``finish`` returns
    its result or raises its failure."""

    def __init__(self, work):
        super().__init__(daemon=True)
        self.work, self.result, self.failure = work, None, None
        self.start()

    def run(self):
        try:
            self.result = self.work()
        except BaseException as exc:  # noqa: B036 - raised again in finish()
            self.failure = exc
        finally:
            connection.close()

    def finish(self):
        self.join(timeout=30)
        assert not self.is_alive(), "a thread hung"
        if self.failure is not None:
            raise self.failure
        return self.result


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def wait_until_blocked_by_us(pid: int) -> None:
    """Until the backend ``pid`` waits for a lock this connection holds.
    pg_blocking_pids reads the lock manager, not a snapshot, so it is current
    also inside a transaction."""
    deadline = time.monotonic() + 30
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT pg_backend_pid() = ANY(pg_blocking_pids(%s))", [pid])
            if cursor.fetchone()[0]:
                return
    raise AssertionError(f"backend {pid} never waited for our lock")


# --- Marking hours stale -----------------------------------------------------------------


@pytest.mark.django_db
def test_inserted_samples_mark_exactly_their_utc_hours_stale(node, organization):
    other = make_node(owner=organization)
    repeated_hour = datetime(2024, 10, 27, 2, 30, tzinfo=BERLIN)  # 00:30 UTC, then again at 01:30 UTC
    seed(
        node,
        (HOUR, 600),
        (HOUR + timedelta(minutes=59, seconds=59), 600),
        (HOUR + timedelta(hours=2), 600),
        (repeated_hour.astimezone(UTC), 600),
        (repeated_hour.replace(fold=1).astimezone(UTC), 600),
    )
    seed(other, (HOUR + timedelta(hours=1, minutes=30), 600))
    assert summaries(node) == {
        HOUR: True,
        HOUR + timedelta(hours=2): True,
        datetime(2024, 10, 27, 0, tzinfo=UTC): True,
        datetime(2024, 10, 27, 1, tzinfo=UTC): True,
    }
    assert summaries(other) == {HOUR + timedelta(hours=1): True}


# --- Refreshing ---------------------------------------------------------------------------


def seed_randomly(node, chance: random.Random) -> None:
    """Samples every half minute to a few minutes, with outages of up to a
    day, over both of Berlin's clock changes of 2024 and New York's autumn
    one; some without temperature or humidity, and one hour with neither."""
    samples = []
    for first, last in [("2024-03-29", "2024-04-02"), ("2024-10-25", "2024-10-29"), ("2024-11-02", "2024-11-04")]:
        moment = datetime.fromisoformat(first).replace(tzinfo=UTC)
        while moment < datetime.fromisoformat(last).replace(tzinfo=UTC):
            # Quarter degrees and half percents: exact in 4-byte reals, so
            # that the Python path adds up the same numbers.
            temperature = None if chance.random() < 0.15 else chance.randrange(60, 100) / 4
            humidity = None if chance.random() < 0.15 else chance.randrange(40, 140) / 2
            samples.append((moment, chance.randrange(400, 3000), temperature, humidity))
            if chance.random() < 0.998:
                moment += timedelta(seconds=chance.randrange(30, 400))
            else:
                moment += timedelta(hours=chance.randrange(1, 24), seconds=chance.randrange(3600))
    bare = datetime(2024, 11, 5, 8, tzinfo=UTC)
    samples += [(bare + timedelta(minutes=m), 500 + m) for m in (3, 17, 44)]
    seed(node, *samples)


@pytest.mark.django_db
@pytest.mark.parametrize("tz", [BERLIN, NEW_YORK, KATHMANDU], ids=str)
def test_refreshing_changes_no_hourly_bucket(node, organization, tz):
    other = make_node(owner=organization)
    seed_randomly(node, random.Random(1))
    seed_randomly(other, random.Random(2))
    bucketing = Bucketing("1h", tz)
    cut = Window(datetime(2024, 3, 30, 10, 17, 23, tzinfo=UTC), datetime(2024, 10, 27, 1, 41, 9, tzinfo=UTC))
    expected = {window: computed_from_samples(node, window, bucketing) for window in (EVERYTHING, cut)}
    assert len(expected[EVERYTHING]) > 150
    # Both UTC hours of the night Berlin's 02:00 to 03:00 comes twice.
    assert {datetime(2024, 10, 27, 0, tzinfo=UTC), datetime(2024, 10, 27, 1, tzinfo=UTC)} <= set(summaries(node))

    def assert_unchanged():
        for window, rows in expected.items():
            assert bucket_rows(node.pk, window, bucketing) == rows
            assert list(timeseries.iter_bucket_rows(node.pk, window, bucketing)) == rows  # CSV exports

    assert_unchanged()
    # Half fresh, half stale: the night of Berlin's autumn clock change is cut.
    hourly.refresh(now=datetime(2024, 10, 27, 0, 30, tzinfo=UTC))
    assert HourlySummary.objects.filter(node=node, stale=False).exists()
    assert HourlySummary.objects.filter(node=node, stale=True).exists()
    assert_unchanged()
    hourly.refresh()
    assert not HourlySummary.objects.filter(stale=True).exists()
    assert HourlySummary.objects.filter(node=node).count() == len(computed_from_samples(node, EVERYTHING, UTC_HOURS))
    assert_unchanged()


@pytest.mark.django_db
def test_the_current_hour_is_not_refreshed(node):
    seed_every(node, HOUR, HOUR + timedelta(hours=3), timedelta(minutes=10))
    assert hourly.refresh(now=HOUR + timedelta(hours=1, minutes=30)) == 1
    assert summaries(node) == {HOUR: False, HOUR + timedelta(hours=1): True, HOUR + timedelta(hours=2): True}
    assert counts(node) == {s(HOUR): 6, s(HOUR) + 3600: 6, s(HOUR) + 7200: 6}


# --- Reading ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_hourly_buckets_in_whole_hour_zones_read_fresh_summaries(node):
    # 16:05 and 16:10 in Kathmandu: one of its hours too.
    seed(node, (HOUR + timedelta(minutes=20), 600), (HOUR + timedelta(minutes=25), 800))
    hourly.refresh()
    # Only a read of the summary can see this figure: no sample holds it.
    HourlySummary.objects.filter(node=node, hour=HOUR).update(co2_ppm_max=39_999)
    maxima = {
        zone: [bucket["co2_ppm_max"] for bucket in buckets(node, "1h", ZoneInfo(zone))]
        for zone in ("Europe/Berlin", "UTC", "America/New_York", "Asia/Kathmandu")
    }
    assert maxima == {"Europe/Berlin": [39_999], "UTC": [39_999], "America/New_York": [39_999], "Asia/Kathmandu": [800]}
    assert [bucket["co2_ppm_max"] for bucket in buckets(node, "1d")] == [800]


@pytest.mark.django_db
def test_a_stale_summary_is_not_read(node):
    seed(node, (HOUR + timedelta(minutes=20), 600), (HOUR + timedelta(minutes=25), 800))
    hourly.refresh()
    HourlySummary.objects.filter(node=node, hour=HOUR).update(co2_ppm_max=39_999, stale=True)
    assert [bucket["co2_ppm_max"] for bucket in buckets(node, "1h")] == [800]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "start, end, expected",
    [
        # 10:20 to 12:40: the edge hours count only their minutes inside.
        ((10, 20), (12, 40), {0: 4, 1: 6, 2: 4}),
        # Within one hour.
        ((11, 20), (11, 40), {1: 2}),
        # From a full hour into the next one, and from inside one to a full hour.
        ((10, 0), (11, 40), {0: 6, 1: 4}),
        ((10, 20), (12, 0), {0: 4, 1: 6}),
    ],
)
def test_windows_cutting_hours_count_only_the_samples_inside(node, start, end, expected):
    seed_every(node, HOUR, HOUR + timedelta(hours=3), timedelta(minutes=10))
    hourly.refresh()
    window = Window(HOUR.replace(hour=start[0], minute=start[1]), HOUR.replace(hour=end[0], minute=end[1]))
    expected_counts = {s(HOUR) + 3600 * hour: count for hour, count in expected.items()}
    assert counts(node, window=window) == expected_counts
    # The same moments given in a zone whose offset is not whole hours.
    in_kathmandu = Window(window.start.astimezone(KATHMANDU), window.end.astimezone(KATHMANDU))
    assert counts(node, window=in_kathmandu) == expected_counts


@pytest.mark.parametrize(
    "zone, whole",
    [
        ("Europe/Berlin", True),
        ("UTC", True),
        ("America/New_York", True),
        ("Asia/Kathmandu", False),  # +5:45
        ("Asia/Kolkata", False),  # +5:30
        ("Australia/Lord_Howe", False),  # +10:30, and +11 in summer
    ],
)
def test_only_zones_always_offset_by_whole_hours_read_summaries(zone, whole):
    assert hourly.whole_hour_zone(zone) is whole


# --- Changes after a refresh --------------------------------------------------------------


@pytest.mark.django_db
def test_a_late_sample_counts_at_once_and_after_the_next_refresh(node):
    seed(node, (HOUR + 5 * MINUTE, 600), (HOUR + 10 * MINUTE, 700))
    hourly.refresh()
    assert summaries(node) == {HOUR: False}
    seed(node, (HOUR + 50 * MINUTE, 1500))
    assert summaries(node) == {HOUR: True}
    (bucket,) = buckets(node, "1h")
    assert (bucket["count"], bucket["co2_ppm_max"]) == (3, 1500)
    hourly.refresh()
    assert summaries(node) == {HOUR: False}
    assert buckets(node, "1h") == [bucket]


@pytest.mark.django_db
def test_deleted_samples_drop_out_at_once_and_an_emptied_hour_goes(node):
    later = HOUR + timedelta(hours=1)
    seed(node, (HOUR, 600), (HOUR + MINUTE, 700), (HOUR + 2 * MINUTE, 800), (later, 600), (later + MINUTE, 600))
    hourly.refresh()
    Sample.objects.filter(node=node, timestamp=HOUR + 2 * MINUTE).delete()
    assert [(b["count"], b["co2_ppm_max"]) for b in buckets(node, "1h")] == [(2, 700), (2, 600)]
    Sample.objects.filter(node=node, timestamp__gte=later).delete()
    assert counts(node) == {s(HOUR): 2}
    assert summaries(node) == {HOUR: True, later: True}
    hourly.refresh()
    assert summaries(node) == {HOUR: False}
    assert counts(node) == {s(HOUR): 2}


@pytest.mark.django_db
def test_a_sample_moved_to_another_hour_moves_between_buckets_at_once(node):
    second, third = HOUR + timedelta(hours=1), HOUR + timedelta(hours=2)
    seed(node, (HOUR + 5 * MINUTE, 600), (HOUR + 10 * MINUTE, 700), (second, 800))
    hourly.refresh()
    moved = Sample.objects.get(node=node, timestamp=HOUR + 5 * MINUTE)
    moved.timestamp = second + 30 * MINUTE
    moved.save()
    assert counts(node) == {s(HOUR): 1, s(second): 2}
    # Into an hour that had no samples yet.
    Sample.objects.filter(pk=moved.pk).update(timestamp=third + MINUTE)
    assert counts(node) == {s(HOUR): 1, s(second): 1, s(third): 1}
    assert summaries(node) == {HOUR: True, second: True, third: True}
    hourly.refresh()
    assert summaries(node) == {HOUR: False, second: False, third: False}
    assert counts(node) == {s(HOUR): 1, s(second): 1, s(third): 1}


@pytest.mark.django_db(transaction=True)
def test_truncating_the_samples_leaves_no_summaries(node):
    seed(node, (HOUR, 600))
    hourly.refresh()
    seed(node, (HOUR + timedelta(hours=1), 600))
    # Committed: PostgreSQL refuses to truncate with foreign-key checks pending.
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Sample._meta.db_table}")
    assert not HourlySummary.objects.exists()
    assert buckets(node, "1h") == []


def _delete_as_django_does(node):
    node.delete()


def _delete_summaries_first(node):
    # An order a database cascade or a later Django may pick: samples deleted
    # after the summaries must not re-create them for the deleted node.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Node._meta.db_table} WHERE id = %s", [node.pk])
        HourlySummary.objects.filter(node=node).delete()
        Sample.objects.filter(node=node).delete()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("delete", [_delete_as_django_does, _delete_summaries_first], ids=["django", "summaries_first"])
def test_deleting_a_node_deletes_its_summaries(node, organization, delete):
    other = make_node(owner=organization)
    seed(node, (HOUR, 600), (HOUR + timedelta(hours=1), 700))
    seed(other, (HOUR, 600))
    hourly.refresh()
    seed(node, (HOUR + timedelta(hours=2), 800))  # and one hour still stale
    # Committed, so the deferred foreign-key checks run.
    delete(node)
    assert not Node.objects.filter(pk=node.pk).exists()
    assert set(HourlySummary.objects.values_list("node_id", flat=True)) == {other.pk}


# --- Racing the refresh -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_uncommitted_sample_holds_up_no_refresh_and_counts_once_committed(node):
    later = HOUR + timedelta(hours=2)
    seed(node, (HOUR, 600), (later, 600))
    hourly.advance_horizon()  # else the running writer would hold the horizon back, and nothing is refreshed
    inserted, commit = threading.Event(), threading.Event()

    def insert_and_hold():
        with transaction.atomic():
            seed(node, (HOUR + 30 * MINUTE, 900))
            inserted.set()
            commit.wait(timeout=30)

    writer = Worker(insert_and_hold)
    try:
        assert inserted.wait(timeout=30)
        # The writer holds the hour's row: the refresh passes it by.
        assert hourly.refresh() == 1
        assert summaries(node) == {HOUR: True, later: False}
        assert counts(node) == {s(HOUR): 1, s(later): 1}
    finally:
        commit.set()
        writer.finish()
    assert counts(node) == {s(HOUR): 2, s(later): 1}
    assert hourly.refresh() == 1
    assert summaries(node) == {HOUR: False, later: False}
    assert counts(node) == {s(HOUR): 2, s(later): 1}


def _insert(node):
    seed(node, (HOUR + 30 * MINUTE, 900))


def _delete(node):
    Sample.objects.filter(node=node, timestamp=HOUR).delete()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("change, expected_count", [(_insert, 3), (_delete, 1)], ids=["insert", "delete"])
def test_a_change_racing_the_refresh_of_its_hour_leaves_the_hour_stale(node, change, expected_count):
    seed(node, (HOUR, 600), (HOUR + 10 * MINUTE, 700))
    ready, go = threading.Event(), threading.Event()
    writer_pid = []

    def write():
        writer_pid.append(backend_pid())
        ready.set()
        assert go.wait(timeout=30)
        change(node)  # waits for the refresh's lock on the hour, in the trigger

    def pause_after_locking(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if "SKIP LOCKED" in sql and not go.is_set():
            go.set()
            # The refresh holds the hour's row and has not recomputed it yet.
            wait_until_blocked_by_us(writer_pid[0])
        return result

    writer = Worker(write)
    try:
        assert ready.wait(timeout=30)
        with connection.execute_wrapper(pause_after_locking):
            assert hourly.refresh() == 1
    finally:
        go.set()
        writer.finish()
    # The refresh committed figures without the change; the change, let in
    # after it, marked them stale again.
    assert summaries(node) == {HOUR: True}
    assert counts(node) == {s(HOUR): expected_count}
    hourly.refresh()
    assert summaries(node) == {HOUR: False}
    assert counts(node) == {s(HOUR): expected_count}


# --- Counting ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_sample_counts_of_lists_add_up_summaries_stale_hours_and_edges(node):
    seed_every(node, HOUR, HOUR + timedelta(hours=5), MINUTE)
    hourly.refresh()
    seed(node, (HOUR + timedelta(hours=2, seconds=30), 700))  # a late sample: its hour is stale again

    def count(since, until) -> int:
        return Node.objects.filter(pk=node.pk).annotate(n=SampleCount(F("pk"), Value(since), Value(until))).get().n

    assert count(EARLIEST, LATEST) == 5 * 60 + 1
    assert count(HOUR + timedelta(minutes=30), HOUR + timedelta(hours=3, minutes=10)) == 30 + 2 * 60 + 1 + 10
    assert count(HOUR + timedelta(minutes=10), HOUR + timedelta(minutes=20)) == 10
    assert count(HOUR + timedelta(hours=9), LATEST) == 0


# --- The horizon ---------------------------------------------------------------------------


def _horizon() -> datetime | None:
    return SummaryHorizon.objects.values_list("complete_before", flat=True).first()


def _without_insert_trigger(node, *samples) -> None:
    """Store samples as those of the current hour are stored: without a summary row."""
    seed(node, *samples)
    HourlySummary.objects.filter(node=node).delete()


@pytest.mark.django_db
def test_a_sample_of_the_current_hour_sets_off_no_trigger_yet_counts_at_once(node):
    now = datetime.now(UTC).replace(microsecond=0)
    seed(node, (now, 777))
    assert summaries(node) == {}
    window = Window(now - timedelta(hours=3), now + timedelta(seconds=1))
    assert [bucket["co2_ppm_max"] for bucket in buckets(node, "1h", ZoneInfo("UTC"), window)] == [777]
    count = Node.objects.annotate(n=SampleCount(F("pk"), Value(EARLIEST), Value(LATEST))).get(pk=node.pk).n
    assert count == 1


@pytest.mark.django_db
def test_moving_the_horizon_adds_the_rows_of_hours_passed(node):
    SummaryHorizon.objects.update_or_create(id=1, defaults={"complete_before": HOUR})
    _without_insert_trigger(node, (HOUR + 5 * MINUTE, 500), (HOUR + 65 * MINUTE, 600))
    before = counts(node, ZoneInfo("UTC"))
    assert before == {s(HOUR): 1, s(HOUR) + 3600: 1}  # past the horizon: from samples

    hourly.refresh()
    assert _horizon() > HOUR + timedelta(hours=2)
    assert summaries(node) == {HOUR: False, HOUR + timedelta(hours=1): False}
    assert counts(node, ZoneInfo("UTC")) == before


@pytest.mark.django_db
def test_hours_past_the_horizon_are_never_recomputed(node, monkeypatch):
    seed(node, (HOUR, 500), (HOUR + timedelta(hours=2), 600))
    SummaryHorizon.objects.update_or_create(id=1, defaults={"complete_before": HOUR + timedelta(hours=1)})
    monkeypatch.setattr(hourly, "advance_horizon", lambda **kwargs: None)  # held back by a running transaction
    assert hourly.refresh() == 1
    assert summaries(node) == {HOUR: False, HOUR + timedelta(hours=2): True}


@pytest.mark.django_db(transaction=True)
def test_a_transaction_still_running_holds_the_horizon_back(node):
    SummaryHorizon.objects.update_or_create(id=1, defaults={"complete_before": HOUR})
    inserted, commit = threading.Event(), threading.Event()

    def insert_and_hold():
        with transaction.atomic():
            seed(node, (HOUR + timedelta(hours=5), 900))
            inserted.set()
            commit.wait(timeout=30)

    writer = Worker(insert_and_hold)
    try:
        assert inserted.wait(timeout=30)
        assert hourly.advance_horizon(wait_s=0.2) is None
        assert _horizon() == HOUR
    finally:
        commit.set()
        writer.finish()
    assert hourly.advance_horizon() > HOUR


@pytest.mark.django_db
def test_a_backlog_stored_in_one_transaction_marks_every_hour_it_touches(node):
    seed_every(node, HOUR, HOUR + timedelta(hours=3), MINUTE)
    hourly.refresh()
    with transaction.atomic():
        # Out of time order too: the trigger's memory of the hour it marked last must not hide the others.
        seed(node, (HOUR + 30 * MINUTE + timedelta(seconds=1), 901), (HOUR + 150 * MINUTE + timedelta(seconds=1), 902))
        seed(node, (HOUR + 31 * MINUTE + timedelta(seconds=1), 903))
    assert summaries(node) == {HOUR: True, HOUR + timedelta(hours=1): False, HOUR + timedelta(hours=2): True}
    hourly.refresh()
    assert counts(node, ZoneInfo("UTC")) == {s(HOUR): 62, s(HOUR) + 3600: 60, s(HOUR) + 7200: 61}


@pytest.mark.django_db
def test_the_horizon_moves_a_day_at_a_time_after_a_long_pause(node):
    ten_days_ago = hourly.floor_hour(datetime.now(UTC)) - timedelta(days=10)
    SummaryHorizon.objects.update_or_create(id=1, defaults={"complete_before": ten_days_ago})
    assert hourly.advance_horizon() == ten_days_ago + timedelta(days=1)
    hourly.refresh()  # catches up within its time budget
    assert _horizon() > datetime.now(UTC) - timedelta(hours=2)
