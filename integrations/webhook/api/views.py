"""``webhooks/``: members see their organizations' webhooks and how
delivery goes, owners create, change and delete them."""

import django_filters
from django.db.models import CharField, OuterRef, Subquery, Sum, TextField, Value
from django.db.models.functions import Cast, Coalesce

from core.api.base import ScopedViewSet
from core.api.views import InventoryPagination
from integrations.models import Stream
from integrations.webhook.api.serializers import WebhookSerializer
from integrations.webhook.forwarding import NAME
from integrations.webhook.models import Webhook


def webhooks(user):
    streams = Stream.objects.filter(integration=NAME, destination=Cast(OuterRef("pk"), CharField())).order_by()
    backlog = streams.with_counts().values("integration").annotate(total=Sum("backlog")).values("total")
    return Webhook.objects.visible_to(user).annotate(
        last_delivery=Subquery(streams.filter(last_sent__isnull=False).order_by("-last_sent").values("last_sent")[:1]),
        backlog=Coalesce(Subquery(backlog), 0),
        last_error=Coalesce(
            Subquery(streams.exclude(last_error="").order_by("-last_error_at").values("last_error")[:1]),
            Value(""),
            output_field=TextField(),
        ),
    )


class WebhookFilter(django_filters.FilterSet):
    organization = django_filters.NumberFilter(field_name="organization")

    class Meta:
        model = Webhook
        fields = ("organization", "is_active")


class WebhookViewSet(ScopedViewSet):
    """Where an organization's public samples are POSTed (members read, owners change)."""

    scope = staticmethod(webhooks)
    member_only = True
    serializer_class = WebhookSerializer
    pagination_class = InventoryPagination
    filterset_class = WebhookFilter
    search_fields = ("url",)
    ordering_fields = ("url", "created_s")
    ordering_aliases = {"created_s": "created"}

    def owning_organization_id(self, validated_data, instance=None):
        return (validated_data.get("organization") or instance.organization).pk

    def perform_create(self, serializer):
        super().perform_create(serializer)
        webhook = serializer.instance
        webhook.plain_secret = webhook.secret  # rendered this once
        # The read-only figures of a webhook that has sent nothing yet.
        webhook.last_delivery, webhook.backlog, webhook.last_error = None, 0, ""
