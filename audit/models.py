"""The audit log: who changed what in an organization, and when."""

from django.conf import settings
from django.db import models

from user_manager.models import Organization


class AuditEntryQuerySet(models.QuerySet):
    def visible_to(self, user) -> "AuditEntryQuerySet":
        """Owners read their organizations' logs. Staff read every log in the
        admin; the API gives them no more than anyone (API.md)."""
        from core.scoping import owned_organization_ids

        return self.filter(organization_id__in=owned_organization_ids(user))


class AuditEntry(models.Model):
    """One created, changed or deleted object (see ``audit.recording``)."""

    class Action(models.TextChoices):
        CREATE = "create"
        UPDATE = "update"
        DELETE = "delete"

    class Source(models.TextChoices):
        API = "api", "API"
        ADMIN = "admin"
        # Management commands, tasks and pages outside the API and the admin.
        OTHER = "other"

    # The log is the organization's: it goes when the organization goes.
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="audit_entries", db_index=False
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Kept when the actor's account is deleted.
    actor_name = models.CharField(max_length=150, blank=True, default="")
    action = models.CharField(max_length=6, choices=Action.choices)
    #: The model's label, e.g. ``core.room``.
    model = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200)
    #: Update: ``{field: [old, new]}``; create: the new values; delete: the last ones.
    changes = models.JSONField(default=dict)
    source = models.CharField(max_length=5, choices=Source.choices)
    timestamp = models.DateTimeField(auto_now_add=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-timestamp", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["organization", "-timestamp"], name="auditentry_organization_time")]

    def __str__(self) -> str:
        who = self.actor_name or "system"
        return f"{who} {self.action}d {self.model} {self.object_repr}"
