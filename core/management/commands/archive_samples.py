"""``manage.py archive_samples``: move samples older than a retention period
into compressed JSON Lines files, one per node and month, and delete them
from the database once their file is written and verified (see
``core.sample_archive``)."""

from datetime import timedelta
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from core import sample_archive


class Command(BaseCommand):
    help = (
        "Archive samples older than --older-than days to DIR/<node id>/<YYYY-MM>.jsonl.gz (one gzip-compressed "
        "JSON Lines file per node and UTC month, merged with a file an earlier run left) and delete them from "
        "the database once their file is verified. A month whose file fails keeps its samples; the command "
        "then exits non-zero."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than", dest="days", type=int, required=True, metavar="DAYS",
            help="Archive samples older than this many days (at least 1).",
        )  # fmt: skip
        parser.add_argument(
            "--directory", type=Path, required=True, metavar="DIR",
            help="Where the archive lives; it must exist (so that an unmounted disk is not filled by mistake).",
        )  # fmt: skip
        parser.add_argument(
            "--dry-run", action="store_true", help="Only say how many files and samples there would be."
        )

    def handle(self, *args, days: int, directory: Path, dry_run: bool, **options):
        if days < 1:
            raise CommandError("--older-than must be at least 1 day.")
        if not directory.is_dir():
            raise CommandError(f"--directory {directory} is not a directory.")
        try:
            cutoff = timezone.now() - timedelta(days=days)
        except OverflowError:
            raise CommandError(f"--older-than {days} days reaches before the year 1.") from None
        node_months = sample_archive.node_months(cutoff)
        # OutputWrapper.write would end every redraw of the bar with a newline.
        progress = tqdm(node_months, unit=" node-months", file=self.stderr._out, disable=None)
        if dry_run:
            samples = sum(sample_archive.pending(node_month, cutoff) for node_month in progress)
            self.stdout.write(
                f"Dry run: would write {len(node_months)} files and archive and delete {samples} samples "
                f"older than {cutoff:%Y-%m-%d %H:%M:%S} UTC; nothing written or deleted."
            )
            return
        files = archived = deleted = 0
        failures = []
        for node_month in progress:
            try:
                outcome = sample_archive.archive(node_month, cutoff, directory)
            except sample_archive.ArchiveError as error:
                failures.append(node_month)
                progress.write(f"{node_month}: {error}; none of its samples deleted.", file=self.stderr._out)
                continue
            files += 1
            archived += outcome.archived
            deleted += outcome.deleted
        self.stdout.write(f"{files} files written, {archived} samples archived, {deleted} samples deleted.")
        if failures:
            raise CommandError(
                f"{len(failures)} of {len(node_months)} node-months failed (see above); their samples are still "
                "in the database. Run again once the cause is fixed."
            )
