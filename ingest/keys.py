"""Creating, rotating and revoking ingest keys: used by the API, the admin and
``manage.py ingest_key``."""

import secrets

from django.db import transaction

from ingest.models import PREFIX_LENGTH, IngestKey, hash_key
from user_manager.models import Organization


def new_key() -> str:
    # 32 random bytes, URL-safe: 43 characters that survive any header.
    return secrets.token_urlsafe(32)


@transaction.atomic  # with its audit entry
def ingest_key_create(organization: Organization, name: str) -> tuple[IngestKey, str]:
    """A new key for ``organization``; returns it with the plain key, which
    is not stored and cannot be shown again."""
    plain = new_key()
    key = IngestKey.objects.create(
        organization=organization, name=name, prefix=plain[:PREFIX_LENGTH], key_hash=hash_key(plain)
    )
    return key, plain


@transaction.atomic  # with its audit entry
def ingest_key_revoke(key: IngestKey) -> None:
    if not key.revoked:
        key.revoked = True
        key.save(update_fields=["revoked"])


@transaction.atomic
def ingest_key_rotate(key: IngestKey) -> tuple[IngestKey, str]:
    """Replace ``key`` by a new one with the same name: the old one stops
    working at once, so update the gateway with the new key right away."""
    replacement, plain = ingest_key_create(key.organization, key.name)
    ingest_key_revoke(key)
    return replacement, plain
