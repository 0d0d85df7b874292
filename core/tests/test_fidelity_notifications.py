"""What owners hear of their nodes going down and coming back: one e-mail
each per check and organization, sent by a task once the check committed,
and reminders no more often than the reminder period."""

from datetime import UTC, datetime, timedelta

import pytest
from django_q.conf import Conf

from core.fidelity import check, notify_owners
from core.models import FidelityEvent, NodeFidelity
from core.models.fidelity import Fidelity
from core.tests.factories import make_node, make_user
from user_manager.models import Membership

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
U, E, M, D = Fidelity.UNKNOWN, Fidelity.ALIVE, Fidelity.MISSING, Fidelity.DEAD


@pytest.fixture(autouse=True)
def _periods(settings):
    settings.FIDELITY_ALIVE_PERIOD_S = 3600
    settings.FIDELITY_REMINDER_PERIOD_S = 24 * 3600


@pytest.fixture(autouse=True)
def _tasks_run_inline(monkeypatch):
    # async_task reads the cluster's global "sync" option when it is called:
    # the queued task then runs in this process, through the same pickling
    # and worker as in the cluster.
    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def committed_check(django_capture_on_commit_callbacks):
    """Runs a check and what it leaves for after its commit."""

    def run(now: datetime):
        with django_capture_on_commit_callbacks(execute=True):
            return check(now=now)

    return run


@pytest.fixture
def co_owner(organization):
    return make_user("oskar", organization=organization, role=Membership.Role.OWNER, password=None)


def reported(node, at: datetime | None, status: str, **fields) -> None:
    NodeFidelity.objects.update_or_create(node=node, defaults={"last_contact": at, "fidelity": status, **fields})


def recipients(mailoutbox) -> list[str]:
    return sorted(address for message in mailoutbox for address in message.to)


# --- Who hears what -------------------------------------------------------------------


def test_each_owner_hears_once_when_a_node_goes_missing(committed_check, mailoutbox, owner, co_owner, inspector, node):
    reported(node, NOW - HOUR - SECOND, E)
    committed_check(NOW)
    assert recipients(mailoutbox) == sorted([owner.email, co_owner.email])
    assert all(len(message.to) == 1 for message in mailoutbox)
    assert "1 missing" in mailoutbox[0].subject


def test_each_owner_hears_once_when_a_node_dies(committed_check, mailoutbox, owner, co_owner, node):
    reported(node, NOW - 2 * HOUR - SECOND, M, last_notified=NOW - HOUR)
    committed_check(NOW)
    assert recipients(mailoutbox) == sorted([owner.email, co_owner.email])
    assert "1 dead" in mailoutbox[0].subject
    assert "Dead" in mailoutbox[0].body


def test_each_owner_hears_once_when_a_node_comes_back(committed_check, mailoutbox, owner, co_owner, node):
    reported(node, NOW - 5 * 60 * SECOND, D, last_notified=NOW - HOUR)
    committed_check(NOW)
    assert recipients(mailoutbox) == sorted([owner.email, co_owner.email])
    assert "1 back" in mailoutbox[0].subject
    assert "Back" in mailoutbox[0].body


def test_a_nodes_first_contact_is_recorded_but_not_mailed(committed_check, mailoutbox, owner, node):
    reported(node, NOW, U)
    committed_check(NOW)
    assert mailoutbox == []
    assert list(FidelityEvent.objects.values_list("old", "new")) == [(U, E)]


def test_inspectors_and_other_organizations_hear_nothing(committed_check, mailoutbox, inspector, outsider, node):
    reported(node, NOW - HOUR - SECOND, E)
    committed_check(NOW)
    assert mailoutbox == []


def test_no_mail_goes_out_before_the_check_commits(django_capture_on_commit_callbacks, mailoutbox, owner, node):
    reported(node, NOW - HOUR - SECOND, E)
    with django_capture_on_commit_callbacks(execute=True):
        check(now=NOW)
        assert mailoutbox == []
    assert recipients(mailoutbox) == [owner.email]


def test_no_mail_goes_out_when_the_check_rolls_back(django_capture_on_commit_callbacks, mailoutbox, owner, node):
    reported(node, NOW - HOUR - SECOND, E)
    with django_capture_on_commit_callbacks() as callbacks:
        check(now=NOW)
    assert callbacks  # what the commit would have sent
    assert mailoutbox == []


# --- The e-mail ---------------------------------------------------------------------


def test_the_mail_names_the_organization_and_the_nodes(committed_check, mailoutbox, owner, organization):
    named = make_node(owner=organization, alias="Klassenzimmer 3b", eui64="70b3d57ed00000a1")
    unnamed = make_node(owner=organization, alias="", eui64="70b3d57ed00000a2")
    reported(named, NOW - HOUR - SECOND, E)
    reported(unnamed, NOW - HOUR - SECOND, E)
    committed_check(NOW)
    [message] = mailoutbox
    assert organization.name in message.subject
    assert organization.name in message.body
    assert "- Klassenzimmer 3b (70b3d57ed00000a1)" in message.body
    assert "- 70b3d57ed00000a2 (70b3d57ed00000a2)" in message.body
    assert "2 missing" in message.subject


