"""Whether a node still reports: its last contact and the status derived from it."""

from django.db import models

from core.models.inventory import Node


class NodeFidelity(models.Model):
    """The latest fidelity check of one node (the API's ``Fidelity``; its id
    is the node's id). Ingest moves ``last_contact`` forward; the scheduled
    check derives ``fidelity`` from it."""

    class Status(models.TextChoices):
        UNKNOWN = "U", "unknown: never reported"
        ALIVE = "E", "alive"
        MISSING = "M", "missing"
        DEAD = "D", "dead"

    node = models.OneToOneField(Node, on_delete=models.CASCADE, primary_key=True, related_name="fidelity")
    fidelity = models.CharField(max_length=1, choices=Status.choices, default=Status.UNKNOWN)
    # When the latest sample arrived (not the sample's own timestamp: a node
    # replaying a backlog is alive now).
    last_contact = models.DateTimeField(null=True, blank=True)
    last_check = models.DateTimeField(null=True, blank=True)

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
