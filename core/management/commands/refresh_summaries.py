from django.core.management.base import BaseCommand

from core import hourly


class Command(BaseCommand):
    help = (
        "Recompute the hourly summaries of samples whose hours have changed (the task cluster does this "
        "every 5 minutes; time series are correct without it, only slower)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--time-budget", type=float, default=600.0, metavar="SECONDS",
            help="Stop after about this long; run again to continue (default: 600).",
        )  # fmt: skip

    def handle(self, *args, time_budget: float, **options):
        count = hourly.refresh(time_budget_s=time_budget)
        self.stdout.write(f"{count} hours recomputed.")
