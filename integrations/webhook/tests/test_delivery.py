"""Webhooks end to end: what a gateway posts to the ingest path reaches the
organization's webhooks through the outbox, signed, and only what is public.

The receiver is a real HTTP server on 127.0.0.1 (``platform``); tests run the
drains themselves, as the task cluster would.
"""

import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from core.models import Installation
from core.tests.api_fixtures import api_client
from core.tests.factories import make_installation, make_node, make_room
from ingest.keys import ingest_key_create
from ingest.tests.conftest import T0, Gateway, sample, series
from integrations.drain import drain
from integrations.models import Batch, PendingSample, Stream
from integrations.tests import http_stub
from integrations.webhook.models import Webhook

pytestmark = pytest.mark.django_db



@pytest.fixture(autouse=True)
def _forwarding(settings):
    settings.IOTDP_INTEGRATION = True
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True


@pytest.fixture
def public(node, room) -> Installation:
    return make_installation(node, room, is_public=True)


@pytest.fixture
def send(django_capture_on_commit_callbacks):
    """Post samples through a gateway and run what ingest does after its commit."""

    def send(gateway: Gateway, data):
        with django_capture_on_commit_callbacks(execute=True):
            response = gateway.post(data)
        assert response.status_code in (200, 201), response.content
        return response

    return send


def create_webhook(user, organization, url: str, **attributes) -> tuple[Webhook, str]:
    """Create a webhook as its owner does; returns it with the secret from the 201 answer."""
    response = api_client(user).post(
        "/api/v1/webhooks/",
        {
            "data": {
                "type": "Webhook",
                "attributes": {"url": url, **attributes},
                "relationships": {"organization": {"data": {"type": "Organization", "id": str(organization.pk)}}},
            }
        },
    )
    assert response.status_code == 201, response.content
    data = response.json()["data"]
    return Webhook.objects.get(pk=data["id"]), data["attributes"]["secret"]


def drain_all() -> list[str]:
    return [drain(pk) for pk in Stream.objects.filter(integration="webhook").values_list("pk", flat=True)]


def header(request, name: str) -> str | None:
    return {key.lower(): value for key, value in request.headers.items()}.get(name.lower())


def delivery_id(request) -> uuid.UUID:
    return uuid.UUID(header(request, "X-Managair-Delivery"))


def timestamps(request) -> list[int]:
    return [item["timestamp_s"] for item in request.json()["samples"]]


def streams_of(hook: Webhook):
    return Stream.objects.filter(integration="webhook", destination=str(hook.pk))


# --- What arrives ------------------------------------------------------------------------------


def test_a_webhook_gets_the_samples_as_documented(platform, send, gateway, owner, organization, node, public):
    create_webhook(owner, organization, f"{platform.url}/hook")

    send(
        gateway,
        [sample(node, T0, 800, temperature_celsius=21.5, rel_humidity_percent=40.5), sample(node, T0 + 60, 810)],
    )
    drain_all()

    (request,) = platform.requests
    assert (request.method, request.path) == ("POST", "/hook")
    assert header(request, "Content-Type") == "application/json"
    assert request.json() == {
        "organization": str(organization.pk),
        "samples": [
            {
                "node": str(node.pk),
                "installation": str(public.pk),
                "timestamp_s": T0,
                "co2_ppm": 800,
                "temperature_celsius": 21.5,
                "rel_humidity_percent": 40.5,
            },
            {
                "node": str(node.pk),
                "installation": str(public.pk),
                "timestamp_s": T0 + 60,
                "co2_ppm": 810,
                "temperature_celsius": None,
                "rel_humidity_percent": None,
            },
        ],
    }
    # Delivered: nothing is left waiting.
    assert not PendingSample.objects.exists() and not Batch.objects.exists()


def test_samples_arrive_oldest_first(platform, send, gateway, owner, organization, node, public):
    create_webhook(owner, organization, f"{platform.url}/hook")

    send(gateway, [sample(node, T0 + 120), sample(node, T0), sample(node, T0 + 60)])
    drain_all()

    assert timestamps(platform.requests[0]) == [T0, T0 + 60, T0 + 120]


