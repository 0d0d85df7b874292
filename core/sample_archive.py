"""Archiving and pruning: old samples move out of the database into
gzip-compressed JSON Lines files, one per node and calendar month (UTC),
``<directory>/<node id>/<YYYY-MM>.jsonl.gz``, lines in time order, values as
stored (``sample_export.archive_record``).

A node-month's samples leave the database only once its file is on disk and
holds exactly them. How they leave depends on where they are stored.

A month that ended before the cutoff and has a partition of its own
(PostgreSQL, ``core.partitions``) leaves whole, by dropping its partition:

1. Every node-month's samples, merged with the lines of the file an earlier
   run left, go to a temporary file, which is fsynced and read back (a
   damaged gzip stream fails here, on its checksum).
2. In one transaction the partition is locked in SHARE mode: reads go on,
   but samples of the month can be neither stored, changed nor deleted
   until commit, so what is verified is what is dropped. Each node's samples
   are read again, and each file must hold exactly the lines they and the
   earlier file make (same count, same SHA-256 over the lines in order); no
   node may hold samples of the month without a file. Only if every file
   matches are they all put in place, and the partition is dropped
   (``partitions.drop``) before the lock goes. The drop needs the whole
   samples table to itself for a moment, and everything reading or storing
   samples queues behind it while it waits, so it waits at most
   ``DROP_LOCK_TIMEOUT`` (for a long export, say) and the month is left for
   a later run.

Dropping is why months are partitions: it takes a moment whatever the
month's size, where deleting a city's month row by row writes every one of
its hundreds of millions of rows once more and leaves them dead in the table
and its indexes until vacuum has been through them all.

Every other sample (of a month only partly before the cutoff, of a month
kept in the default partition, and all of them on SQLite) leaves node-month
by node-month, row by row:

1. The month's samples before the cutoff, merged with the lines of the file
   an earlier run left, go to a temporary file, which is fsynced and read
   back.
2. In one transaction the node's row is locked, which holds off new samples
   of the node (inserting one takes a key-share lock on it), and the month's
   samples are read again under row locks, which holds off changes to them.
   The file must hold exactly the lines they and the earlier file make. Only
   then does it replace the month's file, and the rows just read are
   deleted, by node and time range, before the locks go.

Any failure leaves the earlier files and the samples as they were; a later
run merges whatever is left. Where the earlier file and the database both
hold a sample of the same moment (a run that stopped between writing and
deleting, or a drop that failed after the month's files were put in place),
the database's row is kept and the line not repeated.

Hourly summaries are not kept for archived hours, on purpose. Deleting
samples sets off the delete trigger of migration 0006, which marks their
hours' summaries stale; readers then compute those hours from the samples
(none are left), and the next scheduled refresh (``core.hourly.refresh``)
drops the emptied rows. Dropping a partition sets off no trigger: the
month's summaries are deleted in the same transaction instead, so none is
left describing samples that are gone. Summaries promise to equal their
samples ("never wrong, only sometimes not yet there"): an hour that outlived
its samples would disagree with the raw series and with every other bucket
size. The history lives on in the archive files.

Forwarding outboxes (``integrations.PendingSample``) refer to samples
without a database constraint; a sample archived before it was forwarded is
simply not sent, as designed there.
"""

import gzip
import hashlib
import heapq
import io
import json
import os
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from uuid import UUID

from django.db import DatabaseError, connection, transaction
from django.db.models import Exists, OuterRef

from core import partitions, sample_export
from core.hourly import EARLIEST
from core.models import Node, Sample
from core.partitions import Month
from core.sample_export import SampleRow, Selection
from core.timeseries import Window

DROP_LOCK_TIMEOUT = "10s"
# What a damaged file, a full disk or the database can raise while a month is
# archived: each leaves it as it was, as an ``ArchiveError``.
_FAILURES = (OSError, EOFError, zlib.error, ValueError, KeyError, TypeError, DatabaseError)


class ArchiveError(Exception):
    """A node-month or month could not be archived; nothing of it was deleted or dropped."""


@dataclass(frozen=True)
class NodeMonth:
    node_id: UUID
    month: Month

    def __str__(self) -> str:
        return f"{self.node_id} {self.month}"

    def selection(self, cutoff: datetime) -> Selection:
        return Selection((self.node_id,), Window(self.month.start, min(self.month.end, cutoff)))

    def path(self, directory: Path) -> Path:
        return directory / str(self.node_id) / f"{self.month}.jsonl.gz"


