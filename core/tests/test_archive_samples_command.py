import gzip
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError, connection
from django.utils import timezone

from core import hourly, partitions, sample_export
from core.models import HourlySummary, Sample
from core.partitions import Month
from core.tests.factories import make_node, make_organization
from managair.tests.processes import manage

pytestmark = pytest.mark.django_db

JANUARY = datetime(2024, 1, 10, 8, tzinfo=UTC)
FEBRUARY = datetime(2024, 2, 20, 9, tzinfo=UTC)
# Months of their own partitions (2024's samples above are kept in the default one).
APRIL, MAY, JUNE, AUGUST = (Month(datetime(2025, month, 1, tzinfo=UTC)) for month in (4, 5, 6, 8))


def add(node, moment: datetime, co2_ppm: int = 600, **fields) -> Sample:
    return Sample.objects.create(node=node, timestamp=moment, co2_ppm=co2_ppm, **fields)


def archive(directory, *args, days: int = 30) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("archive_samples", "--older-than", str(days), "--directory", str(directory), *args,
                     stdout=out, stderr=err)  # fmt: skip
    except CommandError as error:
        error.output = (out.getvalue(), err.getvalue())
        raise
    return out.getvalue(), err.getvalue()


def lines(path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as file:
        return [json.loads(line) for line in file]


def co2(path) -> list[int]:
    return [record["co2_ppm"] for record in lines(path)]


def remaining(node) -> list[int]:
    return list(Sample.objects.filter(node=node).order_by("timestamp").values_list("co2_ppm", flat=True))


def drop_one_line(monkeypatch, only_node=None):
    """The writer loses a line, as a full disk or a bug might."""
    write_jsonl = sample_export.write_jsonl

    def lossy(records, stream):
        records = list(records)
        if only_node is None or records[0]["node"] == str(only_node.pk):
            records = records[1:]
        return write_jsonl(records, stream)

    monkeypatch.setattr(sample_export, "write_jsonl", lossy)


def test_old_samples_move_into_one_file_per_node_and_month(node, tmp_path):
    add(node, FEBRUARY, 620)
    add(node, JANUARY + timedelta(minutes=1), 611)
    add(node, JANUARY, 610)
    add(node, timezone.now() - timedelta(days=1), 900)

    out, err = archive(tmp_path)

    assert out == "2 files written, 3 samples archived, 3 samples deleted, 0 partitions dropped.\n"
    assert err == ""
    assert sorted(p.name for p in (tmp_path / str(node.pk)).iterdir()) == ["2024-01.jsonl.gz", "2024-02.jsonl.gz"]
    assert co2(tmp_path / str(node.pk) / "2024-01.jsonl.gz") == [610, 611]
    assert co2(tmp_path / str(node.pk) / "2024-02.jsonl.gz") == [620]
    assert remaining(node) == [900]


def test_archived_lines_keep_values_exactly_as_stored(node, tmp_path):
    add(node, JANUARY, 610, temperature_celsius=21.25, rel_humidity_percent=None,
        measurement_status=Sample.Status.REPLACEMENT)  # fmt: skip

    archive(tmp_path)

    assert lines(tmp_path / str(node.pk) / "2024-01.jsonl.gz") == [{
        "node": str(node.pk), "timestamp_s": int(JANUARY.timestamp()), "time_utc": "2024-01-10T08:00:00Z",
        "co2_ppm": 610, "temperature_celsius": 21.25, "rel_humidity_percent": None, "measurement_status": "R",
    }]  # fmt: skip


def test_months_are_utc_calendar_months(node, tmp_path):
    # 00:30 on 1 February in Berlin is still January in UTC.
    add(node, datetime.fromisoformat("2024-02-01T00:30:00+01:00"), 610)
    add(node, datetime(2024, 2, 1, 0, 0, tzinfo=UTC), 620)

    archive(tmp_path)

    assert co2(tmp_path / str(node.pk) / "2024-01.jsonl.gz") == [610]
    assert co2(tmp_path / str(node.pk) / "2024-02.jsonl.gz") == [620]


def test_only_samples_older_than_the_retention_leave(node, tmp_path):
    now = timezone.now()
    add(node, now - timedelta(days=10, minutes=1), 610)
    add(node, now - timedelta(days=9, hours=23), 620)

    out, _ = archive(tmp_path, days=10)

    assert out.endswith("1 samples archived, 1 samples deleted, 0 partitions dropped.\n")
    assert remaining(node) == [620]


def test_rerun_after_late_old_samples_merges_into_the_month_file(node, tmp_path):
    add(node, JANUARY, 610)
    add(node, JANUARY + timedelta(hours=2), 612)
    archive(tmp_path)
    path = tmp_path / str(node.pk) / "2024-01.jsonl.gz"
    # A logger's backlog arrives: one sample between the archived ones, one after them.
    add(node, JANUARY + timedelta(hours=1), 611)
    add(node, JANUARY + timedelta(hours=3), 613)

    out, _ = archive(tmp_path)

    assert out == "1 files written, 2 samples archived, 2 samples deleted, 0 partitions dropped.\n"
    assert co2(path) == [610, 611, 612, 613]
    assert remaining(node) == []


def test_rerun_after_an_interrupted_run_does_not_repeat_lines(node, tmp_path):
    add(node, JANUARY, 610)
    add(node, JANUARY + timedelta(hours=1), 611)
    archive(tmp_path)
    path = tmp_path / str(node.pk) / "2024-01.jsonl.gz"
    # As if the earlier run had written the file and stopped before deleting.
    add(node, JANUARY, 610)

    archive(tmp_path)

    assert co2(path) == [610, 611]
    assert remaining(node) == []


def test_verification_failure_deletes_nothing_and_fails_the_command(node, tmp_path, monkeypatch):
    add(node, JANUARY, 610)
    add(node, JANUARY + timedelta(minutes=1), 611)
    drop_one_line(monkeypatch)

    with pytest.raises(CommandError, match="1 of 1 node-months failed") as raised:
        archive(tmp_path)

    out, err = raised.value.output
    assert out == "0 files written, 0 samples archived, 0 samples deleted, 0 partitions dropped.\n"
    assert f"{node.pk} 2024-01: verification failed: the file holds 1 lines, the database and the earlier file 2" in err
    assert remaining(node) == [610, 611]
    assert list((tmp_path / str(node.pk)).iterdir()) == []  # no temporary file left behind


def test_failed_merge_keeps_the_earlier_file(node, tmp_path, monkeypatch):
    add(node, JANUARY, 610)
    archive(tmp_path)
    path = tmp_path / str(node.pk) / "2024-01.jsonl.gz"
    before = path.read_bytes()
    add(node, JANUARY + timedelta(minutes=1), 611)
    drop_one_line(monkeypatch)

    with pytest.raises(CommandError):
        archive(tmp_path)

    assert path.read_bytes() == before
    assert remaining(node) == [611]


def test_damaged_earlier_file_is_reported_and_left_alone(node, tmp_path):
    add(node, JANUARY, 610)
    path = tmp_path / str(node.pk) / "2024-01.jsonl.gz"
    path.parent.mkdir()
    path.write_bytes(gzip.compress(b'{"time_utc": "2024-01-10T07:00:00Z"}\n')[:-12] + b"damaged!")

    with pytest.raises(CommandError) as raised:
        archive(tmp_path)

    assert f"{node.pk} 2024-01: EOFError: Compressed file ended" in raised.value.output[1]
    assert path.read_bytes().endswith(b"damaged!")
    assert remaining(node) == [610]


def test_a_failing_file_does_not_stop_the_others(organization, tmp_path, monkeypatch):
    failing, fine = make_node(owner=organization), make_node(owner=organization)
    add(failing, JANUARY, 610)
    add(fine, JANUARY, 710)
    drop_one_line(monkeypatch, only_node=failing)

    with pytest.raises(CommandError) as raised:
        archive(tmp_path)

    assert raised.value.output[0] == "1 files written, 1 samples archived, 1 samples deleted, 0 partitions dropped.\n"
    assert remaining(failing) == [610]
    assert remaining(fine) == []
    assert co2(tmp_path / str(fine.pk) / "2024-01.jsonl.gz") == [710]


def test_sample_arriving_while_the_file_is_written_keeps_its_month_in_the_database(node, tmp_path, monkeypatch):
    add(node, JANUARY, 610)
    write_jsonl = sample_export.write_jsonl

    def write_then_receive_a_late_sample(records, stream):
        count = write_jsonl(records, stream)
        add(node, JANUARY + timedelta(minutes=5), 615)
        return count

    monkeypatch.setattr(sample_export, "write_jsonl", write_then_receive_a_late_sample)

    with pytest.raises(CommandError):
        archive(tmp_path)

    assert remaining(node) == [610, 615]
    assert not (tmp_path / str(node.pk) / "2024-01.jsonl.gz").exists()


def test_dry_run_writes_and_deletes_nothing(node, tmp_path):
    add(node, JANUARY, 610)
    add(node, FEBRUARY, 620)

    out, _ = archive(tmp_path, "--dry-run")

    assert out.startswith("Dry run: would write 2 files and archive 2 samples older than ")
    assert out.endswith(", delete 2 of them row by row and drop 0 partitions; nothing written, deleted or dropped.\n")
    assert list(tmp_path.iterdir()) == []
    assert remaining(node) == [610, 620]


def test_summaries_of_archived_hours_go_with_their_samples(node, tmp_path):
    add(node, JANUARY, 610)
    add(node, JANUARY + timedelta(minutes=30), 630)
    hourly.refresh()
    assert HourlySummary.objects.filter(node=node, stale=False).count() == 1

    archive(tmp_path)

    # Stale at once, so no reader trusts it; the next refresh drops it.
    assert list(HourlySummary.objects.filter(node=node).values_list("stale", flat=True)) == [True]
    hourly.refresh()
    assert not HourlySummary.objects.filter(node=node).exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--older-than", "0", "--directory", "{tmp}"], "--older-than must be at least 1 day."),
        (["--older-than", "30", "--directory", "{tmp}/missing"], "--directory {tmp}/missing is not a directory."),
    ],
)
def test_bad_arguments_are_command_errors(args, message, tmp_path, node):
    add(node, JANUARY, 610)

    with pytest.raises(CommandError) as raised:
        call_command("archive_samples", *(a.format(tmp=tmp_path) for a in args), stdout=io.StringIO())

    assert str(raised.value) == message.format(tmp=tmp_path)
    assert remaining(node) == [610]


