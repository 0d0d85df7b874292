"""``manage.py restore_inventory``: write an inventory backup back (see ``core.inventory_backup``)."""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from core.inventory_backup import KINDS, InvalidBackup, RestoreRefused, count_objects, load_document, restore

_MAX_PROBLEMS_SHOWN = 50


class Command(BaseCommand):
    help = (
        "Restore an inventory backup written by 'manage.py backup_inventory', all or nothing, in one transaction. "
        "Objects the database lacks are created with the backup's ids; objects it has with the same content are "
        "left alone (restoring twice changes nothing); objects it has with other content make the restore fail, "
        "listing each one, and nothing is written. Nothing is deleted. Users the database lacks are created "
        "without a usable password: they must reset it (password reset by e-mail) before they can log in. "
        "Installation images are restored by file name only: put the files back into MEDIA_ROOT yourself."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", metavar="PATH|-", help="The backup file; '-': read it from stdin.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check the backup against the database, report, write nothing."
        )

    def handle(self, *args, path: str, dry_run: bool, **options):
        document = self.read(path)
        # The bar writes carriage returns; the command's wrapper would end each with a newline.
        with tqdm(
            total=count_objects(document), desc="Restoring", unit=" objects", file=self.stderr._out, disable=None
        ) as bar:
            try:
                outcome = restore(document, dry_run=dry_run, advance=bar.update)
            except RestoreRefused as refused:
                raise CommandError(self.refusal(path, refused.problems)) from None
        for kind in KINDS:
            created, unchanged = outcome.created[kind.name], outcome.unchanged[kind.name]
            if created or unchanged:
                self.stdout.write(
                    f"{kind.name}: {created} {'to create' if dry_run else 'created'}, {unchanged} unchanged"
                )
        if not any(outcome.created.values()):
            self.stdout.write("Nothing to restore: the database holds everything in the backup already.")
        elif dry_run:
            self.stdout.write("Dry run: nothing was written.")
        if outcome.created["users"] and not dry_run:
            self.stdout.write(
                f"{outcome.created['users']} users were created without a usable password: "
                "they must reset their password before they can log in."
            )

    def read(self, path: str) -> dict:
        name = "stdin" if path == "-" else path
        try:
            text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise CommandError(f"Cannot read {name}: {error.strerror or error}.") from None
        except UnicodeDecodeError:
            raise CommandError(f"Cannot read {name}: it is not UTF-8 text.") from None
        try:
            return load_document(text)
        except InvalidBackup as error:
            raise CommandError(f"{name} is {error}.") from None

    def refusal(self, path: str, problems: list[str]) -> str:
        shown = [f"  - {problem}" for problem in problems[:_MAX_PROBLEMS_SHOWN]]
        if len(problems) > _MAX_PROBLEMS_SHOWN:
            shown.append(f"  … and {len(problems) - _MAX_PROBLEMS_SHOWN} more")
        source = "stdin" if path == "-" else path
        return "\n".join(
            [f"Nothing was restored: {len(problems)} objects in {source} do not fit the database:", *shown]
        )
