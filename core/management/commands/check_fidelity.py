from django.core.management.base import BaseCommand

from core import fidelity


class Command(BaseCommand):
    help = (
        "Check once whether every node still reports, record status changes and e-mail the owners "
        "(for cron, where no task cluster runs the check; NODE_FIDELITY=1 schedules it in the cluster)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--queue-mail", action="store_true",
            help="Leave the e-mails to the task cluster instead of sending them from this command.",
        )  # fmt: skip

    def handle(self, *args, queue_mail: bool, **options):
        outcome = fidelity.check(notify_inline=not queue_mail)
        if outcome.skipped:
            self.stderr.write("Another fidelity check is running; nothing done.")
            return
        self.stdout.write(
            f"{outcome.nodes} nodes checked, {len(outcome.changes)} changed, "
            f"{len(outcome.notifications)} organizations notified."
        )
