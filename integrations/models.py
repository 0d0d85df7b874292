"""The outbox: which samples still have to reach which destination.

A *stream* is one installation's public samples on their way to one
destination of one integration (Stadtpuls: one per installation; a webhook:
one per installation of its organization). Streams keep the order of their
samples and back off on their own, so one slow destination never holds up
another. A sample waits as a ``PendingSample`` until a drain puts it into a
``Batch``, whose id is the delivery id sent with every attempt; a delivered
batch is deleted with its samples, a batch refused for good stays as a dead
letter until staff retry or delete it.
"""

import uuid

from django.db import models
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce

from core.models import Installation, Sample


class StreamQuerySet(models.QuerySet):
    def with_counts(self) -> "StreamQuerySet":
        """Annotate ``backlog`` (samples not yet delivered, dead letters
        aside) and ``dead_letters`` (batches refused for good)."""
        return self.annotate(
            backlog=_count(PendingSample.objects.exclude(batch__state=Batch.DEAD)),
            dead_letters=_count(Batch.objects.filter(state=Batch.DEAD)),
        )


def _count(rows: models.QuerySet):
    per_stream = rows.filter(stream=OuterRef("pk")).order_by().values("stream").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(per_stream), 0)


class Stream(models.Model):
    integration = models.CharField(max_length=32, help_text="The registered integration, e.g. stadtpuls or webhook.")
    destination = models.CharField(
        max_length=64, blank=True, help_text="Which of the integration's destinations, e.g. a webhook's id."
    )
    installation = models.ForeignKey(Installation, on_delete=models.CASCADE, related_name="forwarding_streams")
    last_sent = models.DateTimeField(null=True, blank=True, help_text="When a batch was last delivered.")
    last_error = models.TextField(blank=True, help_text="The last failure, cleared by the next delivery.")
    last_error_at = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveIntegerField(default=0, help_text="Transient failures since the last delivery.")
    next_attempt = models.DateTimeField(null=True, blank=True, help_text="Backing off: no attempt before this.")
    queued = models.DateTimeField(null=True, blank=True, help_text="When a drain was queued; empty: none waiting.")

    objects = StreamQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["integration", "destination", "installation"], name="stream_unique"),
        ]
        verbose_name = "forwarding state"
        ordering = ["integration", "destination", "installation"]

    def __str__(self) -> str:
        destination = f" {self.destination}" if self.destination else ""
        return f"{self.integration}{destination} ← installation {self.installation_id}"


class Batch(models.Model):
    PENDING = "pending"
    DEAD = "dead"
    STATES = [(PENDING, "pending"), (DEAD, "dead letter")]

    # Sent as the delivery id on every attempt, so receivers can drop repeats.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="batches")
    created = models.DateTimeField(auto_now_add=True)
    state = models.CharField(max_length=8, choices=STATES, default=PENDING)
    size = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["created"]
        indexes = [models.Index(fields=["stream", "state", "created"], name="batch_stream_state")]
        verbose_name_plural = "batches"

    def __str__(self) -> str:
        return f"{self.id} ({self.size} samples, {self.get_state_display()})"


class PendingSample(models.Model):
    id = models.BigAutoField(primary_key=True)
    # Indexed by the unique (stream, sample) below: every index here is
    # written on each ingest request while forwarding is on.
    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="pending", db_index=False)
    # No database constraint: pruning or partition drops must never wait for
    # the outbox. A sample deleted meanwhile is simply not sent.
    sample = models.ForeignKey(Sample, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, null=True, blank=True, related_name="samples")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["stream", "sample"], name="pending_sample_unique")]
