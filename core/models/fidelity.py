"""Whether a node still reports: its last contact, the status derived from it,
and the history of status changes."""

from datetime import datetime, timedelta

from django.db import models

from core.models.inventory import Node


class Fidelity(models.TextChoices):
    UNKNOWN = "U", "unknown: never reported"
    ALIVE = "E", "alive"
    MISSING = "M", "missing"
    DEAD = "D", "dead"


# Down: the owners hear when a node gets there, and again when it leaves.
DOWN = (Fidelity.MISSING, Fidelity.DEAD)


def fidelity_at(last_contact: datetime | None, now: datetime, alive_period: timedelta) -> Fidelity:
    """A node's status at ``now``: alive while its last contact lies within the
    alive period, missing within twice that, dead beyond; unknown if it never
    reported. ``core.fidelity`` computes the same in SQL for all nodes at once."""
    if last_contact is None:
        return Fidelity.UNKNOWN
    silent = now - last_contact
    if silent <= alive_period:
        return Fidelity.ALIVE
    if silent <= 2 * alive_period:
        return Fidelity.MISSING
    return Fidelity.DEAD


class NodeFidelity(models.Model):
    """The latest fidelity of one node (the API's ``Fidelity``; its id is the
    node's id). Ingest moves ``last_contact`` forward; the scheduled check
    (``core.fidelity.check``) derives ``fidelity`` from it."""

    Status = Fidelity

    node = models.OneToOneField(Node, on_delete=models.CASCADE, primary_key=True, related_name="fidelity")
    fidelity = models.CharField(max_length=1, choices=Fidelity.choices, default=Fidelity.UNKNOWN)
    # When the latest sample arrived (not the sample's own timestamp: a node
    # replaying a backlog is alive now).
    last_contact = models.DateTimeField(null=True, blank=True)
    # When the owners last heard about this node being down or back, so that
    # reminders come at most once per FIDELITY_REMINDER_PERIOD_S.
    last_notified = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "node fidelity"
        verbose_name_plural = "node fidelity"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(fidelity__in=["U", "E", "M", "D"]), name="nodefidelity_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.node}: {self.get_fidelity_display()}"


class FidelityEvent(models.Model):
    """One change of a node's fidelity, as the check saw it."""

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="fidelity_events", db_index=False)
    old = models.CharField(max_length=1, choices=Fidelity.choices)
    new = models.CharField(max_length=1, choices=Fidelity.choices)
    timestamp = models.DateTimeField()

    class Meta:
        ordering = ["-timestamp", "-id"]
        indexes = [models.Index(fields=["node", "-timestamp"], name="fidelityevent_node_time")]

    def __str__(self) -> str:
        return f"{self.node_id}: {self.old} → {self.new} @ {self.timestamp:%Y-%m-%d %H:%M}"


class FidelityCheck(models.Model):
    """The latest run of the check (one row): when, and what it found. It
    checks every node at once, so this is each node's ``last_check_s``; one
    row spares the check rewriting every node's row (and locking it against
    ingest) on each run."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    checked_at = models.DateTimeField()
    nodes = models.PositiveIntegerField()
    changes = models.PositiveIntegerField()
    duration_ms = models.PositiveIntegerField()

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="fidelitycheck_single_row")]

    def __str__(self) -> str:
        return f"{self.checked_at:%Y-%m-%d %H:%M:%S}: {self.nodes} nodes, {self.changes} changes"