def test_twenty_nodes_falling_at_once_make_one_mail_per_owner(
    committed_check, mailoutbox, owner, co_owner, organization
):
    nodes = [make_node(owner=organization, alias=f"Raum {i:02}") for i in range(20)]
    for node in nodes:
        reported(node, NOW - HOUR - SECOND, E)
    committed_check(NOW)
    assert recipients(mailoutbox) == sorted([owner.email, co_owner.email])
    for message in mailoutbox:
        assert "20 missing" in message.subject
        assert all(f"- Raum {i:02} (" in message.body for i in range(20))


def test_each_organization_gets_its_own_mail(
    committed_check, mailoutbox, owner, outsider, organization, other_organization
):
    ours = make_node(owner=organization, alias="Flur")
    theirs = make_node(owner=other_organization, alias="Aula")
    reported(ours, NOW - HOUR - SECOND, E)
    reported(theirs, NOW - HOUR - SECOND, E)
    committed_check(NOW)
    by_recipient = {message.to[0]: message for message in mailoutbox}
    assert sorted(by_recipient) == sorted([owner.email, outsider.email])
    assert organization.name in by_recipient[owner.email].subject
    assert "Flur" in by_recipient[owner.email].body and "Aula" not in by_recipient[owner.email].body
    assert other_organization.name in by_recipient[outsider.email].subject
    assert "Aula" in by_recipient[outsider.email].body and "Flur" not in by_recipient[outsider.email].body


# --- Switching it off --------------------------------------------------------------------


def test_an_organization_that_opted_out_gets_no_mail_but_its_changes_are_recorded(
    committed_check, mailoutbox, owner, organization, node
):
    organization.notify_fidelity = False
    organization.save()
    reported(node, NOW - HOUR - SECOND, E)
    committed_check(NOW)
    committed_check(NOW + 2 * DAY)
    assert mailoutbox == []
    assert list(FidelityEvent.objects.order_by("timestamp").values_list("old", "new")) == [(E, M), (M, D)]


def test_opting_out_after_the_check_stops_the_queued_mail(mailoutbox, owner, organization, node):
    payload = {"organization": organization.pk, "at": NOW.isoformat(), "changes": [[str(node.pk), E, M]],
               "reminders": []}  # fmt: skip
    organization.notify_fidelity = False
    organization.save()
    assert notify_owners(payload) == 0
    assert mailoutbox == []


# --- Reminders -------------------------------------------------------------------------


@pytest.fixture
def slowly_missing(settings, committed_check, mailoutbox, owner, organization, node):
    """A node that has just gone missing and stays missing for a day (its
    organization's alive period is a day), its owner told at NOW."""
    organization.alive_period_s = 24 * 3600
    organization.save()
    settings.FIDELITY_REMINDER_PERIOD_S = 3600
    reported(node, NOW - DAY - SECOND, E)
    committed_check(NOW)
    assert len(mailoutbox) == 1
    mailoutbox.clear()
    return node


def test_a_node_still_down_is_not_reminded_of_within_the_period(slowly_missing, committed_check, mailoutbox):
    committed_check(NOW + HOUR - SECOND)
    assert mailoutbox == []


def test_a_node_still_down_is_reminded_of_once_after_the_period(slowly_missing, committed_check, mailoutbox, owner):
    committed_check(NOW + HOUR)
    committed_check(NOW + HOUR + SECOND)
    committed_check(NOW + 2 * HOUR - SECOND)
    [reminder] = mailoutbox
    assert reminder.to == [owner.email]
    assert "1 still down" in reminder.subject
    assert "Still down (a reminder)" in reminder.body
    assert slowly_missing.alias in reminder.body
    assert FidelityEvent.objects.count() == 1  # a reminder is no change


def test_reminders_come_once_per_period_while_the_node_stays_down(slowly_missing, committed_check, mailoutbox):
    for minutes in range(0, 4 * 60, 10):
        committed_check(NOW + timedelta(minutes=minutes))
    assert len(mailoutbox) == 3  # after one, two and three hours


def test_no_reminders_when_the_reminder_period_is_zero(settings, committed_check, mailoutbox, owner, node):
    settings.FIDELITY_REMINDER_PERIOD_S = 0
    reported(node, NOW - 30 * DAY, D, last_notified=NOW - 29 * DAY)
    committed_check(NOW)
    assert mailoutbox == []


def test_a_node_that_dies_is_told_of_although_its_reminder_is_not_due(slowly_missing, committed_check, mailoutbox):
    committed_check(NOW + DAY)
    assert len(mailoutbox) == 1
    assert "1 dead" in mailoutbox[0].subject
    assert "still down" not in mailoutbox[0].subject
