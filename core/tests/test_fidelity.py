"""The fidelity check: each node's status from its last contact at a given
moment, the changes recorded once, and a run that stays small however many
nodes there are. Every check gets an explicit ``now``: no test waits."""

import threading
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from core import fidelity
from core.fidelity import Change, check
from core.models import FidelityCheck, FidelityEvent, Node, NodeFidelity
from core.models.fidelity import Fidelity, fidelity_at
from core.tests.factories import make_node, make_node_model, make_organization, make_protocol
from ingest.keys import ingest_key_create
from ingest.tests.conftest import Gateway, sample

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)
U, E, M, D = Fidelity.UNKNOWN, Fidelity.ALIVE, Fidelity.MISSING, Fidelity.DEAD


def reported(node, at: datetime | None, status: str = U, **fields) -> NodeFidelity:
    """``node``'s fidelity row as ingest and earlier checks left it."""
    return NodeFidelity.objects.update_or_create(
        node=node, defaults={"last_contact": at, "fidelity": status, **fields}
    )[0]


def status_of(node) -> str:
    return NodeFidelity.objects.get(node=node).fidelity


def events_of(node) -> list[tuple[str, str, datetime]]:
    return list(
        FidelityEvent.objects.filter(node=node).order_by("timestamp", "id").values_list("old", "new", "timestamp")
    )


def make_nodes(organization, count: int) -> list[Node]:
    """``count`` nodes of ``organization`` in one statement (Node.save derives
    each id; here they are simply random)."""
    protocol, model = make_protocol(), make_node_model()
    return Node.objects.bulk_create(
        Node(id=uuid.uuid4(), eui64=uuid.uuid4().hex[:16], alias=f"bulk-{i}", protocol=protocol, model=model,
             owner=organization)
        for i in range(count)
    )  # fmt: skip


@contextmanager
def lock_held_elsewhere():
    """Another session runs a check meanwhile: it holds the check's lock
    (in a thread, so on its own connection) until the block ends."""
    held, release, failures = threading.Event(), threading.Event(), []

    def hold():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [fidelity._LOCK_KEY])
                held.set()
                release.wait(timeout=60)
        except BaseException as exc:  # noqa: B036 - reported to the test below
            failures.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(timeout=30), failures
        yield
    finally:
        release.set()
        thread.join(timeout=30)
    assert not failures, failures


# --- The status as a function of the last contact --------------------------------

PERIOD = timedelta(minutes=10)

# How long a node has been silent at the check, and what it is then.
EDGES = [
    (timedelta(0), E),
    (PERIOD, E),
    (PERIOD + SECOND, M),
    (2 * PERIOD, M),
    (2 * PERIOD + SECOND, D),
]


@pytest.mark.parametrize(("silent", "expected"), EDGES)
def test_status_changes_exactly_at_the_alive_period_and_at_twice_it(silent, expected):
    assert fidelity_at(NOW - silent, NOW, PERIOD) == expected


def test_a_node_that_never_reported_is_unknown():
    assert fidelity_at(None, NOW, PERIOD) == U


def _check_sees_each_edge(organization) -> dict:
    nodes = {silent: make_node(owner=organization) for silent, _ in EDGES}
    for silent, node in nodes.items():
        reported(node, NOW - silent)
    check(now=NOW)
    return {silent: status_of(node) for silent, node in nodes.items()}


def test_check_agrees_with_fidelity_at_for_an_organizations_own_alive_period(settings):
    settings.FIDELITY_ALIVE_PERIOD_S = 7200  # must not matter
    organization = make_organization(alive_period_s=int(PERIOD.total_seconds()))
    seen = _check_sees_each_edge(organization)
    assert seen == {silent: fidelity_at(NOW - silent, NOW, PERIOD) for silent, _ in EDGES}
    assert seen == dict(EDGES)


def test_check_agrees_with_fidelity_at_for_the_server_default_alive_period(settings):
    settings.FIDELITY_ALIVE_PERIOD_S = int(PERIOD.total_seconds())
    seen = _check_sees_each_edge(make_organization(alive_period_s=None))
    assert seen == {silent: fidelity_at(NOW - silent, NOW, PERIOD) for silent, _ in EDGES}
    assert seen == dict(EDGES)


def test_each_organization_is_checked_against_its_own_alive_period(settings):
    settings.FIDELITY_ALIVE_PERIOD_S = 2 * 3600
    patient = make_node(owner=make_organization(alive_period_s=None))
    strict = make_node(owner=make_organization(alive_period_s=3600))
    reported(patient, NOW - timedelta(minutes=90))
    reported(strict, NOW - timedelta(minutes=90))
    check(now=NOW)
    assert (status_of(patient), status_of(strict)) == (E, M)


