"""The work the task cluster does on a schedule, registered when the
database is migrated, so that no one has to click schedules together in the
admin (and no deployment forgets one)."""

from dataclasses import dataclass

from django.conf import settings
from django_q.models import Schedule


@dataclass(frozen=True)
class Every:
    name: str
    func: str
    minutes: int


HOURLY_SUMMARIES = "Refresh hourly summaries"
FIDELITY = "Check node fidelity"
HEARTBEAT = "Heartbeat"
HEARTBEAT_FUNC = "core.schedules.heartbeat"
SAMPLE_PARTITIONS = "Prepare sample partitions"


def heartbeat() -> str:
    """Does nothing: its stored result tells /readyz that the cluster runs tasks."""
    return "alive"


def scheduled() -> list[Every]:
    """The schedules the settings ask for."""
    schedules = [
        Every(HEARTBEAT, HEARTBEAT_FUNC, minutes=1),
        # Only speed depends on it: readers compute stale hours themselves.
        Every(HOURLY_SUMMARIES, "core.hourly.refresh", minutes=5),
        # Months ahead are kept ready, so a missed day or two changes nothing.
        Every(SAMPLE_PARTITIONS, "core.partitions.scheduled_prepare", minutes=24 * 60),
    ]
    if settings.NODE_FIDELITY:
        schedules.append(Every(FIDELITY, "core.fidelity.scheduled_check", minutes=settings.FIDELITY_CHECK_MINUTES))
    return schedules


def ensure_schedules(using: str = "default", **kwargs) -> None:
    """Create or correct each schedule the settings ask for, keeping its next
    run, and remove ours they no longer ask for (a post_migrate receiver:
    runs on every migrate, and must not postpone work each time)."""
    sync_schedules(scheduled(), ours={HEARTBEAT, HOURLY_SUMMARIES, SAMPLE_PARTITIONS, FIDELITY}, using=using)


def sync_schedules(wanted: list[Every], *, ours: set[str], using: str = "default") -> None:
    """Make the schedules named in ``ours`` exactly ``wanted`` (other apps
    register theirs with it too)."""
    for every in wanted:
        Schedule.objects.using(using).update_or_create(
            name=every.name,
            defaults={
                "func": every.func,
                "schedule_type": Schedule.MINUTES,
                "minutes": every.minutes,
                "repeats": -1,
            },
        )
    unwanted = ours - {every.name for every in wanted}
    Schedule.objects.using(using).filter(name__in=unwanted).delete()
