import gzip
import io
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from core import sample_export
from core.models import Sample
from core.tests.factories import make_installation, make_node, make_organization, make_room
from managair.tests.processes import manage

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)
HEADER = "node,timestamp_s,time_utc,co2_ppm,temperature_celsius,rel_humidity_percent\r\n"


def add(node, moment: datetime, co2_ppm: int = 600, temperature=21.0, humidity=40.0) -> Sample:
    return Sample.objects.create(
        node=node, timestamp=moment, co2_ppm=co2_ppm, temperature_celsius=temperature, rel_humidity_percent=humidity
    )


def export(*args) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("export_samples", *args, stdout=out, stderr=err)
    return out.getvalue()


def unix(moment: datetime) -> int:
    return int(moment.timestamp())


def test_node_export_is_csv_in_time_order_formatted_as_the_api(node):
    add(node, T0 + timedelta(minutes=1), 700, temperature=None, humidity=None)
    add(node, T0, 650, temperature=21.25, humidity=40.5)

    text = export("--node", str(node.pk))

    assert text == (
        HEADER
        + f"{node.pk},{unix(T0)},2024-03-01T12:00:00Z,650,21.2,40.5\r\n"
        + f"{node.pk},{unix(T0) + 60},2024-03-01T12:01:00Z,700,,\r\n"
    )


def test_from_is_inclusive_and_to_exclusive_in_unix_seconds_or_iso(node):
    for minute in range(4):
        add(node, T0 + timedelta(minutes=minute), 600 + minute)

    by_seconds = export("--node", str(node.pk), "--from", str(unix(T0) + 60), "--to", str(unix(T0) + 180))
    by_iso = export("--node", str(node.pk), "--from", "2024-03-01T13:01:00+01:00", "--to", "2024-03-01T12:03:00")

    assert by_seconds == by_iso
    assert [line.split(",")[3] for line in by_seconds.splitlines()[1:]] == ["601", "602"]


def test_installation_export_covers_only_the_installations_span(node, room):
    installation = make_installation(node=node, room=room, from_time=T0, to_time=T0 + timedelta(hours=1))
    add(node, T0 - timedelta(seconds=1), 500)
    add(node, T0, 601)
    add(node, T0 + timedelta(minutes=59), 602)
    add(node, T0 + timedelta(hours=1), 700)

    text = export("--installation", str(installation.pk), "--format", "jsonl")

    assert [json.loads(line)["co2_ppm"] for line in text.splitlines()] == [601, 602]


def test_organization_export_interleaves_its_nodes_by_time_and_leaves_out_others(organization, other_organization):
    first, second = make_node(owner=organization), make_node(owner=organization)
    foreign = make_node(owner=other_organization)
    add(first, T0, 601)
    add(second, T0 + timedelta(minutes=1), 602)
    add(first, T0 + timedelta(minutes=2), 603)
    add(foreign, T0 + timedelta(minutes=1), 999)

    text = export("--organization", str(organization.pk))

    rows = [line.split(",") for line in text.splitlines()[1:]]
    assert [(row[0], row[3]) for row in rows] == [
        (str(first.pk), "601"),
        (str(second.pk), "602"),
        (str(first.pk), "603"),
    ]


def test_jsonl_lines_carry_the_csv_columns_as_keys(node):
    add(node, T0, 650, temperature=None, humidity=55.5)

    [line] = export("--node", str(node.pk), "--format", "jsonl").splitlines()

    assert json.loads(line) == {
        "node": str(node.pk), "timestamp_s": unix(T0), "time_utc": "2024-03-01T12:00:00Z", "co2_ppm": 650,
        "temperature_celsius": None, "rel_humidity_percent": 55.5,
    }  # fmt: skip


