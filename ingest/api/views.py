"""``ingest-keys/``: members list their organizations' keys, owners create,
rename, revoke and delete them."""

import django_filters
from django.db import transaction

from core.api.base import ScopedViewSet
from core.api.views import InventoryPagination
from ingest.api.serializers import IngestKeySerializer
from ingest.keys import ingest_key_create, ingest_key_revoke
from ingest.models import IngestKey


def ingest_keys(user):
    return IngestKey.objects.visible_to(user)


class IngestKeyFilter(django_filters.FilterSet):
    # A plain id: another organization's gives an empty list, as a missing one does.
    organization = django_filters.NumberFilter(field_name="organization")

    class Meta:
        model = IngestKey
        fields = ("organization", "revoked")


class IngestKeyViewSet(ScopedViewSet):
    """Keys gateways send to the ingest path (members read, owners change).
    The key itself is in the answer to the POST that creates it, and nowhere else."""

    scope = staticmethod(ingest_keys)
    member_only = True
    serializer_class = IngestKeySerializer
    pagination_class = InventoryPagination
    filterset_class = IngestKeyFilter
    search_fields = ("name", "prefix")
    ordering_fields = ("name", "created_s", "last_used_s")
    ordering_aliases = {"created_s": "created", "last_used_s": "last_used"}

    def owning_organization_id(self, validated_data, instance=None):
        return (validated_data.get("organization") or instance.organization).pk

    def perform_create(self, serializer):
        self.authorize_write(serializer)
        data = serializer.validated_data
        key, plain = ingest_key_create(data["organization"], data["name"])
        key.plain_key = plain  # rendered by the serializer's ``key`` field, this once
        serializer.instance = key

    def perform_update(self, serializer):
        self.authorize_write(serializer)
        key, data = serializer.instance, serializer.validated_data
        with transaction.atomic():
            if "name" in data and data["name"] != key.name:
                key.name = data["name"]
                key.save(update_fields=["name"])
            if data.get("revoked"):
                ingest_key_revoke(key)

    def perform_destroy(self, key):
        # Nothing refers to a key: deleting it is revoking it and forgetting it.
        key.delete()
