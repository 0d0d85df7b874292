import secrets

from django.core.validators import URLValidator
from django.db import models

from user_manager.models import Organization


def new_secret() -> str:
    return secrets.token_hex(32)


class WebhookQuerySet(models.QuerySet):
    def visible_to(self, user) -> "WebhookQuerySet":
        from core.scoping import member_organization_ids

        return self.filter(organization_id__in=member_organization_ids(user))


class Webhook(models.Model):
    """Where an organization wants its public samples POSTed."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500, validators=[URLValidator(schemes=["http", "https"])])
    is_active = models.BooleanField(default=True, help_text="Inactive: samples wait, nothing is sent.")
    # Kept in the clear: the server signs every delivery with it. Shown once.
    secret = models.CharField(max_length=64, default=new_secret, editable=False)
    created = models.DateTimeField(auto_now_add=True)

    objects = WebhookQuerySet.as_manager()

    class Meta:
        ordering = ["organization", "id"]

    def __str__(self) -> str:
        return f"{self.url} ({self.organization})"