@dataclass(frozen=True)
class PartitionMonth:
    """A month that ended before the cutoff and has a partition of its own:
    archived whole, then dropped."""

    month: Month
    node_months: tuple[NodeMonth, ...]  # the nodes holding samples of it

    def __str__(self) -> str:
        return str(self.month)


@dataclass(frozen=True)
class Plan:
    partition_months: list[PartitionMonth]
    node_months: list[NodeMonth]  # the rest, deleted row by row

    @property
    def files(self) -> int:
        """How many node-months, and so files, in all."""
        return sum(len(month.node_months) for month in self.partition_months) + len(self.node_months)


@dataclass(frozen=True)
class Outcome:
    archived: int  # samples from the database now in the files
    deleted: int  # row by row; a dropped partition deletes none


def node_months(cutoff: datetime) -> list[NodeMonth]:
    """Every node and month holding samples before ``cutoff``, in that order:
    one index lookup per node-month, jumping over empty months."""
    found = []
    for node_id in Node.objects.order_by("pk").values_list("pk", flat=True):
        since = EARLIEST
        while (first := _first_sample(node_id, since, cutoff)) is not None:
            found.append(NodeMonth(node_id, Month.of(first)))
            since = found[-1].month.end
    return found


def plan(cutoff: datetime) -> Plan:
    """What archiving the samples before ``cutoff`` takes: the months that
    ended before it and have a partition of their own (oldest first, also
    those holding no samples any more), and every other node-month."""
    whole = {month for month in partitions.existing() if month.end <= cutoff}
    of_whole, rest = defaultdict(list), []
    for node_month in node_months(cutoff):
        if node_month.month in whole:
            of_whole[node_month.month].append(node_month)
        else:
            rest.append(node_month)
    return Plan([PartitionMonth(month, tuple(of_whole[month])) for month in sorted(whole)], rest)


def _first_sample(node_id: UUID, since: datetime, before: datetime) -> datetime | None:
    samples = Sample.objects.filter(node_id=node_id, timestamp__gte=since, timestamp__lt=before)
    return samples.order_by("timestamp").values_list("timestamp", flat=True).first()


def pending(node_month: NodeMonth, cutoff: datetime) -> int:
    """How many samples archiving the node-month would move (for a dry run),
    from the hourly summaries where they are fresh: a partition's month
    is not counted row by row."""
    return node_month.selection(cutoff).count()


def archive(node_month: NodeMonth, cutoff: datetime, directory: Path) -> Outcome:
    """Archive and delete the node-month's samples before ``cutoff`` (see
    the module's docstring); raises ``ArchiveError`` having deleted nothing."""
    path = node_month.path(directory)
    temporary = _temporary(path)
    selection = node_month.selection(cutoff)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write(temporary, path.name, _merged(_earlier(path), _records(sample_export.iter_rows(selection))))
        written = _Tally.of(_read_lines(temporary), ordered=True)
        with transaction.atomic():
            # Holds off new samples of the node until commit: inserting one takes a key-share lock on it.
            list(Node.objects.select_for_update().filter(pk=node_month.node_id).values_list("pk"))
            current = _Counted(sample_export.iter_rows(selection, lock=True))
            expected = _Tally.of(map(sample_export.jsonl_line, _merged(_earlier(path), _records(current))))
            if written != expected:
                raise ArchiveError(_mismatch(written, expected))
            os.replace(temporary, path)
            _fsync_directory(path.parent)
            deleted, _ = selection.queryset().delete()
            if deleted != current.count:
                raise ArchiveError(f"{deleted} samples would have been deleted, not the {current.count} archived")
        return Outcome(archived=current.count, deleted=deleted)
    except _FAILURES as error:
        raise ArchiveError(f"{type(error).__name__}: {error}") from error
    finally:
        temporary.unlink(missing_ok=True)