@pytest.mark.django_db(transaction=True)
def test_a_real_process_archives_and_prunes(tmp_path):
    node = make_node(owner=make_organization())
    add(node, JANUARY, 610)
    add(node, FEBRUARY, 620)
    def run(*args):
        return manage("archive_samples", "--older-than", "30", *args)

    missing = run("--directory", str(tmp_path / "missing"))
    archived = run("--directory", str(tmp_path))

    assert missing.returncode == 1
    assert missing.stderr == f"CommandError: --directory {tmp_path / 'missing'} is not a directory.\n"
    assert archived.returncode == 0, archived.stderr
    assert archived.stdout == "2 files written, 2 samples archived, 2 samples deleted, 0 partitions dropped.\n"
    assert co2(tmp_path / str(node.pk) / "2024-01.jsonl.gz") == [610]
    assert co2(tmp_path / str(node.pk) / "2024-02.jsonl.gz") == [620]
    assert remaining(node) == []


# --- Months with a partition of their own (PostgreSQL) ------------------------------


@pytest.fixture
def month_partition(db):
    with connection.cursor() as cursor:
        # A drop waits for no deferred check; in a test, the inserts share its transaction.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    return partitions.create


def days_since(moment: datetime) -> int:
    """``--older-than`` for a cutoff within a day after ``moment``."""
    return (timezone.now() - moment).days


