"""The samples table, range-partitioned by month (core.partitions, migration 0008)."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from core import partitions
from core.models import HourlySummary, Sample
from core.partitions import DEFAULT_PARTITION, Month
from core.tests.factories import make_node

pytestmark = pytest.mark.django_db

JANUARY, FEBRUARY, MARCH = (Month(datetime(2025, month, 1, tzinfo=UTC)) for month in (1, 2, 3))


def add_samples(node, *moments: datetime) -> list[Sample]:
    return Sample.objects.bulk_create(Sample(node=node, timestamp=moment, co2_ppm=600) for moment in moments)


def rows_in(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        return cursor.fetchone()[0]


def partitions_read_by(queryset) -> set[str]:
    return set(re.findall(r" on (core_sample_\w+)", queryset.explain()))


# --- Months, pure ---------------------------------------------------------------


def test_a_month_runs_from_its_first_moment_to_the_next_months_in_utc():
    month = Month.of(datetime(2031, 12, 31, 23, 30, tzinfo=UTC) + timedelta(hours=1))
    assert (month.start, month.end) == (datetime(2032, 1, 1, tzinfo=UTC), datetime(2032, 2, 1, tzinfo=UTC))
    assert month.partition == "core_sample_2032_01"
    assert Month.of(datetime(2031, 12, 31, 23, 30, tzinfo=UTC)).end == month.start


def test_the_wanted_months_are_this_one_and_three_ahead_across_a_year_end():
    wanted = partitions.wanted(datetime(2031, 11, 20, tzinfo=UTC))
    assert [str(month) for month in wanted] == ["2031-11", "2031-12", "2032-01", "2032-02"]


# --- Partitions -------------------------------------------------------------------


def test_the_migrated_table_is_partitioned_with_this_month_and_three_ahead_ready():
    assert partitions.is_partitioned()
    assert set(partitions.wanted(datetime.now(UTC))) <= set(partitions.existing())


def test_preparing_creates_the_missing_months_once():
    assert partitions.prepare(now=datetime(2031, 1, 10, tzinfo=UTC)) == [
        "core_sample_2031_01", "core_sample_2031_02", "core_sample_2031_03", "core_sample_2031_04",
    ]  # fmt: skip
    assert partitions.prepare(now=datetime(2031, 2, 10, tzinfo=UTC)) == ["core_sample_2031_05"]
    assert partitions.prepare(now=datetime(2031, 2, 11, tzinfo=UTC)) == []


def test_a_window_query_reads_only_the_partitions_of_its_months():
    node = make_node()
    for month in (JANUARY, FEBRUARY, MARCH):
        partitions.create(month)
        add_samples(node, month.start + timedelta(days=3))

    february = Sample.objects.filter(node=node, timestamp__gte=FEBRUARY.start, timestamp__lt=FEBRUARY.end)
    spanning = Sample.objects.filter(
        node=node, timestamp__gte=JANUARY.end - timedelta(days=1), timestamp__lt=MARCH.start
    )

    assert partitions_read_by(february) == {"core_sample_2025_02"}
    assert partitions_read_by(spanning) == {"core_sample_2025_01", "core_sample_2025_02"}
    assert february.count() == 1


def test_a_window_in_a_prepared_statement_is_pruned_when_it_runs():
    # Ingest and the API run prepared statements: their generic plans prune at execution.
    node = make_node()
    for month in (JANUARY, FEBRUARY, MARCH):
        partitions.create(month)
        add_samples(node, month.start + timedelta(days=3))
    with connection.cursor() as cursor:
        cursor.execute(
            'PREPARE window_of(uuid, timestamptz, timestamptz) AS SELECT count(*) FROM core_sample '
            'WHERE node_id = $1 AND "timestamp" >= $2 AND "timestamp" < $3'
        )
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE window_of(%s, %s, %s)",
            [node.pk, FEBRUARY.start, FEBRUARY.end],
        )
        plan = "\n".join(line for (line,) in cursor.fetchall())
        cursor.execute("DEALLOCATE window_of")
    assert "Subplans Removed" in plan
    assert set(re.findall(r" on (core_sample_\w+)", plan)) == {"core_sample_2025_02"}


def test_samples_of_a_month_without_a_partition_are_kept_in_the_default_one_and_move_when_it_comes():
    node = make_node()
    late = datetime(2025, 1, 5, 10, 15, tzinfo=UTC)
    stored = add_samples(node, late, late + timedelta(minutes=1), datetime(2025, 2, 1, tzinfo=UTC))
    summaries_before = list(HourlySummary.objects.filter(node=node).values_list("hour", "stale"))
    assert rows_in(DEFAULT_PARTITION) == 3

    partitions.create(JANUARY)

    assert rows_in("core_sample_2025_01") == 2
    assert rows_in(DEFAULT_PARTITION) == 1
    assert sorted(Sample.objects.filter(node=node).values_list("pk", flat=True)) == sorted(s.pk for s in stored)
    # Moving rows is not a change of samples: no summary is marked or made.
    assert list(HourlySummary.objects.filter(node=node).values_list("hour", "stale")) == summaries_before


def test_a_sample_stored_twice_is_refused_in_a_month_partition_as_in_the_default_one():
    node = make_node()
    partitions.create(JANUARY)
    for moment in (JANUARY.start + timedelta(hours=1), datetime(2040, 1, 1, tzinfo=UTC)):
        add_samples(node, moment)
        with pytest.raises(IntegrityError), transaction.atomic():
            add_samples(node, moment)


def test_dropping_a_month_removes_its_samples_and_summaries_and_nothing_else():
    node = make_node()
    partitions.create(JANUARY)
    partitions.create(FEBRUARY)
    add_samples(node, JANUARY.start + timedelta(hours=5), FEBRUARY.start + timedelta(hours=5))
    with connection.cursor() as cursor:
        # A drop waits for no deferred check; in a test, the inserts share its transaction.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert HourlySummary.objects.filter(node=node).count() == 2

    partitions.drop(JANUARY)

    assert list(Sample.objects.filter(node=node).values_list("timestamp", flat=True)) == [
        FEBRUARY.start + timedelta(hours=5)
    ]
    assert list(HourlySummary.objects.filter(node=node).values_list("hour", flat=True)) == [
        FEBRUARY.start + timedelta(hours=5)
    ]
    assert JANUARY not in partitions.existing()


# --- The migration from an unpartitioned table ----------------------------------------


@pytest.fixture
def partitions_restored(transactional_db):
    """Partitions created by a test that commits outlive it: drop them again."""
    before = set(partitions.existing())
    yield
    for month in set(partitions.existing()) - before:
        partitions.drop(month)


@pytest.mark.usefixtures("partitions_restored")
def test_the_migration_partitions_an_existing_table_keeping_every_sample_and_rule():
    executor = MigrationExecutor(connection)
    executor.migrate([("core", "0007_fidelity_history")])
    try:
        assert not partitions.is_partitioned()
        node = make_node()
        moments = [datetime(2024, 2, 29, 23, 59, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)]
        old = add_samples(node, *moments)
        summaries = set(HourlySummary.objects.filter(node=node).values_list("hour", "stale"))

        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate([("core", "0008_partition_samples")])

        assert partitions.is_partitioned()
        assert {Month.of(moment) for moment in moments} <= set(partitions.existing())
        assert rows_in("core_sample_2024_02") == 1 and rows_in("core_sample_2024_03") == 1
        assert list(Sample.objects.filter(node=node).order_by("timestamp").values_list("pk", "timestamp")) == [
            (sample.pk, sample.timestamp) for sample in old
        ]
        assert set(HourlySummary.objects.filter(node=node).values_list("hour", "stale")) == summaries
        # New ids follow the old ones; the rules of the table hold as before.
        (new,) = add_samples(node, datetime(2024, 3, 1, 5, tzinfo=UTC))
        assert new.pk > max(sample.pk for sample in old)
        assert HourlySummary.objects.get(node=node, hour=datetime(2024, 3, 1, 5, tzinfo=UTC)).stale
        with pytest.raises(IntegrityError), transaction.atomic():
            add_samples(node, moments[0])
        with pytest.raises(IntegrityError), transaction.atomic():
            Sample.objects.create(node_id="00000000-0000-0000-0000-000000000000", timestamp=moments[0], co2_ppm=1)
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.usefixtures("partitions_restored")
def test_the_migration_reverses_to_a_plain_table_with_the_samples():
    node = make_node()
    partitions.create(JANUARY)
    stored = add_samples(node, JANUARY.start, datetime(2040, 1, 1, tzinfo=UTC))
    executor = MigrationExecutor(connection)
    executor.migrate([("core", "0007_fidelity_history")])
    try:
        assert not partitions.is_partitioned()
        assert sorted(Sample.objects.values_list("pk", flat=True)) == sorted(s.pk for s in stored)
        (new,) = add_samples(node, JANUARY.start + timedelta(minutes=1))
        assert new.pk > max(s.pk for s in stored)
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert partitions.is_partitioned()
