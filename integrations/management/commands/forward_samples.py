from django.core.management.base import BaseCommand

from integrations.drain import drain, due_streams


class Command(BaseCommand):
    help = (
        "Send the samples waiting for other platforms now, in this process (the task cluster does this "
        "by itself; use this from cron without one, or to see what happens)."
    )

    def handle(self, *args, verbosity: int, **options):
        streams = list(due_streams().values_list("pk", flat=True))
        for stream_id in streams:
            outcome = drain(stream_id)
            if verbosity > 0:
                self.stdout.write(outcome)
        if verbosity > 0:
            self.stdout.write(f"{len(streams)} stream(s) drained.")