def stored(node, month: Month) -> list[tuple]:
    samples = Sample.objects.filter(node=node, timestamp__gte=month.start, timestamp__lt=month.end)
    return [
        (int(moment.timestamp()), co2_ppm, temperature, humidity, status)
        for moment, co2_ppm, temperature, humidity, status in samples.order_by("timestamp").values_list(
            "timestamp", "co2_ppm", "temperature_celsius", "rel_humidity_percent", "measurement_status"
        )
    ]


def archived(path) -> list[tuple]:
    fields = ("timestamp_s", "co2_ppm", "temperature_celsius", "rel_humidity_percent", "measurement_status")
    return [tuple(record[field] for field in fields) for record in lines(path)]


def files_in(directory) -> list[str]:
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*") if path.is_file())


def test_a_month_before_the_cutoff_is_archived_per_node_and_its_partition_dropped(organization, month_partition,
                                                                                  tmp_path):  # fmt: skip
    month_partition(MAY)
    month_partition(JUNE)
    first, second = make_node(owner=organization), make_node(owner=organization)
    add(first, MAY.start, 501, temperature_celsius=21.25, measurement_status=Sample.Status.REPLACEMENT)
    add(first, MAY.start + timedelta(days=9, seconds=1), 502, rel_humidity_percent=40.5)
    add(second, MAY.end - timedelta(seconds=1), 509)
    add(first, JUNE.start + timedelta(days=1), 601)
    add(first, JUNE.start + timedelta(days=27), 628)
    in_may = {node: stored(node, MAY) for node in (first, second)}

    # The cutoff falls on 15 June: May ended before it, June did not.
    out, err = archive(tmp_path, days=days_since(datetime(2025, 6, 15, tzinfo=UTC)))

    assert out == (
        "2025-05: 2 nodes, 3 samples archived, partition dropped.\n"
        "3 files written, 4 samples archived, 1 samples deleted, 1 partitions dropped.\n"
    )
    assert err == ""
    assert MAY not in partitions.existing()
    assert JUNE in partitions.existing()
    for node in (first, second):
        assert archived(tmp_path / str(node.pk) / "2025-05.jsonl.gz") == in_may[node]
    assert co2(tmp_path / str(first.pk) / "2025-06.jsonl.gz") == [601]
    assert remaining(first) == [628]
    assert remaining(second) == []


