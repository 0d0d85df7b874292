"""``/api/v1/audit-entries/``: owners read their organizations' logs, newest
first; nobody writes them."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from audit.models import AuditEntry
from core.tests.api_fixtures import World, api_client, build_world, ids_of
from core.tests.factories import make_room, make_site, make_user
from core.tests.test_api_permissions import matrix
from user_manager.models import Membership

URL = "/api/v1/audit-entries/"


def _entry(organization, *, actor=None, action="update", model="core.room", at=None, **fields) -> AuditEntry:
    entry = AuditEntry.objects.create(
        organization=organization,
        actor=actor,
        actor_name=actor.username if actor else "",
        action=action,
        model=model,
        object_id=fields.pop("object_id", "1"),
        object_repr=fields.pop("object_repr", "Aula"),
        changes=fields.pop("changes", {"description": ["alt", "neu"]}),
        source=fields.pop("source", "api"),
    )
    if at is not None:
        AuditEntry.objects.filter(pk=entry.pk).update(timestamp=at)
        entry.refresh_from_db()
    return entry


def _detail(entry) -> str:
    return f"{URL}{entry.pk}/"


# --- The document -------------------------------------------------------------------------------


def test_owner_reads_who_changed_what(owner, organization):
    room = make_room(operator=organization, name="Aula")
    api_client(owner).patch(
        f"/api/v1/rooms/{room.pk}/",
        {"data": {"type": "Room", "id": str(room.pk), "attributes": {"description": "neu"}}},
    )
    entry = AuditEntry.objects.get(action="update", model="core.room")

    response = api_client(owner).get(_detail(entry))

    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert data["type"] == "AuditEntry"
    assert data["attributes"] == {
        "action": "update",
        "model": "core.room",
        "object_id": str(room.pk),
        "object_repr": str(room),
        "changes": {"description": ["", "neu"]},
        "source": "api",
        "actor_name": "olga",
        "timestamp_s": int(entry.timestamp.timestamp()),
    }
    assert data["relationships"]["organization"]["data"] == {"type": "Organization", "id": str(organization.pk)}
    assert data["relationships"]["actor"]["data"] == {"type": "User", "id": str(owner.pk)}


def test_an_entry_of_a_command_has_no_actor(owner, organization):
    entry = _entry(organization, source="other")

    data = api_client(owner).get(_detail(entry)).json()["data"]

    assert data["relationships"]["actor"]["data"] is None
    assert (data["attributes"]["actor_name"], data["attributes"]["source"]) == ("", "other")


def test_entries_are_listed_newest_first(owner, organization):
    AuditEntry.objects.all().delete()
    start = datetime(2024, 5, 1, tzinfo=UTC)
    middle = _entry(organization, at=start + timedelta(hours=1))
    newest = _entry(organization, at=start + timedelta(hours=2))
    oldest = _entry(organization, at=start)

    listed = [item["id"] for item in api_client(owner).get(URL).json()["data"]]

    assert listed == [str(newest.pk), str(middle.pk), str(oldest.pk)]


def test_the_log_is_read_a_page_at_a_time(owner, organization):
    for _ in range(105):
        _entry(organization)

    document = api_client(owner).get(URL).json()

    assert len(document["data"]) == 100
    assert document["meta"]["pagination"]["pages"] >= 2


# --- Filters ------------------------------------------------------------------------------------


def test_entries_filter_by_organization_model_and_action(owner, organization, other_organization):
    Membership.objects.create(user=owner, organization=other_organization, role=Membership.Role.OWNER)
    AuditEntry.objects.all().delete()
    room_update = _entry(organization, model="core.room", action="update")
    node_create = _entry(organization, model="core.node", action="create")
    elsewhere = _entry(other_organization, model="core.room", action="delete")
    client = api_client(owner)

    def listed(**filters):
        response = client.get(URL, {f"filter[{name}]": value for name, value in filters.items()})
        assert response.status_code == 200, response.content
        return ids_of(response.json())

    assert listed() == {str(room_update.pk), str(node_create.pk), str(elsewhere.pk)}
    assert listed(organization=organization.pk) == {str(room_update.pk), str(node_create.pk)}
    assert listed(model="core.room") == {str(room_update.pk), str(elsewhere.pk)}
    assert listed(action="create") == {str(node_create.pk)}
    assert listed(organization=organization.pk, model="core.room", action="update") == {str(room_update.pk)}


def test_filter_by_an_organization_one_does_not_own_lists_nothing(inspector, owner, organization):
    _entry(organization)

    hidden = api_client(inspector).get(URL, {"filter[organization]": organization.pk})
    missing = api_client(owner).get(URL, {"filter[organization]": 999_999})

    assert hidden.status_code == missing.status_code == 200
    assert hidden.json()["data"] == missing.json()["data"] == []


def test_an_unknown_filter_is_refused(owner):
    assert api_client(owner).get(URL, {"filter[actor_name]": "olga"}).status_code == 400


# --- Query count --------------------------------------------------------------------------------


def test_list_costs_the_same_statements_as_the_page_grows(owner, organization):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=owner).key}")
    people = [make_user(organization=organization, password=None) for _ in range(3)]
    for n in range(40):
        _entry(organization, actor=people[n % 3], object_id=str(n))

    def statements(size: int, include: str = "") -> int:
        params = {"page[size]": size, **({"include": include} if include else {})}
        with CaptureQueriesContext(connection) as queries:
            response = client.get(URL, params)
        assert response.status_code == 200, response.content
        assert len(response.json()["data"]) == size
        return len(queries)

    statements(3)  # fills per-process caches
    assert statements(3) == statements(30) <= 10
    assert statements(3, "organization,actor") == statements(30, "organization,actor") <= 14


# --- Tenant isolation: the matrix of core/tests/test_api_permissions.py for this resource ----------


@pytest.fixture
def world(db) -> World:
    world = build_world()
    world.objects["entry_a"] = _entry(world.org_a, actor=world.owner)
    world.objects["entry_b"] = _entry(world.org_b, actor=world.outsider)
    return world


# Owners of A read A's log, the outsider (owner of B) B's; inspectors are
# members who read no log; staff read logs in the admin, not through the API. Nobody writes.
PRIVATE = """
resource       target   verb      anonymous  outsider  inspector  owner  staff
audit-entries  entry_a  list      401        200-      200-       200+   200-
audit-entries  entry_a  retrieve  401        404       404        200    404
audit-entries  -        create    401        405       405        405    405
audit-entries  entry_a  update    401        405       405        405    405
audit-entries  entry_a  delete    401        405       405        405    405
audit-entries  entry_b  list      401        200+      200-       200-   200-
audit-entries  entry_b  retrieve  401        200       404        404    404
audit-entries  entry_b  update    401        405       405        405    405
audit-entries  entry_b  delete    401        405       405        405    405
"""

# A's public installation opens A's inventory, never its log.
PUBLIC = """
resource       target   verb      anonymous  outsider  inspector
audit-entries  entry_a  list      401        200-      200-
audit-entries  entry_a  retrieve  401        404       404
"""


def _snapshot() -> list[dict]:
    return list(AuditEntry.objects.order_by("pk").values())


def _send(client, verb: str, target):
    match verb:
        case "list":
            return client.get(URL)
        case "retrieve":
            return client.get(_detail(target))
        case "create":
            body = {"type": "AuditEntry", "attributes": {"action": "delete", "model": "core.room", "object_id": "1"}}
            return client.post(URL, {"data": body})
        case "update":
            return client.patch(
                _detail(target), {"data": {"type": "AuditEntry", "id": str(target.pk), "attributes": {"action": "x"}}}
            )
        case "delete":
            return client.delete(_detail(target))
    raise ValueError(verb)


def check_cell(world: World, target_name: str, verb: str, user: str, expected: str) -> None:
    client = api_client(None if user == "anonymous" else world[user])
    target = None if target_name == "-" else world[target_name]
    before = _snapshot()
    response = _send(client, verb, target)

    statuses = {int(code) for code in expected.rstrip("+-").split("/")}
    assert response.status_code in statuses, response.content[:500]
    assert _snapshot() == before, "reading or refusing changed the log"
    if response.status_code >= 400:
        assert "errors" in response.json()
        return
    match verb:
        case "list":
            assert (str(target.pk) in ids_of(response.json())) == expected.endswith("+")
        case "retrieve":
            assert response.json()["data"]["id"] == str(target.pk)


@pytest.mark.parametrize(("resource", "target", "verb", "user", "expected"), matrix(PRIVATE))
def test_the_log_is_for_owners_and_written_by_nobody(world, resource, target, verb, user, expected):
    world.unpublish()
    check_cell(world, target, verb, user, expected)


@pytest.mark.parametrize(("resource", "target", "verb", "user", "expected"), matrix(PUBLIC))
def test_a_public_organization_shows_nobody_its_log(world, resource, target, verb, user, expected):
    check_cell(world, target, verb, user, expected)


def test_routes_answer_without_the_trailing_slash(owner, organization):
    entry = _entry(organization)
    client = api_client(owner)

    assert client.get(URL.rstrip("/")).status_code == 200
    assert client.get(_detail(entry).rstrip("/")).status_code == 200


def test_a_site_created_by_one_owner_shows_in_the_log_of_another(owner, organization):
    colleague = make_user("carla", organization=organization, role=Membership.Role.OWNER)
    site = make_site(operator=organization)
    api_client(colleague).patch(
        f"/api/v1/sites/{site.pk}/",
        {"data": {"type": "Site", "id": str(site.pk), "attributes": {"description": "frisch gestrichen"}}},
    )

    listed = api_client(owner).get(URL, {"filter[model]": "core.site", "filter[action]": "update"}).json()["data"]

    assert [item["attributes"]["actor_name"] for item in listed] == ["carla"]
    assert listed[0]["attributes"]["changes"] == {"description": ["", "frisch gestrichen"]}