def archive_month(
    partition_month: PartitionMonth, directory: Path, written_one: Callable[[], object] = lambda: None
) -> Outcome:
    """Archive every node-month of a month with a partition of its own and
    drop the partition (see the module's docstring); raises ``ArchiveError``
    having put no file in place and dropped nothing. ``written_one`` is
    called after each node-month's file is written and read back."""
    month, node_months = partition_month.month, partition_month.node_months
    paths = [node_month.path(directory) for node_month in node_months]
    temporaries = [_temporary(path) for path in paths]
    try:
        written = []
        for node_month, path, temporary in zip(node_months, paths, temporaries, strict=True):
            path.parent.mkdir(parents=True, exist_ok=True)
            rows = sample_export.iter_rows(node_month.selection(month.end))
            _write(temporary, path.name, _merged(_earlier(path), _records(rows)))
            written.append(_Tally.of(_read_lines(temporary), ordered=True))
            written_one()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {month.partition} IN SHARE MODE")
            unwritten = set(_nodes_holding(month)) - {node_month.node_id for node_month in node_months}
            if unwritten:
                raise ArchiveError(
                    f"nodes without a file hold samples of the month: {', '.join(sorted(map(str, unwritten)))}"
                )
            archived = 0
            for node_month, path, tally in zip(node_months, paths, written, strict=True):
                current = _Counted(sample_export.iter_rows(node_month.selection(month.end)))
                expected = _Tally.of(map(sample_export.jsonl_line, _merged(_earlier(path), _records(current))))
                if tally != expected:
                    raise ArchiveError(f"node {node_month.node_id}: {_mismatch(tally, expected)}")
                archived += current.count
            for path, temporary in zip(paths, temporaries, strict=True):
                os.replace(temporary, path)
                _fsync_directory(path.parent)
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [DROP_LOCK_TIMEOUT])
            partitions.drop(month)
        return Outcome(archived=archived, deleted=0)
    except _FAILURES as error:
        raise ArchiveError(f"{type(error).__name__}: {error}") from error
    finally:
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)


def _nodes_holding(month: Month) -> list[UUID]:
    # One index lookup per node, not a pass over the month's rows.
    samples = Sample.objects.filter(node=OuterRef("pk"), timestamp__gte=month.start, timestamp__lt=month.end)
    return list(Node.objects.filter(Exists(samples)).values_list("pk", flat=True))


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _mismatch(written: "_Tally", expected: "_Tally") -> str:
    return (
        f"verification failed: the file holds {written.count} lines, the database and the earlier file "
        f"{expected.count}" + ("" if written.count != expected.count else ", but not the same ones")
    )


def _records(rows: Iterable[SampleRow]) -> Iterator[dict]:
    return map(sample_export.archive_record, rows)


def _merged(earlier: Iterable[dict], current: Iterable[dict]) -> Iterator[dict]:
    """Two time-ordered streams of records as one; of two at the same moment,
    the database's (``current``)."""
    tagged = heapq.merge(
        ((sample_export.record_time(record), 0, record) for record in current),
        ((sample_export.record_time(record), 1, record) for record in earlier),
        key=lambda item: item[:2],
    )
    last = None
    for moment, _, record in tagged:
        if moment != last:
            yield record
            last = moment


def _earlier(path: Path) -> Iterator[dict]:
    if path.exists():
        yield from map(json.loads, _read_lines(path))


def _read_lines(path: Path) -> Iterator[str]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as lines:
        yield from lines


def _write(path: Path, name: str, records: Iterable[dict]) -> None:
    with path.open("wb") as raw:
        # ``filename``: the name in the gzip header, not the temporary one.
        compressed = gzip.GzipFile(filename=name.removesuffix(".gz"), fileobj=raw, mode="wb")
        with io.TextIOWrapper(compressed, encoding="utf-8", newline="") as text:
            sample_export.write_jsonl(records, text)
        raw.flush()
        os.fsync(raw.fileno())


def _fsync_directory(directory: Path) -> None:
    # The rename is durable only once the directory's entry is on disk.
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@dataclass(frozen=True)
class _Tally:
    count: int
    sha256: str

    @classmethod
    def of(cls, lines: Iterable[str], *, ordered: bool = False) -> "_Tally":
        """Count and digest ``lines``; ``ordered``: each must be later than the one before."""
        digest, count, last = hashlib.sha256(), 0, None
        for line in lines:
            if ordered:
                moment = sample_export.record_time(json.loads(line))
                if last is not None and moment <= last:
                    raise ArchiveError(f"verification failed: line {count + 1} is not later than the one before")
                last = moment
            digest.update(line.encode())
            count += 1
        return cls(count, digest.hexdigest())


class _Counted:
    """An iterable that counts what passed through it."""

    def __init__(self, items: Iterable):
        self.items, self.count = items, 0

    def __iter__(self):
        for item in self.items:
            self.count += 1
            yield item