def test_samples_of_a_month_without_a_partition_are_still_deleted_row_by_row(node, month_partition, tmp_path):
    month_partition(MAY)
    assert APRIL not in partitions.existing()
    add(node, APRIL.start + timedelta(days=3), 410)
    add(node, MAY.start + timedelta(days=3), 510)

    out, _ = archive(tmp_path)

    assert out == (
        "2025-05: 1 node, 1 samples archived, partition dropped.\n"
        "2 files written, 2 samples archived, 1 samples deleted, 1 partitions dropped.\n"
    )
    assert co2(tmp_path / str(node.pk) / "2025-04.jsonl.gz") == [410]
    assert co2(tmp_path / str(node.pk) / "2025-05.jsonl.gz") == [510]
    assert remaining(node) == []
    assert APRIL not in partitions.existing()
    assert MAY not in partitions.existing()


def test_a_verification_failure_keeps_the_whole_month_and_its_partition(organization, month_partition, tmp_path,
                                                                        monkeypatch):  # fmt: skip
    month_partition(MAY)
    failing, fine = make_node(owner=organization), make_node(owner=organization)
    add(failing, MAY.start, 501)
    add(failing, MAY.start + timedelta(minutes=1), 502)
    add(fine, MAY.start, 511)
    drop_one_line(monkeypatch, only_node=failing)

    with pytest.raises(CommandError, match="^1 of 1 months with a partition failed") as raised:
        archive(tmp_path)

    out, err = raised.value.output
    assert out == "0 files written, 0 samples archived, 0 samples deleted, 0 partitions dropped.\n"
    assert (
        f"2025-05: node {failing.pk}: verification failed: the file holds 1 lines, the database and the earlier "
        "file 2; partition kept, none of its samples removed."
    ) in err
    assert MAY in partitions.existing()
    assert remaining(failing) == [501, 502]
    assert remaining(fine) == [511]
    # Not even the file that matched is put in place, and no temporary file is left behind.
    assert files_in(tmp_path) == []


def test_a_failing_month_does_not_stop_the_others(node, month_partition, tmp_path, monkeypatch):
    month_partition(MAY)
    add(node, APRIL.start, 410)
    add(node, MAY.start, 510)
    add(node, MAY.start + timedelta(minutes=1), 511)
    write_jsonl = sample_export.write_jsonl
    # Only May's file (two lines) loses one.
    monkeypatch.setattr(sample_export, "write_jsonl", lambda records, stream: write_jsonl(list(records)[-1:], stream))

    with pytest.raises(CommandError) as raised:
        archive(tmp_path)

    assert raised.value.output[0] == "1 files written, 1 samples archived, 1 samples deleted, 0 partitions dropped.\n"
    assert files_in(tmp_path) == [f"{node.pk}/2025-04.jsonl.gz"]
    assert remaining(node) == [510, 511]
    assert MAY in partitions.existing()


def test_samples_of_a_node_arriving_after_the_files_were_written_keep_the_month(organization, month_partition,
                                                                                tmp_path, monkeypatch):  # fmt: skip
    month_partition(MAY)
    node = make_node(owner=organization)
    add(node, MAY.start, 510)
    newcomer = make_node(owner=organization)
    write_jsonl = sample_export.write_jsonl

    def write_then_receive_a_sample_of_another_node(records, stream):
        count = write_jsonl(records, stream)
        add(newcomer, MAY.start + timedelta(days=1), 520)
        return count

    monkeypatch.setattr(sample_export, "write_jsonl", write_then_receive_a_sample_of_another_node)

    with pytest.raises(CommandError) as raised:
        archive(tmp_path)

    err = raised.value.output[1]
    assert f"2025-05: nodes without a file hold samples of the month: {newcomer.pk}; partition kept" in err
    assert MAY in partitions.existing()
    assert remaining(node) == [510]
    assert remaining(newcomer) == [520]
    assert files_in(tmp_path) == []