def test_a_delivery_is_signed_with_the_secret_shown_at_creation(
    platform, send, gateway, owner, organization, node, public
):
    _, secret = create_webhook(owner, organization, f"{platform.url}/hook")

    send(gateway, series(node, 3))
    drain_all()

    (request,) = platform.requests
    expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert header(request, "X-Managair-Signature") == f"sha256={expected}"


def test_a_retry_after_503_sends_the_same_delivery_again(platform, send, gateway, owner, organization, node, public):
    create_webhook(owner, organization, f"{platform.url}/hook")
    platform.answer = lambda request: (503, {}, b"restarting")
    send(gateway, series(node, 2))

    drain_all()
    platform.answer = None
    drain_all()  # backing off: nothing goes out yet
    assert len(platform.requests) == 1
    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        drain_all()
        send(gateway, [sample(node, T0 + 3600)])
        drain_all()

    first, retry, next_batch = platform.requests
    assert delivery_id(first) == delivery_id(retry)
    assert retry.body == first.body
    assert timestamps(retry) == [T0, T0 + 60]
    assert delivery_id(next_batch) != delivery_id(first)
    assert timestamps(next_batch) == [T0 + 3600]


def test_a_404_sends_the_batch_to_the_dead_letters(platform, send, gateway, owner, organization, node, public):
    hook, _ = create_webhook(owner, organization, f"{platform.url}/hook")
    platform.answer = lambda request: (404, {}, b"no such hook")
    send(gateway, series(node, 2))

    drain_all()
    drain_all()

    assert len(platform.requests) == 1
    dead = Batch.objects.get()
    assert dead.state == Batch.DEAD
    assert dead.id == delivery_id(platform.requests[0])
    assert "404" in dead.last_error and "404" in streams_of(hook).get().last_error

    # The dead letter stays behind; what comes later still goes out.
    platform.answer = None
    send(gateway, [sample(node, T0 + 3600)])
    drain_all()
    assert len(platform.requests) == 2
    assert timestamps(platform.requests[1]) == [T0 + 3600]
    assert Batch.objects.get() == dead


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
def test_answers_worth_another_try_keep_the_batch(platform, send, gateway, owner, organization, node, public, status):
    hook, _ = create_webhook(owner, organization, f"{platform.url}/hook")
    platform.answer = lambda request: (status, {}, b"later")
    send(gateway, series(node, 2))

    drain_all()

    batch = Batch.objects.get()
    assert (batch.state, batch.attempts) == (Batch.PENDING, 1)
    stream = streams_of(hook).get()
    assert stream.next_attempt > timezone.now()
    assert str(status) in stream.last_error


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_other_client_errors_send_the_batch_to_the_dead_letters(
    platform, send, gateway, owner, organization, node, public, status
):
    create_webhook(owner, organization, f"{platform.url}/hook")
    platform.answer = lambda request: (status, {}, b"refused")
    send(gateway, series(node, 2))

    drain_all()

    assert Batch.objects.get().state == Batch.DEAD


def test_an_unreachable_receiver_is_tried_again_later(platform, send, gateway, owner, organization, node, public):
    # A port that was free a moment ago: nobody listens there.
    other, server = http_stub.start()
    http_stub.stop(other, server)
    hook, _ = create_webhook(owner, organization, f"{other.url}/hook")
    send(gateway, series(node, 2))

    drain_all()

    assert Batch.objects.get().state == Batch.PENDING
    assert streams_of(hook).get().next_attempt > timezone.now()


def test_a_receiver_that_never_answers_is_tried_again_later(
    platform, send, gateway, owner, organization, node, public, settings
):
    settings.FORWARDING_TIMEOUT_S = 0.2
    hook, _ = create_webhook(owner, organization, f"{platform.url}/hook")
    send(gateway, series(node, 2))
    platform.hold()

    drain_all()
    platform.let_go()

    assert Batch.objects.get().state == Batch.PENDING
    assert streams_of(hook).get().next_attempt > timezone.now()
    platform.answer = None
    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        drain_all()
    first, retry = platform.requests
    assert delivery_id(first) == delivery_id(retry)


