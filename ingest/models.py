"""Ingest keys: how a gateway proves which organization it writes for."""

import hashlib

from django.db import models

from user_manager.models import Organization

#: Characters of a key shown in lists, so that people can tell keys apart.
PREFIX_LENGTH = 8


def hash_key(key: str) -> str:
    # A key is 256 random bits, so a fast hash is as safe as a slow one here
    # (no dictionary to try) and costs microseconds on every ingest request,
    # where PBKDF2 would cost tens of milliseconds.
    return hashlib.sha256(key.encode()).hexdigest()


class IngestKeyQuerySet(models.QuerySet):
    def visible_to(self, user) -> "IngestKeyQuerySet":
        from core.scoping import member_organization_ids

        return self.filter(organization_id__in=member_organization_ids(user))

    def usable(self) -> "IngestKeyQuerySet":
        return self.filter(revoked=False)


class IngestKey(models.Model):
    """A secret a gateway sends as ``Authorization: Bearer <key>``.

    Only the key's SHA-256 is stored; the key itself is shown once, when it
    is created (see ``ingest.keys``).
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="ingest_keys")
    name = models.CharField(max_length=100, help_text="What the key is for, e.g. the gateway's name.")
    prefix = models.CharField(max_length=PREFIX_LENGTH, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True, editable=False)
    revoked = models.BooleanField(default=False)

    objects = IngestKeyQuerySet.as_manager()

    class Meta:
        ordering = ["organization", "name", "id"]

    def __str__(self) -> str:
        state = " (revoked)" if self.revoked else ""
        return f"{self.name} [{self.prefix}…]{state}"