def test_a_rerun_after_a_drop_changes_nothing(node, month_partition, tmp_path):
    month_partition(MAY)
    add(node, MAY.start, 510)
    archive(tmp_path)
    path = tmp_path / str(node.pk) / "2025-05.jsonl.gz"
    before = path.read_bytes()
    months = partitions.existing()

    out, _ = archive(tmp_path)

    assert out == "0 files written, 0 samples archived, 0 samples deleted, 0 partitions dropped.\n"
    assert path.read_bytes() == before
    assert files_in(tmp_path) == [f"{node.pk}/2025-05.jsonl.gz"]
    assert partitions.existing() == months


def test_a_month_merges_with_the_file_an_earlier_run_left(node, month_partition, tmp_path):
    # Archived row by row while May was in the default partition, then late samples got May a partition.
    add(node, MAY.start + timedelta(hours=2), 512)
    archive(tmp_path)
    add(node, MAY.start + timedelta(hours=1), 511)
    add(node, MAY.start + timedelta(hours=3), 513)
    month_partition(MAY)

    out, _ = archive(tmp_path)

    assert out.startswith("2025-05: 1 node, 2 samples archived, partition dropped.\n")
    assert co2(tmp_path / str(node.pk) / "2025-05.jsonl.gz") == [511, 512, 513]
    assert remaining(node) == []


def test_summaries_of_a_dropped_month_go_with_its_partition(node, month_partition, tmp_path):
    month_partition(MAY)
    add(node, MAY.start + timedelta(hours=5), 510)
    add(node, MAY.start + timedelta(hours=5, minutes=30), 530)
    recent = add(node, timezone.now() - timedelta(days=2), 900)
    hourly.refresh()
    assert HourlySummary.objects.filter(node=node, stale=False).count() == 2

    archive(tmp_path)

    assert list(HourlySummary.objects.filter(node=node).values_list("hour", "stale")) == [
        (recent.timestamp.replace(minute=0, second=0, microsecond=0), False)
    ]


def test_dry_run_names_the_partitions_it_would_drop(organization, month_partition, tmp_path):
    month_partition(MAY)
    first, second = make_node(owner=organization), make_node(owner=organization)
    add(first, MAY.start, 510)
    add(first, MAY.start + timedelta(minutes=1), 511)
    add(second, MAY.start, 520)
    add(first, APRIL.start, 410)

    out, _ = archive(tmp_path, "--dry-run")

    assert out.startswith(
        "2025-05: 2 nodes, 3 samples to archive, partition to drop.\n"
        "Dry run: would write 3 files and archive 4 samples older than "
    )
    assert out.endswith(", delete 1 of them row by row and drop 1 partitions; nothing written, deleted or dropped.\n")
    assert MAY in partitions.existing()
    assert remaining(first) == [410, 510, 511]
    assert files_in(tmp_path) == []


@pytest.mark.django_db(transaction=True)
def test_while_a_month_is_verified_its_samples_can_be_read_but_not_changed(tmp_path, monkeypatch):
    node = make_node(owner=make_organization())
    drop = partitions.drop
    partitions.create(AUGUST)
    try:
        add(node, AUGUST.start, 810)
        seen = {}

        def try_others_first(month):
            other = connection.copy()
            try:
                with other.cursor() as cursor:
                    cursor.execute("SELECT co2_ppm FROM core_sample WHERE node_id = %s", [node.pk])
                    seen["read"] = cursor.fetchall()
                    # The month's files are verified: a write would wait until the partition is gone.
                    cursor.execute("SET lock_timeout = '100ms'")
                    with pytest.raises(OperationalError, match="lock timeout"):
                        cursor.execute(
                            'INSERT INTO core_sample (node_id, "timestamp", co2_ppm, measurement_status) '
                            "VALUES (%s, %s, 811, 'M')",
                            [node.pk, AUGUST.start + timedelta(minutes=1)],
                        )
                    seen["write"] = "waited"
            finally:
                other.close()
            drop(month)

        monkeypatch.setattr(partitions, "drop", try_others_first)

        out, _ = archive(tmp_path)

        assert seen == {"read": [(810,)], "write": "waited"}
        assert out.startswith("2025-08: 1 node, 1 samples archived, partition dropped.\n")
        assert co2(tmp_path / str(node.pk) / "2025-08.jsonl.gz") == [810]
        assert remaining(node) == []
    finally:
        if AUGUST in partitions.existing():
            drop(AUGUST)