def test_a_long_backlog_goes_out_in_batches_with_their_own_delivery_ids(
    platform, send, gateway, owner, organization, node, public, monkeypatch
):
    # In the full suite's order this test's first batch once took ~60 s (in
    # isolation well under one): without this, the drain's time budget would
    # end the run after it and the assertion below would test the clock.
    monkeypatch.setattr("integrations.drain.DRAIN_BUDGET_S", 600)
    create_webhook(owner, organization, f"{platform.url}/hook")
    send(gateway, series(node, 1001))

    outcomes = drain_all()

    assert len(platform.requests) == 2, (outcomes, PendingSample.objects.count())
    first, second = platform.requests
    assert len(first.json()["samples"]) == 1000
    assert timestamps(second) == [T0 + 1000 * 60]
    assert delivery_id(first) != delivery_id(second)
    assert not PendingSample.objects.exists()


def test_waiting_samples_go_to_the_webhooks_new_url(platform, send, gateway, owner, organization, node, public):
    hook, _ = create_webhook(owner, organization, f"{platform.url}/old")
    send(gateway, series(node, 2))

    Webhook.objects.filter(pk=hook.pk).update(url=f"{platform.url}/new")
    drain_all()

    assert not platform.to("/old")
    assert len(platform.to("/new")) == 1


def test_the_webhooks_figures_follow_its_deliveries(platform, send, gateway, owner, organization, node, public):
    hook, _ = create_webhook(owner, organization, f"{platform.url}/hook")
    client = api_client(owner)

    def figures() -> dict:
        response = client.get(f"/api/v1/webhooks/{hook.pk}/")
        assert response.status_code == 200, response.content
        return response.json()["data"]["attributes"]

    platform.answer = lambda request: (503, {}, b"restarting")
    send(gateway, series(node, 2))
    drain_all()
    failing = figures()
    assert (failing["backlog"], failing["last_delivery_s"]) == (2, None)
    assert "503" in failing["last_error"]

    platform.answer = None
    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        drain_all()
        delivered = figures()
    assert (delivered["backlog"], delivered["last_error"]) == (0, "")
    assert delivered["last_delivery_s"] == int(streams_of(hook).get().last_sent.timestamp())

    platform.answer = lambda request: (410, {}, b"gone")
    send(gateway, [sample(node, T0 + 3600)])
    drain_all()
    dead = figures()
    assert dead["backlog"] == 0  # a dead letter waits for nobody
    assert "410" in dead["last_error"]


# --- Who gets what -----------------------------------------------------------------------------


def test_every_webhook_of_the_organization_gets_the_samples(platform, send, gateway, owner, organization, node, public):
    _, first_secret = create_webhook(owner, organization, f"{platform.url}/one")
    _, second_secret = create_webhook(owner, organization, f"{platform.url}/two")

    send(gateway, series(node, 2))
    drain_all()

    (one,) = platform.to("/one")
    (two,) = platform.to("/two")
    assert one.json() == two.json()
    assert timestamps(one) == [T0, T0 + 60]
    assert delivery_id(one) != delivery_id(two)
    for request, secret in ((one, first_secret), (two, second_secret)):
        expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
        assert header(request, "X-Managair-Signature") == f"sha256={expected}"


def test_a_webhook_gets_only_its_own_organizations_samples(
    platform, send, gateway, owner, organization, node, public, outsider, other_organization
):
    mine, _ = create_webhook(owner, organization, f"{platform.url}/mine")
    theirs, _ = create_webhook(outsider, other_organization, f"{platform.url}/theirs")
    their_node = make_node(owner=other_organization)
    make_installation(their_node, make_room(operator=other_organization), is_public=True)
    their_gateway = Gateway(Client(), ingest_key_create(other_organization, "their roof")[1])

    send(gateway, series(node, 2))
    send(their_gateway, [sample(their_node, T0 + 30)])
    drain_all()

    (to_mine,) = platform.to("/mine")
    (to_theirs,) = platform.to("/theirs")
    assert {item["node"] for item in to_mine.json()["samples"]} == {str(node.pk)}
    assert to_mine.json()["organization"] == str(organization.pk)
    assert {item["node"] for item in to_theirs.json()["samples"]} == {str(their_node.pk)}
    assert to_theirs.json()["organization"] == str(other_organization.pk)
    assert {stream.installation_id for stream in streams_of(theirs)} == {their_node.installations.get().pk}