# --- The generic (SQLite) path computes the same ----------------------------------


def _mixed_inventory(settings) -> None:
    """Nodes in every situation a check meets: each status before and after,
    unchanged ones, organizations with their own period and without mail."""
    settings.FIDELITY_ALIVE_PERIOD_S = 3600
    own_period = make_organization(alive_period_s=600)
    default_period = make_organization()
    silent_owners = make_organization(notify_fidelity=False)
    for organization in (own_period, default_period, silent_owners):
        period = timedelta(seconds=organization.alive_period_s or 3600)
        reported(make_node(owner=organization), None)  # never reported
        reported(make_node(owner=organization), NOW)  # first contact
        reported(make_node(owner=organization), NOW - period, E)  # stays alive
        reported(make_node(owner=organization), NOW - period - SECOND, E)  # goes missing
        reported(make_node(owner=organization), NOW - 2 * period - SECOND, E)  # dies at once
        reported(make_node(owner=organization), NOW - 2 * period - SECOND, M)  # missing, now dead
        reported(make_node(owner=organization), NOW - 2 * period, M)  # stays missing
        reported(make_node(owner=organization), NOW - SECOND, D)  # back
        reported(make_node(owner=organization), NOW - 3 * period, D)  # stays dead


def _outcome_of(update) -> tuple[list[Change], list[tuple], dict]:
    """What ``update`` changes, recorded and left behind, undone afterwards."""
    with transaction.atomic():
        # In no particular order: the notifications sort them.
        changes = sorted(update(NOW), key=lambda change: (change.organization_id, str(change.node_id)))
        events = sorted(FidelityEvent.objects.values_list("node_id", "old", "new", "timestamp"))
        statuses = dict(NodeFidelity.objects.values_list("node_id", "fidelity"))
        transaction.set_rollback(True)
    return changes, events, statuses


def test_generic_path_changes_and_records_what_the_postgresql_path_does(settings):
    _mixed_inventory(settings)
    postgresql = _outcome_of(fidelity._update_postgresql)
    generic = _outcome_of(fidelity._update_generic)
    assert len(postgresql[0]) == 3 * 5  # the inventory does change
    assert generic == postgresql


# --- Rows, events and transitions --------------------------------------------------


def test_a_node_without_a_fidelity_row_gets_an_unknown_one_and_no_event(node):
    outcome = check(now=NOW)
    assert outcome.nodes == 1
    assert status_of(node) == U
    assert NodeFidelity.objects.get(node=node).last_contact is None
    assert events_of(node) == []


def test_a_node_that_never_reported_stays_unknown(node):
    check(now=NOW)
    outcome = check(now=NOW + timedelta(days=30))
    assert status_of(node) == U
    assert outcome.changes == []
    assert events_of(node) == []


def test_a_change_is_recorded_once_however_often_the_check_runs(node):
    reported(node, NOW - 3 * HOUR, E)
    first = check(now=NOW)
    second = check(now=NOW)
    assert [(c.old, c.new) for c in first.changes] == [(E, M)]
    assert second.changes == []
    assert events_of(node) == [(E, M, NOW)]


def test_a_silent_node_goes_missing_then_dead(settings, node):
    settings.FIDELITY_ALIVE_PERIOD_S = 3600
    reported(node, NOW)
    check(now=NOW)
    check(now=NOW + HOUR)
    missing_at, dead_at = NOW + HOUR + SECOND, NOW + 2 * HOUR + SECOND
    check(now=missing_at)
    check(now=NOW + 2 * HOUR)
    check(now=dead_at)
    check(now=NOW + timedelta(days=3))
    assert status_of(node) == D
    assert events_of(node) == [(U, E, NOW), (E, M, missing_at), (M, D, dead_at)]


def test_a_dead_node_that_reports_again_is_alive(settings, node):
    settings.FIDELITY_ALIVE_PERIOD_S = 3600
    reported(node, NOW - timedelta(days=2), D)
    back_at = NOW + timedelta(minutes=5)
    NodeFidelity.objects.filter(node=node).update(last_contact=NOW)
    check(now=back_at)
    assert status_of(node) == E
    assert events_of(node) == [(D, E, back_at)]


def test_a_sample_posted_by_a_gateway_makes_an_unknown_node_alive(organization, node):
    check(now=NOW - timedelta(days=1))  # the node's row exists, unknown
    gateway = Gateway(Client(), ingest_key_create(organization, "gateway on the roof")[1])
    response = gateway.post(sample(node))
    assert response.status_code in (200, 201), response.content
    # The sample arrived in this test's transaction, at its start.
    checked_at = NodeFidelity.objects.get(node=node).last_contact + timedelta(minutes=1)
    check(now=checked_at)
    assert status_of(node) == E
    assert events_of(node) == [(U, E, checked_at)]


