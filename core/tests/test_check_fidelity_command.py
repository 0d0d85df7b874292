"""``manage.py check_fidelity``: one check from cron, where no task cluster
runs, so it sends the e-mails itself unless told to queue them."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.brokers import get_broker

from core.models import FidelityEvent, NodeFidelity
from core.models.fidelity import Fidelity
from core.tests.factories import make_node
from core.tests.test_fidelity import lock_held_elsewhere

pytestmark = pytest.mark.django_db


@pytest.fixture
def falling(settings, organization, node):
    """Two nodes of the organization: one that just went silent for too long, one alive."""
    settings.FIDELITY_ALIVE_PERIOD_S = 3600
    NodeFidelity.objects.create(
        node=node, fidelity=Fidelity.ALIVE, last_contact=timezone.now() - timedelta(hours=1, minutes=5)
    )
    NodeFidelity.objects.create(
        node=make_node(owner=organization), fidelity=Fidelity.ALIVE, last_contact=timezone.now()
    )
    return node


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("check_fidelity", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_command_prints_what_it_checked_and_found(django_capture_on_commit_callbacks, owner, falling):
    with django_capture_on_commit_callbacks(execute=True):
        out, _ = run()
    assert out.strip() == "2 nodes checked, 1 changed, 1 organizations notified."
    assert NodeFidelity.objects.get(node=falling).fidelity == Fidelity.MISSING
    assert FidelityEvent.objects.filter(node=falling).count() == 1


def test_command_sends_the_mail_itself(django_capture_on_commit_callbacks, mailoutbox, owner, falling):
    with django_capture_on_commit_callbacks(execute=True):
        run()
    [message] = mailoutbox
    assert message.to == [owner.email]
    assert falling.alias in message.body
    assert get_broker().queue_size() == 0


def test_command_queues_the_mail_for_the_cluster_when_asked(
    django_capture_on_commit_callbacks, mailoutbox, owner, falling
):
    with django_capture_on_commit_callbacks(execute=True):
        out, _ = run("--queue-mail")
    assert "1 organizations notified" in out
    assert mailoutbox == []
    assert get_broker().queue_size() == 1


def test_command_does_nothing_while_another_check_runs(django_capture_on_commit_callbacks, mailoutbox, owner, falling):
    with lock_held_elsewhere(), django_capture_on_commit_callbacks(execute=True):
        out, err = run()
    assert out == ""
    assert "Another fidelity check is running" in err
    assert NodeFidelity.objects.get(node=falling).fidelity == Fidelity.ALIVE
    assert mailoutbox == []
