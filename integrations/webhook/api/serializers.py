"""The ``Webhook`` document. The signing secret appears once, in the answer
to the POST that creates the webhook."""

from django.core.validators import URLValidator
from rest_framework import serializers as drf

from core import scoping
from core.api.fields import ScopedRelatedField, UnixSecondsField
from core.api.serializers import ModelSerializer
from integrations.webhook.models import Webhook
from user_manager.models import Organization


class WebhookSerializer(ModelSerializer):
    url = drf.URLField(
        max_length=500,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="Where the samples are POSTed (http or https).",
    )
    is_active = drf.BooleanField(required=False, help_text="False: samples wait and nothing is sent.")
    # Rendered only on the instance the create view put it on (see IngestKey's key).
    secret = drf.CharField(
        source="plain_secret",
        read_only=True,
        help_text="The HMAC-SHA256 key of `X-Managair-Signature`. Only in the answer to the POST that creates "
        "the webhook.",
    )
    last_delivery_s = UnixSecondsField(
        source="last_delivery", read_only=True, allow_null=True, help_text="When a batch last arrived; null: never."
    )
    backlog = drf.IntegerField(read_only=True, help_text="Samples waiting to be sent (dead letters aside).")
    last_error = drf.CharField(read_only=True, help_text="The latest failure since the last delivery; empty: none.")
    organization = ScopedRelatedField(scope=scoping.organizations, model=Organization)

    included_serializers = {"organization": "core.api.serializers.OrganizationSerializer"}

    class Meta:
        model = Webhook
        fields = ("url", "is_active", "secret", "last_delivery_s", "backlog", "last_error", "organization")

    def validate(self, attrs):
        webhook = self.instance
        if webhook is not None and "organization" in attrs and attrs["organization"] != webhook.organization:
            raise drf.ValidationError({"organization": "A webhook's organization cannot change."})
        return super().validate(attrs)
