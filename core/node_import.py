"""Importing nodes from a CSV file: every line is checked before anything is
written, and a file with a single bad line imports nothing.

Columns (header on line 1, in any order): eui64, alias, protocol (its
identifier), model (its name), organization (id or exact name); optional: id
(a UUID; derived from protocol and EUI the way clair-ttn does when absent) and
description.
"""

import csv
import io
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction

from core.models import Node, NodeModel, Protocol, derive_node_id
from user_manager.models import Organization

REQUIRED_COLUMNS = ("eui64", "alias", "protocol", "model", "organization")
OPTIONAL_COLUMNS = ("id", "description")
_BATCH_SIZE = 1000

Progress = Callable[[Iterable, int], Iterable]


def _no_progress(rows: Iterable, total: int) -> Iterable:
    return rows


@dataclass(frozen=True)
class Problem:
    line: int
    message: str
    column: str | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: {self.column}" if self.column else f"line {self.line}"
        return f"{where}: {self.message}"


class ImportRefused(Exception):
    """The file has bad lines; nothing was imported."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda problem: problem.line)
        super().__init__("\n".join(str(problem) for problem in self.problems))


@dataclass
class _Row:
    line: int
    values: dict[str, str]
    node: Node | None = None


def import_nodes(data: bytes, *, dry_run: bool = False, progress: Progress = _no_progress) -> list[Node]:
    """The nodes the file describes, stored unless ``dry_run``; raises
    ``ImportRefused`` naming every bad line."""
    with transaction.atomic():
        nodes = validate(data, progress=progress)
        if not dry_run:
            Node.objects.bulk_create(nodes, batch_size=_BATCH_SIZE)
    return nodes


def validate(data: bytes, *, progress: Progress = _no_progress) -> list[Node]:
    rows, problems = _read(data)
    problems += _check_rows(rows, progress)
    if problems:
        raise ImportRefused(problems)
    return [row.node for row in rows]


def _read(data: bytes) -> tuple[list[_Row], list[Problem]]:
    problems = []
    undecodable = set()
    for number, line in enumerate(data.splitlines(), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as error:
            undecodable.add(number)
            problems.append(
                Problem(number, f"not UTF-8 text (byte 0x{line[error.start]:02x}); save the file as UTF-8.")
            )
    # Spreadsheets put a byte order mark before the header.
    text = data.decode("utf-8-sig", errors="replace")
    if not text.strip():
        return [], [Problem(1, f"the file is empty; expected a header line: {','.join(REQUIRED_COLUMNS)}")]

    first_line = text.splitlines()[0]
    # Spreadsheets set to German write semicolons.
    delimiter = ";" if ";" in first_line and "," not in first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records = []
    try:
        records.extend(_records(reader))
    except csv.Error as error:
        # The reader cannot go on after this (e.g. a field over its size limit); the lines before it are checked.
        problems.append(Problem(reader.line_num, f"not readable as CSV: {error}."))
    if not records:
        return [], problems
    _, header = records[0]
    columns = [name.strip().lower() for name in header]
    header_problems = _check_header(columns)
    if header_problems:
        return [], problems + header_problems

    rows = []
    for (first, last), cells in records[1:]:
        if not any(cell.strip() for cell in cells):
            continue
        if any(number in undecodable for number in range(first, last + 1)):
            continue
        if len(cells) != len(columns):
            problems.append(Problem(first, f"{len(cells)} fields, but the header has {len(columns)}."))
            continue
        if any("\x00" in cell for cell in cells):
            # PostgreSQL stores no NUL in text; binary junk rather than a node.
            problems.append(Problem(first, "contains a NUL character; is this a text file?"))
            continue
        rows.append(_Row(first, {column: cell.strip() for column, cell in zip(columns, cells, strict=True)}))
    return rows, problems


def _records(reader) -> Iterator[tuple[tuple[int, int], list[str]]]:
    """Each record with the numbers of its first and last line (a quoted field may span lines)."""
    last = 0
    for cells in reader:
        yield (last + 1, reader.line_num), cells
        last = reader.line_num


def _check_header(columns: list[str]) -> list[Problem]:
    problems = []
    missing = [column for column in REQUIRED_COLUMNS if column not in columns]
    if missing:
        problems.append(Problem(1, _columns("missing", missing)))
    unknown = [column for column in columns if column not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        known = ", ".join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
        problems.append(Problem(1, f"{_columns('unknown', unknown)} (known: {known})"))
    repeated = sorted({column for column in columns if columns.count(column) > 1})
    if repeated:
        problems.append(Problem(1, _columns("repeated", repeated)))
    return problems


def _columns(what: str, names: list[str]) -> str:
    return f"{what} column{'s' if len(names) > 1 else ''}: {', '.join(name or '(empty)' for name in names)}"


def _check_rows(rows: list[_Row], progress: Progress) -> list[Problem]:
    protocols = _Catalog(Protocol.objects.all(), "identifier", "protocol", {row.values["protocol"] for row in rows})
    models = _Catalog(NodeModel.objects.all(), "name", "model", {row.values["model"] for row in rows})
    organizations = _Organizations({row.values["organization"] for row in rows})

    problems = []
    first_line_of_eui, first_line_of_id = {}, {}
    for row in progress(rows, len(rows)):
        row_problems = []
        values = row.values
        protocol = protocols.lookup(values["protocol"], row_problems, row.line)
        model = models.lookup(values["model"], row_problems, row.line)
        owner = organizations.lookup(values["organization"], row_problems, row.line)
        node = Node(
            eui64=values["eui64"],
            alias=values["alias"],
            description=values.get("description", ""),
            protocol=protocol,
            model=model,
            owner=owner,
        )
        try:
            # No query per row: relations were resolved above and uniqueness is checked
            # for the whole file below; the EUI field's validator (which also normalises
            # the EUI) checks the same pattern as the CHECK constraint; and the id is set
            # only afterwards, as with a primary key clean() would look the node up.
            node.full_clean(
                exclude=["id", "protocol", "model", "owner"], validate_unique=False, validate_constraints=False
            )
        except ValidationError as error:
            row_problems += [
                Problem(row.line, " ".join(messages), None if field == NON_FIELD_ERRORS else field)
                for field, messages in error.message_dict.items()
            ]
        eui_is_bad = any(problem.column == "eui64" for problem in row_problems)
        given_id = values.get("id", "")
        node.id = _node_id(given_id, protocol, None if eui_is_bad else node.eui64, row_problems, row.line)

        if not eui_is_bad:
            eui_is_bad = _is_repeated(first_line_of_eui, node.eui64, "eui64", row_problems, row.line)
        # A repeated EUI repeats the id derived from it; saying so once is enough.
        if node.id is not None and (given_id or not eui_is_bad):
            _is_repeated(first_line_of_id, node.id, "id", row_problems, row.line)
        if not row_problems:
            row.node = node
        problems += row_problems

    return problems + _already_stored([row for row in rows if row.node is not None])


class _Catalog:
    """Protocols or node models named in the file, by their unique name, in one query."""

    def __init__(self, queryset, field: str, column: str, wanted: set[str]):
        self.queryset, self.field, self.column = queryset, field, column
        self.found = {getattr(obj, field): obj for obj in queryset.filter(**{f"{field}__in": wanted})}
        self.choices = None

    def lookup(self, given: str, problems: list[Problem], line: int):
        if not given:
            problems.append(Problem(line, "missing.", self.column))
            return None
        found = self.found.get(given)
        if found is None:
            if self.choices is None:
                self.choices = ", ".join(self.queryset.values_list(self.field, flat=True)) or "none yet"
            problems.append(Problem(line, f"unknown: “{given}” (known: {self.choices}).", self.column))
        return found


class _Organizations:
    """Organizations named in the file, by id or exact name, in two queries."""

    def __init__(self, wanted: set[str]):
        self.by_name = {o.name: o for o in Organization.objects.filter(name__in=wanted)}
        self.by_id = {str(o.pk): o for o in Organization.objects.filter(pk__in=[int(w) for w in wanted if w.isdigit()])}

    def lookup(self, given: str, problems: list[Problem], line: int) -> Organization | None:
        if not given:
            problems.append(Problem(line, "missing.", "organization"))
            return None
        by_name, by_id = self.by_name.get(given), self.by_id.get(given)
        if by_name and by_id and by_name != by_id:
            problems.append(
                Problem(
                    line,
                    f"“{given}” is ambiguous: the id of “{by_id}” and the name of the organization "
                    f"with id {by_name.pk}.",
                    "organization",
                )
            )
            return None
        found = by_name or by_id
        if found is None:
            problems.append(Problem(line, f"no organization with the id or name “{given}”.", "organization"))
        return found


def _node_id(
    given: str, protocol: Protocol | None, eui64: str | None, problems: list[Problem], line: int
) -> uuid.UUID | None:
    if given:
        try:
            return uuid.UUID(given)
        except ValueError:
            problems.append(Problem(line, f"“{given}” is not a UUID.", "id"))
            return None
    if protocol is None or eui64 is None:
        return None
    return derive_node_id(protocol.identifier, eui64)


def _is_repeated(first_lines: dict, value, column: str, problems: list[Problem], line: int) -> bool:
    first = first_lines.setdefault(value, line)
    if first != line:
        problems.append(Problem(line, f"{value} is on line {first} already.", column))
    return first != line


def _already_stored(rows: list[_Row]) -> list[Problem]:
    """Rows whose node exists (one message per row: importing a file twice
    should not say everything twice)."""
    stored_euis = dict(
        Node.objects.filter(eui64__in=[row.node.eui64 for row in rows]).values_list("eui64", "owner__name")
    )
    stored_ids = dict(Node.objects.filter(pk__in=[row.node.id for row in rows]).values_list("pk", "eui64"))
    problems = []
    for row in rows:
        if row.node.eui64 in stored_euis:
            problems.append(
                Problem(
                    row.line,
                    f"a node with the EUI-64 {row.node.eui64} exists already (of “{stored_euis[row.node.eui64]}”).",
                    "eui64",
                )
            )
        elif row.node.id in stored_ids:
            problems.append(
                Problem(
                    row.line,
                    f"a node with the id {row.node.id} exists already (EUI-64 {stored_ids[row.node.id]}).",
                    "id",
                )
            )
        else:
            continue
        row.node = None
    return problems