def test_output_path_ending_in_gz_is_gzip_readable(node, tmp_path):
    add(node, T0, 650)
    add(node, T0 + timedelta(minutes=1), 651)
    path = tmp_path / "samples.csv.gz"
    out, err = io.StringIO(), io.StringIO()

    call_command("export_samples", "--node", str(node.pk), "-o", str(path), stdout=out, stderr=err)

    with gzip.open(path, "rt", newline="") as file:
        assert file.read().splitlines() == [HEADER.strip(), *export("--node", str(node.pk)).splitlines()[1:]]
    assert out.getvalue() == ""
    assert err.getvalue() == f"Wrote 2 samples to {path}.\n"


def test_gzip_flag_compresses_stdout(node):
    add(node, T0, 650)
    binary = io.BytesIO()
    stdout = io.TextIOWrapper(binary, encoding="utf-8")

    call_command("export_samples", "--node", str(node.pk), "--gzip", "--format", "jsonl", stdout=stdout)

    stdout.flush()
    [record] = [json.loads(line) for line in gzip.decompress(binary.getvalue()).decode().splitlines()]
    assert record["co2_ppm"] == 650


def test_rows_are_read_a_chunk_at_a_time(node, monkeypatch):
    # The export must stream: a chunk size below the row count still yields every row, in order.
    for minute in range(5):
        add(node, T0 + timedelta(minutes=minute), 600 + minute)
    chunk_sizes = []
    iterator = type(Sample.objects.all()).iterator

    def spying_iterator(queryset, chunk_size=None):
        chunk_sizes.append(chunk_size)
        return iterator(queryset, chunk_size=2)

    monkeypatch.setattr(type(Sample.objects.all()), "iterator", spying_iterator)

    text = export("--node", str(node.pk))

    assert chunk_sizes == [sample_export.CHUNK_SIZE]
    assert [line.split(",")[3] for line in text.splitlines()[1:]] == ["600", "601", "602", "603", "604"]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--node", str(uuid.UUID(int=7)), f"No node with the id {uuid.UUID(int=7)}."),
        ("--node", "not-a-uuid", "--node must be a node's UUID, not 'not-a-uuid'."),
        ("--installation", "999999", "No installation with the id 999999."),
        ("--organization", "999999", "No organization with the id 999999."),
    ],
)
def test_unknown_subjects_are_command_errors(option, value, message, tmp_path):
    with pytest.raises(CommandError) as raised:
        export(option, value, "-o", str(tmp_path / "out.csv"))
    assert str(raised.value) == message
    assert not (tmp_path / "out.csv").exists()


def test_malformed_or_reversed_times_are_command_errors(node):
    with pytest.raises(CommandError, match="--from: 'yesterday' is neither Unix seconds nor an ISO-8601 time."):
        export("--node", str(node.pk), "--from", "yesterday")
    with pytest.raises(CommandError, match="--from must be before --to."):
        export("--node", str(node.pk), "--from", "2024-03-02", "--to", "2024-03-01")


def test_installation_of_another_node_does_not_leak_into_an_organization_export(organization, other_organization):
    # Nodes are the organization's by ownership, not by where they hang.
    node = make_node(owner=other_organization)
    make_installation(node=node, room=make_room(operator=other_organization), from_time=T0 - timedelta(days=1))
    add(node, T0, 650)

    assert export("--organization", str(organization.pk)) == HEADER


@pytest.mark.django_db(transaction=True)
def test_a_real_process_exports_to_a_gzip_file_and_fails_cleanly_on_an_unknown_node(tmp_path):
    node = make_node(owner=make_organization())
    add(node, T0, 650)
    path = tmp_path / "out.jsonl.gz"

    def run(*args):
        return manage("export_samples", *args)

    exported = run("--node", str(node.pk), "--format", "jsonl", "-o", str(path))
    unknown = run("--node", str(uuid.UUID(int=7)))

    assert exported.returncode == 0, exported.stderr
    assert exported.stderr == f"Wrote 1 samples to {path}.\n"
    with gzip.open(path, "rt") as file:
        assert [json.loads(line)["co2_ppm"] for line in file] == [650]
    assert unknown.returncode == 1
    assert unknown.stderr == f"CommandError: No node with the id {uuid.UUID(int=7)}.\n"
    assert unknown.stdout == ""
