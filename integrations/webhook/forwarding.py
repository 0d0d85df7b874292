"""What a webhook gets and how: the signal receiver that records public
samples for every active webhook of their organization, and the transport
that POSTs them, signed."""

import hashlib
import hmac
import ipaddress
import json
import socket
from collections import defaultdict
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection

from core.models import Installation
from ingest.signals import PublishedSample
from integrations import outbox
from integrations.models import Stream
from integrations.transport import Transport, TransportError, post
from integrations.webhook.models import Webhook

NAME = "webhook"


def record(sender, samples: list[PublishedSample], **kwargs) -> None:
    """``sample_published`` receiver: one stream per webhook and installation."""
    hooks = defaultdict(list)
    for installation, webhook in _active_webhooks({sample.installation_id for sample in samples}):
        hooks[installation].append(str(webhook))
    outbox.record(
        NAME,
        ((webhook, sample.installation_id, sample.sample_id) for sample in samples for webhook in hooks[sample.installation_id]),
    )


_ACTIVE_WEBHOOKS = """
    SELECT i.id, w.id
    FROM core_installation i
    JOIN core_node n ON n.id = i.node_id
    JOIN webhook_webhook w ON w.organization_id = n.owner_id AND w.is_active
    WHERE i.id = ANY(%s::int8[])
"""


def _active_webhooks(installation_ids: set[int]) -> list[tuple[int, int]]:
    """(installation, webhook) pairs; on the ingest request's path, hence
    one prepared statement on PostgreSQL rather than a compiled query."""
    if connection.vendor != "postgresql":
        return list(
            Installation.objects.filter(pk__in=installation_ids, node__owner__webhooks__is_active=True).values_list(
                "pk", "node__owner__webhooks"
            )
        )
    with outbox.prepared_cursor() as cursor:
        cursor.execute(_ACTIVE_WEBHOOKS, [list(installation_ids)], prepare=True)
        return cursor.fetchall()


def forget(sender, instance: Webhook, **kwargs) -> None:
    """A deleted webhook's samples are not sent anywhere."""
    Stream.objects.filter(integration=NAME, destination=str(instance.pk)).delete()


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def body_of(organization_id: int, samples: list[PublishedSample]) -> bytes:
    return json.dumps(
        {
            "organization": str(organization_id),
            "samples": [
                {
                    "node": s.node_id,
                    "installation": str(s.installation_id),
                    "timestamp_s": s.timestamp_s,
                    "co2_ppm": s.co2_ppm,
                    "temperature_celsius": s.temperature_celsius,
                    "rel_humidity_percent": s.rel_humidity_percent,
                }
                for s in samples
            ],
        },
        separators=(",", ":"),
    ).encode()


class WebhookTransport(Transport):
    def __init__(self, stream):
        super().__init__(stream)
        self.webhook = Webhook.objects.filter(pk=int(stream.destination)).first()

    def is_paused(self) -> bool:
        if self.webhook is not None:
            try:
                self.webhook.refresh_from_db(fields=["is_active", "url", "secret"])
            except Webhook.DoesNotExist:
                self.webhook = None  # deleted while a batch was out; its streams are gone too
        return self.webhook is None or not self.webhook.is_active

    def push(self, delivery_id, samples: list[PublishedSample]) -> None:
        check_address(self.webhook.url)
        body = body_of(self.webhook.organization_id, samples)
        post(
            self.webhook.url,
            body=body,
            headers={
                "Content-Type": "application/json",
                "X-Managair-Delivery": str(delivery_id),
                "X-Managair-Signature": signature(self.webhook.secret, body),
            },
        )


def check_address(url: str) -> None:
    """Refuse URLs that resolve to loopback, private or link-local addresses
    unless ``WEBHOOK_ALLOW_PRIVATE_ADDRESSES``: otherwise anyone who owns an
    organization could make the server call services behind the firewall."""
    if settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        return
    parts = urlsplit(url)
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except (socket.gaierror, UnicodeError) as exc:
        raise TransportError(f"Cannot resolve {parts.hostname}: {exc}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global:
            raise TransportError(
                f"{parts.hostname} resolves to {address}, which is not a public address "
                "(WEBHOOK_ALLOW_PRIVATE_ADDRESSES is off)",
                permanent=True,
            )
