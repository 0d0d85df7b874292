"""``manage.py backup_inventory``: the inventory as one JSON document (see ``core.inventory_backup``)."""

import json
import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.inventory_backup import KINDS, backup


class Command(BaseCommand):
    help = (
        "Write the inventory as one JSON document: organizations, memberships, addresses, sites, rooms, nodes, "
        "installations and the catalog they use (quantities, protocols, node models). Not in it: samples, node "
        "fidelity, ingest keys, webhooks, passwords. Users appear by username and e-mail only. Installation "
        "images appear by file name only: back up MEDIA_ROOT/installations/ as well. "
        "Restore with 'manage.py restore_inventory'."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "-o", "--output", default="-", metavar="PATH|-",
            help="Where to write the backup; '-' (the default): stdout. An existing file is replaced "
            "only once the backup is complete.",
        )  # fmt: skip
        parser.add_argument(
            "--organization", dest="organizations", type=int, nargs="+", action="extend", metavar="ID",
            help="Only these organizations (ids; repeatable), their members and the catalog entries their nodes "
            "use. Default: everything.",
        )  # fmt: skip

    def handle(self, *args, output: str, organizations: list[int] | None, **options):
        try:
            document = backup(organizations)
        except LookupError as error:
            raise CommandError(str(error)) from None
        text = json.dumps(document, indent=1, ensure_ascii=False)
        counts = ", ".join(f"{len(document['objects'][kind.name])} {kind.name}" for kind in KINDS)
        if output == "-":
            self.stdout.write(text)
            # The document owns stdout; the summary must not end up inside it.
            self.stderr.write(f"Backed up {counts}.")
            return
        write_atomically(Path(output), text + "\n")
        self.stdout.write(f"Backed up {counts} to {output}.")


def write_atomically(path: Path, text: str) -> None:
    """Write to a temporary file beside ``path`` and move it there, so that a
    failed backup never leaves half a file where the last good one was."""
    partial = None
    try:
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", suffix=".partial", delete=False
        ) as partial:
            partial.write(text)
        os.replace(partial.name, path)
    except OSError as error:
        if partial is not None:
            Path(partial.name).unlink(missing_ok=True)
        raise CommandError(f"Cannot write {path}: {error.strerror or error}.") from None
