"""``manage.py import_nodes``: a CSV file of nodes is imported whole or not at
all, and every bad line is named with its number."""

import hashlib
import io
import sys
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from core import node_import
from core.models import Node
from core.tests.factories import make_node, make_node_model, make_organization, make_protocol
from managair.tests.processes import manage

pytestmark = pytest.mark.django_db

HEADER = "eui64,alias,protocol,model,organization\n"
CLAIRCHEN_ID_OF_0004A30B001C2F5E = uuid.UUID(
    bytes=hashlib.sha256(b"CLAIRCHEN" + bytes.fromhex("0004a30b001c2f5e")).digest()[:16]
)


@pytest.fixture
def catalog(db):
    return make_protocol("CLAIRCHEN"), make_node_model("Clairchen Rev. B")


def csv_file(tmp_path, content: str | bytes) -> str:
    path = tmp_path / "nodes.csv"
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return str(path)


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_nodes", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def refusal(*args: str) -> list[str]:
    """The lines of the command's complaint."""
    with pytest.raises(CommandError) as raised:
        run(*args)
    return str(raised.value).splitlines()


def test_imports_every_line_with_the_id_clair_ttn_derives(tmp_path, organization, catalog):
    path = csv_file(
        tmp_path,
        HEADER
        + "00:04:A3:0B:00:1C:2F:5E,Küche,CLAIRCHEN,Clairchen Rev. B,Bar Lupe\n"
        + f"0004a30b001c2f5f,Flur,CLAIRCHEN,Clairchen Rev. B,{organization.pk}\n",
    )

    out, err = run(path)

    kitchen = Node.objects.get(alias="Küche")
    assert (kitchen.id, kitchen.eui64, kitchen.owner, kitchen.protocol, kitchen.model) == (
        CLAIRCHEN_ID_OF_0004A30B001C2F5E,
        "0004a30b001c2f5e",
        organization,
        *catalog,
    )
    assert Node.objects.get(alias="Flur").owner == organization
    assert out == "Imported 2 nodes.\n"
    # No terminal, no progress bar: cron mails stay clean.
    assert err == ""


def test_keeps_the_id_and_description_the_file_gives(tmp_path, organization, catalog):
    given = uuid.uuid4()
    path = csv_file(
        tmp_path,
        "description,id,organization,model,protocol,alias,eui64\n"
        + f'"Am Fenster, links",{given},Bar Lupe,Clairchen Rev. B,CLAIRCHEN,Küche,0004a30b001c2f5e\n',
    )

    run(path)

    assert Node.objects.get(pk=given).description == "Am Fenster, links"


def test_reports_every_bad_line_with_its_number_and_imports_nothing(tmp_path, organization, catalog):
    path = csv_file(
        tmp_path,
        HEADER
        + "0004a30b001c2f01,good,CLAIRCHEN,Clairchen Rev. B,Bar Lupe\n"
        + "0004a30b001c2fzz,bad eui,CLAIRCHEN,Clairchen Rev. B,Bar Lupe\n"
        + "0004a30b001c2f02,bad protocol,ELSYSERS,Clairchen Rev. B,Bar Lupe\n"
        + "\n"
        + "0004a30b001c2f03,bad model and organization,CLAIRCHEN,ERS CO2,Bar Lupo\n"
        + "0004a30b001c2f04,good too,CLAIRCHEN,Clairchen Rev. B,Bar Lupe\n"
        + "0004a30b001c2f05,,,Clairchen Rev. B,Bar Lupe\n",
    )

    complaint = refusal(path)

    assert complaint == [
        f"4 bad lines in {path}; nothing imported:",
        "line 3: eui64: An EUI-64 is 16 hexadecimal digits.",
        "line 4: protocol: unknown: “ELSYSERS” (known: CLAIRCHEN).",
        "line 6: model: unknown: “ERS CO2” (known: Clairchen Rev. B).",
        "line 6: organization: no organization with the id or name “Bar Lupo”.",
        "line 8: protocol: missing.",
    ]
    assert not Node.objects.exists()


def test_refuses_an_eui_that_is_in_the_file_twice(tmp_path, organization, catalog):
    path = csv_file(
        tmp_path,
        HEADER
        + "0004a30b001c2f5e,eins,CLAIRCHEN,Clairchen Rev. B,Bar Lupe\n"
        + "0004A30B001C2F5E,zwei,CLAIRCHEN,Clairchen Rev. B,Bar Lupe\n",
    )

    assert refusal(path)[1:] == ["line 3: eui64: 0004a30b001c2f5e is on line 2 already."]
    assert not Node.objects.exists()


