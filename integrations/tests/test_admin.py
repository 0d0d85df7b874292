"""Forwarding in the admin as staff use it: where each installation's samples
stand, which batches were refused for good, and sending those again."""

import pytest
from django.urls import reverse
from django.utils.html import escape
from django_q.models import OrmQ

from ingest.tests.conftest import T0, series
from integrations.drain import drain
from integrations.models import Batch, Stream
from integrations.tests import test_drain as shared
from integrations.tests.test_drain import answering, deliveries

pytestmark = pytest.mark.django_db

# The forwarding fixtures shared with test_drain, under the names the tests ask for.
forwarding = shared.forwarding
ingest = shared.ingest
public_installation = shared.public_installation
small_batches = shared.small_batches
webhook = shared.webhook

STREAMS = reverse("admin:integrations_stream_changelist")
BATCHES = reverse("admin:integrations_batch_changelist")


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def dead_and_pending(platform, webhook, public_installation, node, ingest, small_batches):
    """One stream: a batch refused for good, then one waiting for a retry, and a sample not yet in a batch."""
    ingest(series(node, 5))
    platform.answer = answering(410, 503, body=b"hook gone")
    drain(Stream.objects.get().pk)
    return Batch.objects.get(state=Batch.DEAD), Batch.objects.get(state=Batch.PENDING)


def cell(field: str, value) -> str:
    return f'<td class="field-{field}">{value}</td>'


def test_forwarding_states_show_installation_backlog_and_last_error(
    staff_client, dead_and_pending, public_installation
):
    page = staff_client.get(STREAMS)

    assert page.status_code == 200
    html = page.content.decode()
    assert escape(str(public_installation)) in html
    # Two samples in the batch waiting for a retry, one not yet in a batch.
    assert cell("backlog", 3) in html
    assert cell("dead_letters", 1) in html
    assert "HTTP 503" in html and "hook gone" in html


def test_dead_letters_can_be_listed_on_their_own(staff_client, dead_and_pending):
    dead, pending = dead_and_pending

    page = staff_client.get(BATCHES, {"state__exact": Batch.DEAD})

    assert page.status_code == 200
    html = page.content.decode()
    assert str(dead.pk) in html
    assert "HTTP 410" in html
    assert str(pending.pk) not in html


def test_retry_sends_a_dead_letter_again_with_its_delivery_id(
    staff_client, dead_and_pending, platform, django_capture_on_commit_callbacks
):
    dead, pending = dead_and_pending
    stream = Stream.objects.get()
    Stream.objects.update(queued=None)
    platform.answer = answering(200)

    with django_capture_on_commit_callbacks(execute=True):
        page = staff_client.post(
            BATCHES, {"action": "retry", "_selected_action": [str(dead.pk)], "index": "0"}, follow=True
        )

    assert page.status_code == 200
    assert "1 batch(es) will be sent again." in page.content.decode()
    assert Batch.objects.get(pk=dead.pk).state == Batch.PENDING
    assert OrmQ.objects.order_by("pk").last().task["args"] == (stream.pk,)

    drain(stream.pk)

    sent = deliveries(platform)[2:]
    assert [delivery for delivery, _ in sent][:2] == [str(dead.pk), str(pending.pk)]
    assert [timestamp for _, timestamps in sent for timestamp in timestamps] == [T0 + 60 * i for i in range(5)]
    assert not Batch.objects.exists()


@pytest.mark.parametrize("page", [STREAMS, BATCHES])
def test_members_without_staff_status_cannot_see_forwarding(client, owner, dead_and_pending, page):
    client.force_login(owner)

    response = client.get(page)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_members_without_staff_status_cannot_retry(client, owner, dead_and_pending, platform):
    dead, _ = dead_and_pending
    client.force_login(owner)

    client.post(BATCHES, {"action": "retry", "_selected_action": [str(dead.pk)], "index": "0"})

    assert Batch.objects.get(pk=dead.pk).state == Batch.DEAD
