"""Samples out of the database as CSV or JSON Lines: what ``export_samples``
writes and ``archive_samples`` archives.

Rows come from a server-side cursor a chunk at a time, in time order, so an
export of years holds one chunk in memory, never the whole result. Exports
format values as the API's CSV does (``core.api.renderers``); archives keep
them exactly as stored, with the measurement status, so that they could be
loaded back.
"""

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple, TextIO
from uuid import UUID

from django.db.models import F, Sum, Value

from core import timeseries
from core.api.renderers import celsius, utc_iso
from core.hourly import EARLIEST, LATEST, SampleCount
from core.models import Installation, Node, Sample
from core.timeseries import Window
from core.timestamps import from_unix, to_unix
from user_manager.models import Organization

EXPORT_FIELDS = ("node", "timestamp_s", "time_utc", "co2_ppm", "temperature_celsius", "rel_humidity_percent")
FORMATS = ("csv", "jsonl")
CHUNK_SIZE = 5000


class SampleRow(NamedTuple):
    node_id: UUID
    timestamp: datetime
    co2_ppm: int
    temperature_celsius: float | None
    rel_humidity_percent: float | None
    measurement_status: str


@dataclass(frozen=True)
class Selection:
    """The samples of some nodes inside a window [start, end)."""

    node_ids: tuple[UUID, ...]
    window: Window

    def queryset(self):
        return Sample.objects.filter(
            node_id__in=self.node_ids, timestamp__gte=self.window.start, timestamp__lt=self.window.end
        )

    def count(self) -> int:
        """How many samples there are, from the hourly summaries where they are fresh."""
        if not self.node_ids or self.window.is_empty:
            return 0
        start, end = Value(self.window.start), Value(self.window.end)
        total = Node.objects.filter(pk__in=self.node_ids).aggregate(total=Sum(SampleCount(F("pk"), start, end)))
        return total["total"] or 0


def parse_moment(raw: str) -> datetime:
    """Unix seconds or ISO-8601; a time without a zone is UTC."""
    raw = raw.strip()
    try:
        return from_unix(int(raw))
    except (ValueError, OverflowError, OSError):
        pass
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is neither Unix seconds nor an ISO-8601 time.") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def window(start: datetime | None, end: datetime | None) -> Window:
    return Window(start or EARLIEST, end or LATEST)


def node_selection(node: Node, span: Window) -> Selection:
    return Selection((node.pk,), span)


def installation_selection(installation: Installation, span: Window) -> Selection:
    # As the installation's time series: the node's samples while it hung in the room.
    return Selection((installation.node_id,), span.clipped_to(installation))


def organization_selection(organization: Organization, span: Window) -> Selection:
    return Selection(tuple(Node.objects.filter(owner=organization).order_by("pk").values_list("pk", flat=True)), span)


def iter_rows(selection: Selection, *, lock: bool = False, chunk_size: int = CHUNK_SIZE) -> Iterator[SampleRow]:
    """The selection's samples ordered by time (then node), ``chunk_size`` at
    a time; ``lock`` takes row locks (inside the caller's transaction)."""
    if not selection.node_ids or selection.window.is_empty:
        return
    rows = selection.queryset().order_by("timestamp", "node_id")
    if lock:
        rows = rows.select_for_update()
    rows = rows.values_list(*SampleRow._fields)
    # Rows flow at once, not after PostgreSQL has computed the whole result.
    with timeseries.streaming():
        for row in rows.iterator(chunk_size=chunk_size):
            yield SampleRow(*row)


def export_record(row: SampleRow) -> dict:
    """``EXPORT_FIELDS``, values as the API's CSV shows them."""
    seconds = to_unix(row.timestamp)
    return {
        "node": str(row.node_id),
        "timestamp_s": seconds,
        "time_utc": utc_iso(seconds),
        "co2_ppm": row.co2_ppm,
        "temperature_celsius": celsius(row.temperature_celsius),
        "rel_humidity_percent": row.rel_humidity_percent,
    }


def archive_record(row: SampleRow) -> dict:
    """``EXPORT_FIELDS`` and ``measurement_status``, values exactly as
    stored: unrounded temperatures, and fractions of seconds in ``time_utc``
    should a sample have any."""
    fraction = ".%f" if row.timestamp.microsecond else ""
    return {
        "node": str(row.node_id),
        "timestamp_s": to_unix(row.timestamp),
        "time_utc": row.timestamp.astimezone(UTC).strftime(f"%Y-%m-%dT%H:%M:%S{fraction}Z"),
        "co2_ppm": row.co2_ppm,
        "temperature_celsius": row.temperature_celsius,
        "rel_humidity_percent": row.rel_humidity_percent,
        "measurement_status": row.measurement_status,
    }


def record_time(record: dict) -> datetime:
    return datetime.fromisoformat(record["time_utc"])


def jsonl_line(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False) + "\n"


def write_jsonl(records: Iterable[dict], stream: TextIO) -> int:
    """One JSON object per line; returns how many."""
    count = 0
    for record in records:
        stream.write(jsonl_line(record))
        count += 1
    return count


def write_csv(records: Iterable[dict], stream: TextIO) -> int:
    """A header line, then one line per record (``None`` as an empty cell, as
    the API's CSV); returns how many records."""
    writer = csv.DictWriter(stream, fieldnames=EXPORT_FIELDS)
    writer.writeheader()
    count = 0
    for record in records:
        writer.writerow(record)
        count += 1
    return count


WRITERS = {"csv": write_csv, "jsonl": write_jsonl}