def test_refuses_an_id_that_is_in_the_file_twice(tmp_path, organization, catalog):
    given = uuid.uuid4()
    path = csv_file(
        tmp_path,
        "eui64,alias,protocol,model,organization,id\n"
        + f"0004a30b001c2f01,eins,CLAIRCHEN,Clairchen Rev. B,Bar Lupe,{given}\n"
        + f"0004a30b001c2f02,zwei,CLAIRCHEN,Clairchen Rev. B,Bar Lupe,{given}\n"
        + "0004a30b001c2f03,drei,CLAIRCHEN,Clairchen Rev. B,Bar Lupe,not-a-uuid\n",
    )

    assert refusal(path)[1:] == [
        f"line 3: id: {given} is on line 2 already.",
        "line 4: id: “not-a-uuid” is not a UUID.",
    ]
    assert not Node.objects.exists()


def test_refuses_nodes_that_exist_already_once_per_line(tmp_path, organization, other_organization, catalog):
    stored = make_node(owner=other_organization, eui64="0004a30b001c2f5e")
    taken_id = make_node(owner=organization, eui64="0004a30b001c2f00").id
    path = csv_file(
        tmp_path,
        "eui64,alias,protocol,model,organization,id\n"
        + "0004A30B001C2F5E,again,CLAIRCHEN,Clairchen Rev. B,Bar Lupe,\n"
        + f"0004a30b001c2f01,same id,CLAIRCHEN,Clairchen Rev. B,Bar Lupe,{taken_id}\n"
        + "0004a30b001c2f02,fine,CLAIRCHEN,Clairchen Rev. B,Bar Lupe,\n",
    )

    assert refusal(path)[1:] == [
        "line 2: eui64: a node with the EUI-64 0004a30b001c2f5e exists already (of “Schule am Park”).",
        f"line 3: id: a node with the id {taken_id} exists already (EUI-64 0004a30b001c2f00).",
    ]
    assert Node.objects.count() == 2
    stored.refresh_from_db()
    assert stored.owner == other_organization


@pytest.mark.parametrize(
    ("header", "complaint"),
    [
        ("eui64,alias,protocol\n", "line 1: missing columns: model, organization"),
        ("eui,alias,protocol,model,organization\n", "line 1: missing column: eui64"),
        (HEADER.replace("\n", ",room\n"), "line 1: unknown column: room (known: eui64, alias"),
        (HEADER.replace("\n", ",alias\n"), "line 1: repeated column: alias"),
        ("", "line 1: the file is empty"),
    ],
)
def test_refuses_a_header_it_cannot_use(tmp_path, organization, catalog, header, complaint):
    row = "0004a30b001c2f5e,Küche,CLAIRCHEN,Clairchen Rev. B,Bar Lupe\n"
    path = csv_file(tmp_path, header + row if header else "")

    assert any(line.startswith(complaint) for line in refusal(path))
    assert not Node.objects.exists()


def test_refuses_a_line_with_too_few_or_many_fields(tmp_path, organization, catalog):
    path = csv_file(
        tmp_path,
        HEADER
        + "0004a30b001c2f01,eins,CLAIRCHEN,Clairchen Rev. B\n"
        + "0004a30b001c2f02,Bar, Küche,CLAIRCHEN,Clairchen Rev. B,Bar Lupe\n",
    )

    assert refusal(path)[1:] == [
        "line 2: 4 fields, but the header has 5.",
        "line 3: 6 fields, but the header has 5.",
    ]


def test_refuses_lines_that_are_not_utf8_and_still_checks_the_rest(tmp_path, organization, catalog):
    content = (
        HEADER
        + "0004a30b001c2f01,Bäckerei,CLAIRCHEN,Clairchen Rev. B,Bar Lupe\n"
        + "0004a30b001c2f02,Küche,CLAIRCHEN,Clairchen Rev. B,Bar Lupe\n"
        + "0004a30b001c2fxx,Flur,CLAIRCHEN,Clairchen Rev. B,Bar Lupe\n"
    ).encode("latin-1")
    path = csv_file(tmp_path, content)

    assert refusal(path)[1:] == [
        "line 2: not UTF-8 text (byte 0xe4); save the file as UTF-8.",
        "line 3: not UTF-8 text (byte 0xfc); save the file as UTF-8.",
        "line 4: eui64: An EUI-64 is 16 hexadecimal digits.",
    ]
    assert not Node.objects.exists()


def test_refuses_a_nul_character_or_a_field_too_long_for_csv(tmp_path, organization, catalog):
    path = csv_file(
        tmp_path,
        HEADER
        + "0004a30b001c2f01,Kü\x00che,CLAIRCHEN,Clairchen Rev. B,Bar Lupe\n"
        + f'0004a30b001c2f02,"{"x" * 200_000}",CLAIRCHEN,Clairchen Rev. B,Bar Lupe\n',
    )

    assert refusal(path)[1:] == [
        "line 2: contains a NUL character; is this a text file?",
        "line 3: not readable as CSV: field larger than field limit (131072).",
    ]
    assert not Node.objects.exists()


