"""``manage.py archive_samples``: move samples older than a retention period
into compressed JSON Lines files, one per node and month, and remove them
from the database once their files are written and verified: a month that
ended before the cutoff and has a partition of its own by dropping the
partition, every other sample row by row (see ``core.sample_archive``)."""

from datetime import timedelta
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from core import sample_archive


class Command(BaseCommand):
    help = (
        "Archive samples older than --older-than days to DIR/<node id>/<YYYY-MM>.jsonl.gz (one gzip-compressed "
        "JSON Lines file per node and UTC month, merged with a file an earlier run left) and remove them from "
        "the database once their files are verified: a month that ended before the cutoff and has a partition "
        "of its own (PostgreSQL) by dropping the partition, every other sample by deleting its row. A month "
        "whose files fail keeps its samples; the command then exits non-zero."
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
            "--dry-run", action="store_true",
            help="Only say how many files and samples there would be, and which partitions would be dropped.",
        )  # fmt: skip

    def handle(self, *args, days: int, directory: Path, dry_run: bool, **options):
        if days < 1:
            raise CommandError("--older-than must be at least 1 day.")
        if not directory.is_dir():
            raise CommandError(f"--directory {directory} is not a directory.")
        try:
            cutoff = timezone.now() - timedelta(days=days)
        except OverflowError:
            raise CommandError(f"--older-than {days} days reaches before the year 1.") from None
        plan = sample_archive.plan(cutoff)
        # OutputWrapper.write would end every redraw of the bar with a newline.
        progress = tqdm(total=plan.files, unit=" node-months", file=self.stderr._out, disable=None)
        with progress:
            if dry_run:
                self._dry_run(plan, cutoff, progress)
            else:
                self._archive(plan, cutoff, directory, progress)

    def _dry_run(self, plan: sample_archive.Plan, cutoff, progress: tqdm) -> None:
        samples = 0
        for partition_month in plan.partition_months:
            in_month = 0
            for node_month in partition_month.node_months:
                in_month += sample_archive.pending(node_month, cutoff)
                progress.update()
            samples += in_month
            self._say(progress, f"{partition_month}: {_nodes(partition_month)}, {in_month:,} samples to archive, "
                                "partition to drop.")  # fmt: skip
        deleted = 0
        for node_month in plan.node_months:
            deleted += sample_archive.pending(node_month, cutoff)
            progress.update()
        self.stdout.write(
            f"Dry run: would write {plan.files:,} files and archive {samples + deleted:,} samples older than "
            f"{cutoff:%Y-%m-%d %H:%M:%S} UTC, delete {deleted:,} of them row by row and drop "
            f"{len(plan.partition_months)} partitions; nothing written, deleted or dropped."
        )

    def _archive(self, plan: sample_archive.Plan, cutoff, directory: Path, progress: tqdm) -> None:
        files = archived = deleted = dropped = 0
        failed_months, failed_node_months = [], []
        for partition_month in plan.partition_months:
            try:
                outcome = sample_archive.archive_month(partition_month, directory, written_one=progress.update)
            except sample_archive.ArchiveError as error:
                failed_months.append(partition_month)
                self._say(progress, f"{partition_month}: {error}; partition kept, none of its samples removed.",
                          error=True)  # fmt: skip
                continue
            files += len(partition_month.node_months)
            archived += outcome.archived
            dropped += 1
            self._say(progress, f"{partition_month}: {_nodes(partition_month)}, {outcome.archived:,} samples "
                                "archived, partition dropped.")  # fmt: skip
        for node_month in plan.node_months:
            try:
                outcome = sample_archive.archive(node_month, cutoff, directory)
            except sample_archive.ArchiveError as error:
                failed_node_months.append(node_month)
                self._say(progress, f"{node_month}: {error}; none of its samples deleted.", error=True)
                continue
            finally:
                progress.update()
            files += 1
            archived += outcome.archived
            deleted += outcome.deleted
        self.stdout.write(
            f"{files:,} files written, {archived:,} samples archived, {deleted:,} samples deleted, "
            f"{dropped} partitions dropped."
        )
        failed = []
        if failed_months:
            failed.append(f"{len(failed_months)} of {len(plan.partition_months)} months with a partition")
        if failed_node_months:
            failed.append(f"{len(failed_node_months)} of {len(plan.node_months)} node-months")
        if failed:
            raise CommandError(
                f"{' and '.join(failed)} failed (see above); their samples are still in the database. Run again "
                "once the cause is fixed."
            )

    def _say(self, progress: tqdm, line: str, *, error: bool = False) -> None:
        # Past the bar, which redraws below the line.
        progress.write(line, file=(self.stderr if error else self.stdout)._out)


def _nodes(partition_month: sample_archive.PartitionMonth) -> str:
    count = len(partition_month.node_months)
    return f"{count:,} node" + ("" if count == 1 else "s")