# --- A run ----------------------------------------------------------------------


def _queries_of_a_check(count: int) -> int:
    """How many queries one check makes for an organization with ``count``
    nodes going missing at once, ``count`` due for a reminder and ``count``
    without a fidelity row yet (undone afterwards)."""
    with transaction.atomic():
        organization = make_organization()
        falling, down, new = (make_nodes(organization, count) for _ in range(3))
        NodeFidelity.objects.bulk_create(NodeFidelity(node=n, fidelity=E, last_contact=NOW - 3 * HOUR) for n in falling)
        NodeFidelity.objects.bulk_create(
            NodeFidelity(node=n, fidelity=M, last_contact=NOW - 3 * HOUR, last_notified=NOW - timedelta(days=2))
            for n in down
        )
        with CaptureQueriesContext(connection) as queries:
            outcome = check(now=NOW)
        # The run did what was asked of it, whatever its size.
        assert outcome.nodes == 3 * count
        assert len(outcome.changes) == count
        assert len(outcome.notifications[organization.pk]["reminders"]) == count
        transaction.set_rollback(True)
    return len(queries)


def test_a_check_makes_as_many_queries_for_30_nodes_as_for_3(settings):
    settings.FIDELITY_ALIVE_PERIOD_S, settings.FIDELITY_REMINDER_PERIOD_S = 7200, 86400
    assert _queries_of_a_check(30) == _queries_of_a_check(3)


def test_a_check_makes_as_many_queries_for_600_nodes_as_for_3(settings):
    # Beyond 500: SQLite's limit on parameters must not split PostgreSQL's statements.
    settings.FIDELITY_ALIVE_PERIOD_S, settings.FIDELITY_REMINDER_PERIOD_S = 7200, 86400
    assert _queries_of_a_check(600) == _queries_of_a_check(3)


def test_a_check_while_another_runs_is_skipped_and_changes_nothing(node):
    fallen = make_node(owner=node.owner)
    reported(fallen, NOW - 3 * HOUR, E)
    with lock_held_elsewhere():
        outcome = check(now=NOW)
    assert outcome.skipped
    assert status_of(fallen) == E
    assert not NodeFidelity.objects.filter(node=node).exists()
    assert not FidelityEvent.objects.exists()
    assert not FidelityCheck.objects.exists()
    # Once the other check is over, the next one runs.
    assert not check(now=NOW).skipped
    assert status_of(fallen) == M


def test_the_latest_check_is_kept_with_what_it_found(node):
    reported(make_node(owner=node.owner), NOW - 3 * HOUR, E)
    check(now=NOW - HOUR)
    check(now=NOW)
    latest = FidelityCheck.objects.get()
    assert (latest.checked_at, latest.nodes, latest.changes) == (NOW, 2, 1)


def test_api_tells_members_when_the_node_was_last_checked(owner, node):
    reported(node, NOW - 3 * HOUR, E)
    check(now=NOW)
    client = APIClient()
    client.force_authenticate(owner)
    response = client.get(f"/api/v1/fidelity/{node.pk}/")
    assert response.status_code == 200, response.content
    attributes = response.json()["data"]["attributes"]
    assert attributes["last_check_s"] == int(NOW.timestamp())
    assert attributes["last_contact_s"] == int((NOW - 3 * HOUR).timestamp())
    assert attributes["fidelity"] == M


# --- Racing ingest ----------------------------------------------------------------------


def _waiting_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
def test_a_check_survives_a_nodes_first_sample_arriving_meanwhile(node):
    # Ingest has stored the node's first sample (and created its row) in a
    # transaction not yet committed when the check starts.
    inserted, failures = threading.Event(), []

    def ingest():
        try:
            with transaction.atomic():
                NodeFidelity.objects.create(node_id=node.pk, last_contact=NOW)
                inserted.set()
                # Commit only once the check waits for this row: polling the
                # lock table, not a clock.
                for _ in range(100_000):
                    if _waiting_for_a_lock():
                        break
        except BaseException as exc:  # noqa: B036 - reported to the test below
            failures.append(exc)
        finally:
            inserted.set()
            connections.close_all()

    thread = threading.Thread(target=ingest)
    thread.start()
    try:
        assert inserted.wait(timeout=30)
        outcome = check(now=NOW)
    finally:
        thread.join(timeout=60)
    assert not failures, failures
    assert not outcome.skipped
    assert status_of(node) == E
