"""The ``AuditEntry`` document."""

from rest_framework import serializers as drf

from audit.models import AuditEntry
from core.api.fields import TypedRelatedField, UnixSecondsField
from core.api.serializers import ModelSerializer
from user_manager.models import Organization, User


class AuditEntrySerializer(ModelSerializer):
    changes = drf.JSONField(
        read_only=True,
        help_text="Update: `{field: [old, new]}`; create: the new object's fields; delete: their last values. "
        "Related objects appear as their ids; secrets never appear.",
    )
    timestamp_s = UnixSecondsField(source="timestamp", read_only=True)
    organization = TypedRelatedField(read_only=True, model=Organization)
    actor = TypedRelatedField(read_only=True, model=User, help_text="Null: a command or task, or a deleted user.")

    included_serializers = {
        "organization": "core.api.serializers.OrganizationSerializer",
        "actor": "core.api.serializers.UserSerializer",
    }

    class Meta:
        model = AuditEntry
        resource_name = "AuditEntry"
        fields = (
            "action", "model", "object_id", "object_repr", "changes", "source", "actor_name", "timestamp_s",
            "organization", "actor",
        )
        read_only_fields = ("action", "model", "object_id", "object_repr", "source", "actor_name")
