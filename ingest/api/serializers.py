"""The ``IngestKey`` document. The key's hash never leaves the server; the
plain key appears once, in the answer to the POST that creates it."""

from rest_framework import serializers as drf

from core import scoping
from core.api.fields import ScopedRelatedField, UnixSecondsField
from core.api.serializers import ModelSerializer
from ingest.models import IngestKey
from user_manager.models import Organization


class IngestKeySerializer(ModelSerializer):
    # Set on the instance by the view that has just created it; on any other
    # instance the attribute is missing, and DRF leaves a read-only field whose
    # source is missing out of the document altogether.
    key = drf.CharField(
        source="plain_key",
        read_only=True,
        help_text="The key itself, for the gateway's `Authorization: Bearer` header. "
        "Only in the answer to the POST that creates the key: it is stored hashed and cannot be shown again.",
    )
    prefix = drf.CharField(read_only=True, help_text="The key's first 8 characters, to tell keys apart.")
    created_s = UnixSecondsField(source="created", read_only=True)
    last_used_s = UnixSecondsField(
        source="last_used", read_only=True, allow_null=True, help_text="When a gateway last sent the key; null: never."
    )
    revoked = drf.BooleanField(
        required=False, help_text="A revoked key is refused for good; set true to revoke (never back to false)."
    )
    organization = ScopedRelatedField(scope=scoping.organizations, model=Organization)

    included_serializers = {"organization": "core.api.serializers.OrganizationSerializer"}

    class Meta:
        model = IngestKey
        fields = ("name", "prefix", "key", "created_s", "last_used_s", "revoked", "organization")

    def validate(self, attrs):
        key = self.instance
        if key is None and attrs.get("revoked"):
            raise drf.ValidationError({"revoked": "A new key cannot be revoked."})
        if key is not None:
            if "organization" in attrs and attrs["organization"] != key.organization:
                raise drf.ValidationError({"organization": "A key's organization cannot change."})
            if key.revoked and attrs.get("revoked") is False:
                raise drf.ValidationError({"revoked": "A revoked key cannot be revived; create a new one instead."})
        return super().validate(attrs)
