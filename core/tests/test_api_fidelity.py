"""/api/v1/fidelity/ and /api/v1/fidelity-events/ as members read them: whether
each node still reports, when the check last looked, and every change it saw.

Who may read them at all is in test_api_permissions.py.
"""

from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from core import fidelity
from core.models import FidelityCheck, FidelityEvent, NodeFidelity
from core.tests.factories import make_node, make_organization
from user_manager.models import Membership

API = "/api/v1"
NOON = datetime(2024, 6, 1, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def api(inspector):
    client = APIClient()
    client.force_authenticate(inspector)
    return client


def _event(node, old: str, new: str, at: datetime) -> FidelityEvent:
    return FidelityEvent.objects.create(node=node, old=old, new=new, timestamp=at)


def _unix(moment: datetime) -> int:
    return int(moment.timestamp())


def _data(response):
    assert response.status_code == 200, response.content[:500]
    return response.json()["data"]


def _ids(response) -> list[str]:
    return [item["id"] for item in _data(response)]


def assert_error_document(response, status: int) -> None:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/vnd.api+json")
    errors = response.json()["errors"]
    assert errors
    assert all(error["status"] == str(status) for error in errors)


# --- Events ----------------------------------------------------------------------


def test_events_are_listed_newest_first(api, organization, node):
    other = make_node(owner=organization)
    # Recorded out of order, as a backfill or an admin might.
    second = _event(node, "E", "M", NOON + HOUR)
    first = _event(node, "U", "E", NOON)
    latest = _event(node, "M", "D", NOON + 3 * HOUR)
    between = _event(other, "U", "E", NOON + 2 * HOUR)

    response = api.get(f"{API}/fidelity-events/")

    assert _ids(response) == [str(event.pk) for event in (latest, between, second, first)]


def test_events_of_one_check_list_the_later_recorded_first(api, organization, node):
    # One check records all its changes at the same moment; the order must
    # still be stable from page to page.
    earlier = _event(node, "E", "M", NOON)
    later = _event(make_node(owner=organization), "E", "M", NOON)

    assert _ids(api.get(f"{API}/fidelity-events/")) == [str(later.pk), str(earlier.pk)]


def test_events_sorted_by_timestamp_come_oldest_first(api, node):
    late = _event(node, "E", "M", NOON + HOUR)
    early = _event(node, "U", "E", NOON)

    response = api.get(f"{API}/fidelity-events/", {"sort": "timestamp_s"})

    assert _ids(response) == [str(early.pk), str(late.pk)]


def test_node_filter_lists_only_that_nodes_events(api, organization, node):
    other = make_node(owner=organization)
    mine = [_event(node, "U", "E", NOON), _event(node, "E", "M", NOON + HOUR)]
    _event(other, "U", "E", NOON)

    response = api.get(f"{API}/fidelity-events/", {"filter[node]": str(node.pk)})

    assert set(_ids(response)) == {str(event.pk) for event in mine}


def test_organization_filter_lists_only_that_organizations_events(api, inspector, organization, node):
    second = make_organization(name="Zweite Firma")
    Membership.objects.create(user=inspector, organization=second, role=Membership.Role.INSPECTOR)
    ours = _event(node, "U", "E", NOON)
    theirs = _event(make_node(owner=second), "U", "E", NOON)

    everything = api.get(f"{API}/fidelity-events/")
    filtered = api.get(f"{API}/fidelity-events/", {"filter[organization]": organization.pk})

    assert set(_ids(everything)) == {str(ours.pk), str(theirs.pk)}
    assert _ids(filtered) == [str(ours.pk)]


def test_event_shows_old_and_new_status_its_moment_and_its_node(api, node):
    event = _event(node, "E", "M", NOON)

    document = _data(api.get(f"{API}/fidelity-events/{event.pk}/"))

    assert document["type"] == "FidelityEvent"
    assert document["id"] == str(event.pk)
    assert document["attributes"] == {"old": "E", "new": "M", "timestamp_s": _unix(NOON)}
    assert set(document["relationships"]) == {"node"}
    assert document["relationships"]["node"]["data"] == {"type": "Node", "id": str(node.pk)}


def test_including_the_node_adds_its_document_once(api, node):
    _event(node, "U", "E", NOON)
    _event(node, "E", "M", NOON + HOUR)

    response = api.get(f"{API}/fidelity-events/", {"include": "node"})

    assert response.status_code == 200, response.content[:500]
    nodes = [item for item in response.json()["included"] if item["type"] == "Node"]
    assert [item["id"] for item in nodes] == [str(node.pk)]
    assert nodes[0]["attributes"]["alias"] == node.alias


@pytest.mark.parametrize("missing", ["foreign", "deleted", "abc", "99999999999999999999999"])
def test_event_the_caller_cannot_see_is_a_404(api, other_organization, node, missing):
    foreign = _event(make_node(owner=other_organization), "U", "E", NOON)
    deleted = _event(node, "U", "E", NOON)
    deleted.delete()
    event_id = {"foreign": foreign.pk, "deleted": deleted.pk}.get(missing, missing)

    assert_error_document(api.get(f"{API}/fidelity-events/{event_id}/"), 404)


def test_nobody_records_an_event_through_the_api(organization, owner, node):
    client = APIClient()
    client.force_authenticate(owner)
    body = {
        "data": {
            "type": "FidelityEvent",
            "attributes": {"old": "E", "new": "D", "timestamp_s": _unix(NOON)},
            "relationships": {"node": {"data": {"type": "Node", "id": str(node.pk)}}},
        }
    }

    response = client.post(f"{API}/fidelity-events/", body)

    assert_error_document(response, 405)
    assert not FidelityEvent.objects.exists()


def test_a_checks_change_appears_as_an_event(api, settings, node):
    settings.FIDELITY_ALIVE_PERIOD_S = 2 * 3600
    NodeFidelity.objects.create(node=node, fidelity="E", last_contact=NOON - 3 * HOUR)

    fidelity.check(now=NOON)

    (event,) = _data(api.get(f"{API}/fidelity-events/"))
    assert event["attributes"] == {"old": "E", "new": "M", "timestamp_s": _unix(NOON)}
    assert event["relationships"]["node"]["data"]["id"] == str(node.pk)


# --- Fidelity --------------------------------------------------------------------


def test_fidelity_filter_lists_only_nodes_of_that_status(api, organization):
    nodes = {status: make_node(owner=organization) for status in ("U", "E", "M", "D")}
    for status, node in nodes.items():
        NodeFidelity.objects.create(node=node, fidelity=status, last_contact=None if status == "U" else NOON)

    response = api.get(f"{API}/fidelity/", {"filter[fidelity]": "D"})

    assert _ids(response) == [str(nodes["D"].pk)]
    assert _data(response)[0]["attributes"]["fidelity"] == "D"


@pytest.mark.parametrize("route", ["list", "detail"])
def test_last_check_is_null_before_any_check(api, node, route):
    NodeFidelity.objects.create(node=node, last_contact=NOON)
    url = f"{API}/fidelity/" if route == "list" else f"{API}/fidelity/{node.pk}/"

    data = _data(api.get(url))

    (document,) = data if route == "list" else [data]
    assert document["attributes"]["last_check_s"] is None
    assert document["attributes"]["last_contact_s"] == _unix(NOON)


@pytest.mark.parametrize("route", ["list", "detail"])
def test_last_check_is_the_latest_checks_moment(api, node, route):
    NodeFidelity.objects.create(node=node, last_contact=NOON)
    fidelity.check(now=NOON + HOUR)
    fidelity.check(now=NOON + 2 * HOUR)
    url = f"{API}/fidelity/" if route == "list" else f"{API}/fidelity/{node.pk}/"

    data = _data(api.get(url))

    (document,) = data if route == "list" else [data]
    assert document["attributes"]["last_check_s"] == _unix(NOON + 2 * HOUR)
    assert FidelityCheck.objects.get().checked_at == NOON + 2 * HOUR
