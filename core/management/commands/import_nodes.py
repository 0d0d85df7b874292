"""``manage.py import_nodes``: create nodes from a CSV file, all or none (the
rules are in ``core.node_import``)."""

import sys

from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError
from tqdm import tqdm

from core.node_import import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, ImportRefused, import_nodes


class Command(BaseCommand):
    help = (
        f"Create nodes from a CSV file with the header columns {', '.join(REQUIRED_COLUMNS)} "
        f"(optional: {', '.join(OPTIONAL_COLUMNS)}). protocol is the protocol's identifier, model the model's name, "
        "organization its id or exact name; without an id, the node's UUID is derived from protocol and EUI "
        "as clair-ttn derives it. Every line is checked first: if any is bad, all bad lines are listed "
        "and nothing is imported."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="The CSV file (UTF-8), or - to read standard input.")
        parser.add_argument("--dry-run", action="store_true", help="Check the file only; import nothing.")

    def handle(self, *args, path: str, dry_run: bool, **options):
        data = self.read(path)
        try:
            nodes = import_nodes(data, dry_run=dry_run, progress=self.progress)
        except ImportRefused as refusal:
            count = len({problem.line for problem in refusal.problems})
            where = "standard input" if path == "-" else path
            raise CommandError(
                f"{count} bad line{'s' if count > 1 else ''} in {where}; nothing imported:\n{refusal}"
            ) from refusal
        except IntegrityError as error:
            # Checked a moment ago, so another process stored one of these nodes meanwhile.
            raise CommandError(
                f"A node of the file was stored by someone else meanwhile; nothing imported. Run again to see which. "
                f"({error})"
            ) from error
        counted = f"{len(nodes)} node{'' if len(nodes) == 1 else 's'}"
        if dry_run:
            self.stdout.write(f"Checked {counted}: all fine; nothing imported (--dry-run).")
        else:
            self.stdout.write(f"Imported {counted}.")

    def read(self, path: str) -> bytes:
        if path == "-":
            return sys.stdin.buffer.read()
        try:
            with open(path, "rb") as file:
                return file.read()
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror}.") from error

    def progress(self, rows, total: int):
        # tqdm needs the raw stream: Django's wrapper would end every redraw with a newline.
        # disable=None: silent unless stderr is a terminal (tests, cron).
        return tqdm(rows, total=total, file=self.stderr._out, disable=None, desc="Checking", unit=" nodes")
