"""The samples table is range-partitioned by UTC month on PostgreSQL
(migration 0008): ``core_sample_2026_11`` holds November 2026, and
``core_sample_default`` catches whatever no month holds yet (a backfill of
a month before the first partition, a clock far in the future).

Why months: a node sending once a minute makes 44,640 samples a month, so a
city's month is a few hundred million rows — indexes that stay in memory
while the month is being written, and a unit that pruning can drop at once
instead of deleting row by row. A window query reads only the months it
overlaps (the planner prunes the others, also for prepared statements).

A scheduled task (``prepare``, daily) keeps the current month and the next
``MONTHS_AHEAD`` ready. Creating a month that the default partition already
holds rows of moves them first, under a lock that holds off new ones.

On SQLite there is one plain table and everything here does nothing.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection, transaction
from django.utils import timezone

TABLE = "core_sample"
DEFAULT_PARTITION = "core_sample_default"
MONTHS_AHEAD = 3


@dataclass(frozen=True, order=True)
class Month:
    start: datetime  # the first moment of the month, UTC

    @classmethod
    def of(cls, moment: datetime) -> "Month":
        moment = moment.astimezone(UTC)
        return cls(datetime(moment.year, moment.month, 1, tzinfo=UTC))

    @property
    def end(self) -> datetime:
        return self.following().start

    @property
    def partition(self) -> str:
        return f"{TABLE}_{self.start:%Y_%m}"

    def following(self) -> "Month":
        year, month = divmod(self.start.month, 12)
        return Month(datetime(self.start.year + year, month + 1, 1, tzinfo=UTC))

    def __str__(self) -> str:
        return f"{self.start:%Y-%m}"


def months_between(first: Month, last: Month) -> list[Month]:
    months = [first]
    while months[-1] < last:
        months.append(months[-1].following())
    return months


def wanted(now: datetime, ahead: int = MONTHS_AHEAD) -> list[Month]:
    """The months that must have a partition at ``now``: this one and the next ``ahead``."""
    months = [Month.of(now)]
    for _ in range(ahead):
        months.append(months[-1].following())
    return months


def is_partitioned() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT FROM pg_partitioned_table WHERE partrelid = %s::regclass)", [TABLE])
        return cursor.fetchone()[0]


def existing() -> list[Month]:
    """The months that have a partition, oldest first."""
    if not is_partitioned():
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass AND c.relname <> %s",
            [TABLE, DEFAULT_PARTITION],
        )
        names = [name for (name,) in cursor.fetchall()]
    return sorted(_month_of(name) for name in names)


def _month_of(partition: str) -> Month:
    year, month = partition.removeprefix(f"{TABLE}_").split("_")
    return Month(datetime(int(year), int(month), 1, tzinfo=UTC))


def prepare(now: datetime | None = None) -> list[str]:
    """Create the partitions ``wanted`` at ``now`` that are missing; returns
    the names of those created. Safe to run at any time, and twice."""
    if not is_partitioned():
        return []
    have = set(existing())
    created = []
    for month in wanted(now or timezone.now()):
        if month not in have:
            create(month)
            created.append(month.partition)
    return created


def create(month: Month) -> None:
    """Add ``month``'s partition, taking over the rows the default partition
    holds of it (a partition may not overlap rows left in the default one)."""
    with transaction.atomic(), connection.cursor() as cursor:
        # Holds off samples of the month arriving in the default partition
        # while its rows move; samples of other months go on being stored.
        cursor.execute(f"LOCK TABLE {DEFAULT_PARTITION} IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(f"CREATE TABLE {month.partition} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        # Lets ATTACH skip scanning the new table to prove its rows fit.
        cursor.execute(
            f'ALTER TABLE {month.partition} ADD CONSTRAINT {month.partition}_month '
            f'CHECK ("timestamp" >= %s AND "timestamp" < %s)',
            [month.start, month.end],
        )
        # Moving rows between partitions is not a change of samples: the
        # statements name partitions, so the parent's statement triggers
        # (hourly summaries) do not fire.
        cursor.execute(
            f'WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE "timestamp" >= %s AND "timestamp" < %s '
            f"RETURNING *) INSERT INTO {month.partition} SELECT * FROM moved",
            [month.start, month.end],
        )
        cursor.execute(
            f"ALTER TABLE {TABLE} ATTACH PARTITION {month.partition} FOR VALUES FROM (%s) TO (%s)",
            [month.start, month.end],
        )
        cursor.execute(f"ALTER TABLE {month.partition} DROP CONSTRAINT {month.partition}_month")


def drop(month: Month) -> None:
    """Drop ``month``'s partition and every sample in it, at once. Its hourly
    summaries go with it (dropping a table fires no delete trigger)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} DETACH PARTITION {month.partition}")
        cursor.execute(f"DROP TABLE {month.partition}")
        cursor.execute(
            "DELETE FROM core_hourlysummary WHERE hour >= %s AND hour < %s", [month.start, month.end]
        )


def scheduled_prepare() -> str:
    """The daily task (``core.schedules``)."""
    created = prepare()
    return f"created {', '.join(created)}" if created else "nothing to create"