def test_reads_a_spreadsheets_export_with_byte_order_mark_and_semicolons(tmp_path, organization, catalog):
    content = (
        "\ufeffEUI64;Alias;Protocol;Model;Organization\r\n"
        "0004a30b001c2f5e;Küche;CLAIRCHEN;Clairchen Rev. B;Bar Lupe\r\n"
    )
    path = csv_file(tmp_path, content.encode("utf-8"))

    out, _ = run(path)

    assert out == "Imported 1 node.\n"
    assert Node.objects.get().id == CLAIRCHEN_ID_OF_0004A30B001C2F5E


def test_counts_lines_of_a_quoted_field_that_spans_lines(tmp_path, organization, catalog):
    path = csv_file(
        tmp_path,
        "eui64,alias,protocol,model,organization,description\n"
        + '0004a30b001c2f01,eins,CLAIRCHEN,Clairchen Rev. B,Bar Lupe,"erste Zeile\nzweite Zeile"\n'
        + "0004a30b001c2f0x,zwei,CLAIRCHEN,Clairchen Rev. B,Bar Lupe,\n",
    )

    assert refusal(path)[1:] == ["line 4: eui64: An EUI-64 is 16 hexadecimal digits."]


def test_dry_run_checks_the_file_but_imports_nothing(tmp_path, organization, catalog):
    path = csv_file(tmp_path, HEADER + "0004a30b001c2f5e,Küche,CLAIRCHEN,Clairchen Rev. B,Bar Lupe\n")

    out, _ = run(path, "--dry-run")

    assert out == "Checked 1 node: all fine; nothing imported (--dry-run).\n"
    assert not Node.objects.exists()


def test_dry_run_reports_bad_lines_too(tmp_path, organization, catalog):
    path = csv_file(tmp_path, HEADER + "0004a30b001c2f5e,Küche,CLAIRCHEN,Clairchen Rev. B,Nirgendwo\n")

    assert refusal(path, "--dry-run")[1:] == ["line 2: organization: no organization with the id or name “Nirgendwo”."]


def test_reads_standard_input_given_a_dash(monkeypatch, organization, catalog):
    content = HEADER + "0004a30b001c2f5e,Küche,CLAIRCHEN,Clairchen Rev. B,Bar Lupe\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(content.encode("utf-8"))))

    out, _ = run("-")

    assert out == "Imported 1 node.\n"
    assert Node.objects.get().alias == "Küche"


def test_refuses_a_file_it_cannot_read(tmp_path):
    missing = str(tmp_path / "nodes.csv")

    with pytest.raises(CommandError, match=f"Cannot read {missing}: No such file or directory."):
        run(missing)


def test_refuses_an_organization_named_like_another_ones_id(tmp_path, organization, catalog):
    make_organization(name=str(organization.pk))
    path = csv_file(tmp_path, HEADER + f"0004a30b001c2f5e,Küche,CLAIRCHEN,Clairchen Rev. B,{organization.pk}\n")

    assert "ambiguous" in refusal(path)[1]
    assert not Node.objects.exists()


def test_imports_nothing_when_a_node_is_stored_by_someone_else_meanwhile(tmp_path, monkeypatch, organization, catalog):
    make_node(owner=organization, eui64="0004a30b001c2f02")
    # As if the other node had been stored between the check and the insert.
    monkeypatch.setattr(node_import, "_already_stored", lambda rows: [])
    path = csv_file(
        tmp_path,
        HEADER
        + "0004a30b001c2f01,eins,CLAIRCHEN,Clairchen Rev. B,Bar Lupe\n"
        + "0004a30b001c2f02,zwei,CLAIRCHEN,Clairchen Rev. B,Bar Lupe\n",
    )

    with pytest.raises(CommandError, match="stored by someone else meanwhile; nothing imported"):
        run(path)
    assert list(Node.objects.values_list("eui64", flat=True)) == ["0004a30b001c2f02"]


@pytest.mark.django_db(transaction=True)
def test_a_real_process_exits_with_every_bad_line_on_stderr(tmp_path):
    make_organization(name="Bar Lupe")
    make_protocol("CLAIRCHEN")
    make_node_model("Clairchen Rev. B")
    path = csv_file(
        tmp_path,
        HEADER
        + "0004a30b001c2f01,good,CLAIRCHEN,Clairchen Rev. B,Bar Lupe\n"
        + "0004a30b001c2f0g,bad eui,CLAIRCHEN,Clairchen Rev. B,Bar Lupe\n"
        + "0004a30b001c2f03,bad organization,CLAIRCHEN,Clairchen Rev. B,Bar Lupo\n",
    )
    result = manage("import_nodes", path)

    assert result.returncode == 1
    assert f"CommandError: 2 bad lines in {path}; nothing imported:" in result.stderr
    assert "line 3: eui64: An EUI-64 is 16 hexadecimal digits." in result.stderr
    assert "line 4: organization: no organization with the id or name “Bar Lupo”." in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not Node.objects.exists()