def test_an_inactive_webhook_gets_nothing(platform, send, gateway, owner, organization, node, public):
    active, _ = create_webhook(owner, organization, f"{platform.url}/active")
    inactive, _ = create_webhook(owner, organization, f"{platform.url}/inactive", is_active=False)

    send(gateway, series(node, 2))
    drain_all()

    assert not platform.to("/inactive")
    assert not streams_of(inactive).exists()  # not even recorded
    assert len(platform.to("/active")) == 1


def test_samples_wait_while_a_webhook_is_switched_off(platform, send, gateway, owner, organization, node, public):
    hook, _ = create_webhook(owner, organization, f"{platform.url}/hook")
    send(gateway, series(node, 2))

    Webhook.objects.filter(pk=hook.pk).update(is_active=False)
    drain_all()
    assert not platform.requests
    assert PendingSample.objects.count() == 2

    Webhook.objects.filter(pk=hook.pk).update(is_active=True)
    drain_all()
    (request,) = platform.requests
    assert timestamps(request) == [T0, T0 + 60]


@pytest.mark.parametrize("how", ["api", "admin"])
def test_a_deleted_webhooks_waiting_samples_are_dropped(
    platform, send, gateway, owner, organization, node, public, how
):
    hook, _ = create_webhook(owner, organization, f"{platform.url}/hook")
    kept, _ = create_webhook(owner, organization, f"{platform.url}/kept")
    platform.answer = lambda request: (503, {}, b"busy")
    send(gateway, series(node, 2))
    drain_all()  # a batch is out, unanswered, for each
    send(gateway, [sample(node, T0 + 3600)])  # and a sample waits behind it
    gone = list(streams_of(hook).values_list("pk", flat=True))
    requests_before = len(platform.requests)

    if how == "api":
        assert api_client(owner).delete(f"/api/v1/webhooks/{hook.pk}/").status_code == 204
    else:
        hook.delete()

    assert not Stream.objects.filter(pk__in=gone).exists()
    assert not PendingSample.objects.filter(stream__in=gone).exists()
    assert not Batch.objects.filter(stream__in=gone).exists()
    platform.answer = None
    for stream_id in gone:
        drain(stream_id)
    assert len(platform.requests) == requests_before
    assert streams_of(kept).exists()


# --- Only what is public -------------------------------------------------------------------------


def test_samples_of_a_private_installation_are_never_delivered(
    platform, send, gateway, owner, organization, node, room
):
    make_installation(node, room, is_public=False)
    create_webhook(owner, organization, f"{platform.url}/hook")

    send(gateway, series(node, 3))
    drain_all()

    assert not Stream.objects.exists()
    assert not platform.requests


def test_samples_outside_the_public_installation_are_not_delivered(
    platform, send, gateway, owner, organization, node, room
):
    make_installation(node, room, from_time=datetime.fromtimestamp(T0, UTC), is_public=True)
    create_webhook(owner, organization, f"{platform.url}/hook")

    send(gateway, [sample(node, T0 - 3600), sample(node, T0 + 60)])
    drain_all()

    (request,) = platform.requests
    assert timestamps(request) == [T0 + 60]


def test_waiting_samples_are_not_sent_once_the_installation_turns_private(
    platform, send, gateway, owner, organization, node, public
):
    create_webhook(owner, organization, f"{platform.url}/hook")
    send(gateway, series(node, 2))

    Installation.objects.filter(pk=public.pk).update(is_public=False)
    drain_all()

    assert not platform.requests
    assert not PendingSample.objects.exists()


# --- Addresses behind the firewall -----------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_private_address_is_refused_unless_allowed(
    platform, send, gateway, owner, organization, node, public, settings, host
):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    port = platform.url.rsplit(":", 1)[1]
    hook, _ = create_webhook(owner, organization, f"http://{host}:{port}/hook")

    send(gateway, series(node, 2))
    drain_all()

    assert not platform.requests
    dead = Batch.objects.get()
    assert dead.state == Batch.DEAD
    error = streams_of(hook).get().last_error
    assert error == dead.last_error
    assert host in error
    assert "127.0.0.1" in error or "::1" in error
