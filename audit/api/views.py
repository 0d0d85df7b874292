"""``audit-entries/``: owners read their organizations' audit logs, newest first."""

import django_filters
from rest_framework_json_api.pagination import JsonApiPageNumberPagination

from audit.api.serializers import AuditEntrySerializer
from audit.models import AuditEntry
from core.api.base import ScopedViewSet


def audit_entries(user):
    return AuditEntry.objects.visible_to(user)


class AuditPagination(JsonApiPageNumberPagination):
    # A log only grows: unlike inventory lists it is read a page at a time.
    page_size = 100
    max_page_size = 1000


class AuditEntryFilter(django_filters.FilterSet):
    # A plain id: another organization's gives an empty list, as a missing one does.
    organization = django_filters.NumberFilter(field_name="organization")

    class Meta:
        model = AuditEntry
        fields = ("organization", "model", "action")


class AuditEntryViewSet(ScopedViewSet):
    """Who created, changed or deleted what in an organization (owners only; read-only)."""

    scope = staticmethod(audit_entries)
    member_only = True
    serializer_class = AuditEntrySerializer
    pagination_class = AuditPagination
    filterset_class = AuditEntryFilter
    ordering_fields = ("timestamp_s",)
    ordering_aliases = {"timestamp_s": "timestamp"}
    http_method_names = ["get", "head", "options"]
