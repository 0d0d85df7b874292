"""Tenant isolation through /api/v1/: who sees and who changes what.

The world (core/tests/api_fixtures.py): organization A with a private and a
public site, organization B, and the cast anonymous, outsider (owner in B
only), inspector and owner of A, and staff (a superuser who is a member of
nothing: the API gives staff no hidden powers).

Expected cells: a status code; for lists ``200+`` (the target is listed) or
``200-`` (it is not); ``400/404`` where either answer reveals nothing. A
refused write must leave the whole database as it was.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from core.models import (
    Address,
    FidelityEvent,
    Installation,
    Node,
    NodeFidelity,
    NodeModel,
    Protocol,
    Quantity,
    Room,
    Site,
)
from core.tests.api_fixtures import World, api_client, build_world, ids_of, included
from user_manager.models import Membership, Organization, User

API = "/api/v1"


@pytest.fixture
def world(db) -> World:
    return build_world()


def _rel(type_: str, obj) -> dict:
    return {"data": {"type": type_, "id": str(obj.pk)}}


@dataclass(frozen=True)
class Resource:
    type: str
    model: type
    #: The attributes a PATCH sends (model field = attribute name).
    change: dict
    #: The POST's ``data``, given the row's target (where to create).
    new: Callable[[World, Any], dict]


RESOURCES = {
    "organizations": Resource(
        "Organization", Organization, {"description": "changed"},
        lambda w, _: {"type": "Organization", "attributes": {"name": "Gamma"}},
    ),
    "memberships": Resource(
        "Membership", Membership, {"role": "O"},
        lambda w, org: {
            "type": "Membership",
            "attributes": {"role": "I"},
            "relationships": {"user": _rel("User", w.newcomer), "organization": _rel("Organization", org)},
        },
    ),
    "users": Resource(
        "User", User, {"first_name": "Changed"},
        lambda w, _: {"type": "User", "attributes": {"username": "mallory", "email": "mallory@example.org"}},
    ),
    "addresses": Resource(
        "Address", Address, {"city": "Potsdam"},
        lambda w, _: {
            "type": "Address", "attributes": {"street1": "Neue Straße 5", "zip": "10115", "city": "Berlin"}
        },
    ),
    "sites": Resource(
        "Site", Site, {"description": "changed"},
        lambda w, org: {
            "type": "Site", "attributes": {"name": "Neubau"}, "relationships": {"operator": _rel("Organization", org)}
        },
    ),
    "rooms": Resource(
        "Room", Room, {"description": "changed"},
        lambda w, site: {
            "type": "Room", "attributes": {"name": "Neuer Raum"}, "relationships": {"site": _rel("Site", site)}
        },
    ),
    "installations": Resource(
        "Installation", Installation, {"description": "changed"},
        lambda w, room: {
            "type": "Installation",
            # 2020: before the node's current installation began.
            "attributes": {"from_timestamp_s": 1577836800, "to_timestamp_s": 1609459200},
            "relationships": {"node": _rel("Node", w.node_private), "room": _rel("Room", room)},
        },
    ),
    "nodes": Resource(
        "Node", Node, {"alias": "changed"},
        lambda w, org: {
            "type": "Node",
            "attributes": {"eui64": "a0000000000000ff", "alias": "new"},
            "relationships": {
                "owner": _rel("Organization", org),
                "protocol": _rel("Protocol", w.protocol),
                "model": _rel("Model", w.model),
            },
        },
    ),
    "fidelity": Resource(
        "Fidelity", NodeFidelity, {"fidelity": "D"},
        lambda w, _: {
            "type": "Fidelity", "attributes": {"fidelity": "D"}, "relationships": {"node": _rel("Node", w.node_b2)}
        },
    ),
    "fidelity-events": Resource(
        "FidelityEvent", FidelityEvent, {"new": "D"},
        lambda w, _: {
            "type": "FidelityEvent",
            "attributes": {"old": "E", "new": "D", "timestamp_s": 1717210800},
            "relationships": {"node": _rel("Node", w.node_private)},
        },
    ),
    "quantities": Resource(
        "Quantity", Quantity, {"base_unit": "µg/m3"},
        lambda w, _: {"type": "Quantity", "attributes": {"quantity": "PM2.5", "base_unit": "µg/m3"}},
    ),
    "protocols": Resource(
        "Protocol", Protocol, {"num_uplink_msgs": 2},
        lambda w, _: {"type": "Protocol", "attributes": {"identifier": "ELSYSERS"}},
    ),
    "models": Resource(
        "Model", NodeModel, {"manufacturer": "changed"},
        lambda w, _: {
            "type": "Model", "attributes": {"name": "ERS CO2", "manufacturer": "Elsys", "sensor_type": "NDIR"}
        },
    ),
}


def matrix(table: str) -> list:
    """One test case per cell of a table ``resource target verb <user>...``."""
    lines = [line.split() for line in table.strip().splitlines()]
    header, *rows = [words for words in lines if words and not words[0].startswith("#")]
    users = header[3:]
    cases = []
    for resource, target, verb, *cells in rows:
        assert len(cells) == len(users), f"row {resource} {target} {verb} has {len(cells)} cells"
        for user, expected in zip(users, cells, strict=True):
            cases.append(pytest.param(resource, target, verb, user, expected, id=f"{resource}-{target}-{verb}-{user}"))
    return cases


# Everything of A private (the public installation unpublished). A target
# ``-`` means the resource belongs to no organization; for ``create`` the
# target is where the new object goes.
PRIVATE = """
resource         target             verb      anonymous  outsider  inspector  owner  staff
organizations    org_a              list      200-       200-      200+       200+   200-
organizations    org_a              retrieve  404        404       200        200    404
organizations    -                  create    401        201       201        201    201
organizations    org_a              update    401        404       403        200    404
organizations    org_a              delete    401        404       403        204    404
memberships      member_membership  list      401        200-      200+       200+   200-
memberships      member_membership  retrieve  401        404       200        200    404
memberships      org_a              create    401        400/404   403        201    400/404
memberships      member_membership  update    401        404       403        200    404
memberships      member_membership  delete    401        404       403        204    404
users            member             list      401        200-      200+       200+   200-
users            member             retrieve  401        404       200        200    404
users            -                  create    401        405       405        405    405
users            member             update    401        404       403        403    404
users            member             delete    401        405       405        405    405
addresses        addr_private       list      200-       200-      200+       200+   200-
addresses        addr_private       retrieve  404        404       200        200    404
addresses        -                  create    401        201       201        201    201
addresses        addr_private       update    401        404       403        200    404
# A site still uses the address (PROTECT): a conflict, not a server error.
addresses        addr_private       delete    401        404       403        409    404
sites            site_private       list      200-       200-      200+       200+   200-
sites            site_private       retrieve  404        404       200        200    404
sites            org_a              create    401        400/404   403        201    400/404
sites            site_private       update    401        404       403        200    404
sites            site_private       delete    401        404       403        204    404
rooms            room_private       list      200-       200-      200+       200+   200-
rooms            room_private       retrieve  404        404       200        200    404
rooms            site_private       create    401        400/404   403        201    400/404
rooms            room_private       update    401        404       403        200    404
rooms            room_private       delete    401        404       403        204    404
installations    inst_private       list      200-       200-      200+       200+   200-
installations    inst_private       retrieve  404        404       200        200    404
installations    room_private       create    401        400/404   403        201    400/404
installations    inst_private       update    401        404       403        200    404
installations    inst_private       delete    401        404       403        204    404
nodes            node_private       list      401        200-      200+       200+   200-
nodes            node_private       retrieve  401        404       200        200    404
nodes            org_a              create    401        400/404   403        201    400/404
nodes            node_private       update    401        404       403        200    404
nodes            node_private       delete    401        404       403        204    404
fidelity         fidelity_private   list      401        200-      200+       200+   200-
fidelity         fidelity_private   retrieve  401        404       200        200    404
fidelity         -                  create    401        405       405        405    405
fidelity         fidelity_private   update    401        405       405        405    405
fidelity         fidelity_private   delete    401        405       405        405    405
fidelity-events  event_private      list      401        200-      200+       200+   200-
fidelity-events  event_private      retrieve  401        404       200        200    404
fidelity-events  -                  create    401        405       405        405    405
fidelity-events  event_private      update    401        405       405        405    405
fidelity-events  event_private      delete    401        405       405        405    405
quantities       spare_quantity     list      200+       200+      200+       200+   200+
quantities       spare_quantity     retrieve  200        200       200        200    200
quantities       -                  create    401        403       403        403    201
quantities       spare_quantity     update    401        403       403        403    200
quantities       spare_quantity     delete    401        403       403        403    204
protocols        spare_protocol     list      200+       200+      200+       200+   200+
protocols        spare_protocol     retrieve  200        200       200        200    200
protocols        -                  create    401        403       403        403    201
protocols        spare_protocol     update    401        403       403        403    200
protocols        spare_protocol     delete    401        403       403        403    204
models           spare_model        list      200+       200+      200+       200+   200+
models           spare_model        retrieve  200        200       200        200    200
models           -                  create    401        403       403        403    201
models           spare_model        update    401        403       403        403    200
models           spare_model        delete    401        403       403        403    204
"""

# A's public installation makes it, its room, site (with address) and A
# readable by all; writes stay with A's owners. Its node, A's memberships
# and people, and every sibling not reached by the installation stay hidden.
PUBLIC = """
resource         target             verb      anonymous  outsider  staff
organizations    org_a              list      200+       200+      200+
organizations    org_a              retrieve  200        200       200
organizations    org_a              update    401        403       403
organizations    org_a              delete    401        403       403
sites            site_public        list      200+       200+      200+
sites            site_public        retrieve  200        200       200
sites            org_a              create    401        403       403
sites            site_public        update    401        403       403
sites            site_public        delete    401        403       403
sites            site_private       list      200-       200-      200-
sites            site_private       retrieve  404        404       404
sites            site_private       update    401        404       404
addresses        addr_public        list      200+       200+      200+
addresses        addr_public        retrieve  200        200       200
addresses        addr_public        update    401        403       403
addresses        addr_public        delete    401        403       403
addresses        addr_private       list      200-       200-      200-
addresses        addr_private       retrieve  404        404       404
addresses        addr_private       update    401        404       404
rooms            room_public        list      200+       200+      200+
rooms            room_public        retrieve  200        200       200
rooms            site_public        create    401        403       403
rooms            room_public        update    401        403       403
rooms            room_public        delete    401        403       403
rooms            room_sibling       list      200-       200-      200-
rooms            room_sibling       retrieve  404        404       404
rooms            room_sibling       update    401        404       404
rooms            room_private       retrieve  404        404       404
installations    inst_public        list      200+       200+      200+
installations    inst_public        retrieve  200        200       200
installations    inst_public        update    401        403       403
installations    inst_public        delete    401        403       403
installations    inst_private       list      200-       200-      200-
installations    inst_private       retrieve  404        404       404
installations    inst_private       update    401        404       404
nodes            node_public        list      401        200-      200-
nodes            node_public        retrieve  401        404       404
nodes            node_public        update    401        404       404
nodes            node_public        delete    401        404       404
fidelity         fidelity_public    list      401        200-      200-
fidelity         fidelity_public    retrieve  401        404       404
fidelity-events  event_public       list      401        200-      200-
fidelity-events  event_public       retrieve  401        404       404
fidelity-events  event_public       update    401        405       405
fidelity-events  event_public       delete    401        405       405
memberships      org_a              create    401        403       403
memberships      owner_membership   list      401        200-      200-
memberships      owner_membership   retrieve  401        404       404
memberships      owner_membership   update    401        404       404
memberships      owner_membership   delete    401        404       404
users            owner              list      401        200-      200-
users            owner              retrieve  401        404       404
users            owner              update    401        404       404
"""


def _snapshot() -> dict:
    models = (Organization, Membership, User, Address, Site, Room, Node, Installation, NodeFidelity,
              FidelityEvent, Quantity, Protocol, NodeModel)
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in models}


def _send(client, resource: str, verb: str, target, world: World):
    spec = RESOURCES[resource]
    collection = f"{API}/{resource}/"
    detail = f"{collection}{target.pk}/" if target is not None else None
    match verb:
        case "list":
            return client.get(collection)
        case "retrieve":
            return client.get(detail)
        case "create":
            return client.post(collection, {"data": spec.new(world, target)})
        case "update":
            body = {"type": spec.type, "id": str(target.pk), "attributes": spec.change}
            return client.patch(detail, {"data": body})
        case "delete":
            return client.delete(detail)
    raise ValueError(verb)


def _client(world: World, user: str):
    return api_client(None if user == "anonymous" else world[user])


def check_cell(world: World, resource: str, target_name: str, verb: str, user: str, expected: str) -> None:
    client = _client(world, user)
    target = None if target_name == "-" else world[target_name]
    model = RESOURCES[resource].model
    before = _snapshot()
    response = _send(client, resource, verb, target, world)

    statuses = {int(code) for code in expected.rstrip("+-").split("/")}
    assert response.status_code in statuses, response.content[:500]
    if response.status_code >= 400:
        assert "errors" in response.json()
        assert _snapshot() == before, "a refused request changed the database"
        return
    match verb:
        case "list":
            listed = str(target.pk) in ids_of(response.json())
            assert listed == expected.endswith("+")
        case "retrieve":
            assert response.json()["data"]["id"] == str(target.pk)
        case "create":
            created = response.json()["data"]["id"]
            assert model.objects.filter(pk=created).exists()
            assert model.objects.count() == len(before[model.__name__]) + 1
        case "update":
            row = model.objects.filter(pk=target.pk).values(*RESOURCES[resource].change).get()
            assert row == RESOURCES[resource].change
        case "delete":
            assert not model.objects.filter(pk=target.pk).exists()


@pytest.mark.parametrize(("resource", "target", "verb", "user", "expected"), matrix(PRIVATE))
def test_private_objects_are_for_members_and_changes_for_owners(world, resource, target, verb, user, expected):
    world.unpublish()
    check_cell(world, resource, target, verb, user, expected)


@pytest.mark.parametrize(("resource", "target", "verb", "user", "expected"), matrix(PUBLIC))
def test_public_installation_opens_reading_but_not_writing(world, resource, target, verb, user, expected):
    check_cell(world, resource, target, verb, user, expected)


@pytest.mark.parametrize("target", ["protocol", "model"])
def test_staff_deleting_a_catalog_entry_nodes_use_is_a_conflict(world, target):
    check_cell(world, f"{target}s", target, "delete", "staff", "409")


# --- Includes and related routes ---------------------------------------------------


NON_MEMBERS = ("anonymous", "outsider", "staff")


def _url(world, path: str) -> str:
    return f"{API}/" + path.format(**{name: obj.pk for name, obj in world.objects.items()})


def _names(world, names) -> set[str]:
    return {str(world[name].pk) for name in names}


def _related_ids(relationship: dict) -> set[str]:
    data = relationship["data"]
    items = data if isinstance(data, list) else [data]
    return {item["id"] for item in items if item is not None}


@pytest.mark.parametrize("user", NON_MEMBERS)
def test_public_installation_includes_no_node_for_non_members(world, user):
    response = _client(world, user).get(f"{API}/installations/{world.inst_public.pk}/?include=node,room")

    assert response.status_code == 200
    document = response.json()
    assert included(document, "Node") == set()
    assert included(document, "Room") == {str(world.room_public.pk)}


@pytest.mark.parametrize("user", NON_MEMBERS)
def test_installation_list_shows_non_members_no_node_of_another_organization(world, user):
    response = _client(world, user).get(f"{API}/installations/?include=node")

    assert response.status_code == 200
    document = response.json()
    public = next(item for item in document["data"] if item["id"] == str(world.inst_public.pk))
    assert public["relationships"]["node"]["data"] is None
    assert included(document, "Node") == (_names(world, ["node_b"]) if user == "outsider" else set())


def test_members_see_the_node_of_their_public_installation(world):
    response = api_client(world.inspector).get(f"{API}/installations/{world.inst_public.pk}/?include=node")

    assert response.json()["data"]["relationships"]["node"]["data"]["id"] == str(world.node_public.pk)
    assert included(response.json(), "Node") == {str(world.node_public.pk)}


# Relationships of A's public objects, whether in the primary data ("data")
# or in included documents of a type: a non-member sees only what is public.
PUBLIC_RELATIONSHIPS = [
    ("installations/{inst_public}/", "data", "node", set()),
    ("installations/{inst_public}/?include=room", "Room", "installations", {"inst_public"}),
    ("installations/{inst_public}/?include=room.site", "Site", "rooms", {"room_public"}),
    ("rooms/{room_public}/", "data", "installations", {"inst_public"}),
    ("rooms/{room_public}/?include=installations", "Installation", "node", set()),
    ("rooms/{room_public}/?include=site", "Site", "rooms", {"room_public"}),
    ("sites/{site_public}/", "data", "rooms", {"room_public"}),
    ("sites/{site_public}/?include=rooms", "Room", "installations", {"inst_public"}),
    ("sites/{site_public}/?include=operator", "Organization", "sites", {"site_public"}),
    ("sites/{site_public}/?include=operator", "Organization", "nodes", set()),
    ("sites/{site_public}/?include=operator", "Organization", "memberships", set()),
    ("sites/{site_public}/?include=operator", "Organization", "users", set()),
    ("organizations/{org_a}/?include=sites", "Site", "rooms", {"room_public"}),
]


@pytest.mark.parametrize("user", NON_MEMBERS)
@pytest.mark.parametrize(
    ("path", "where", "relationship", "expected"),
    PUBLIC_RELATIONSHIPS,
    ids=[f"{path}-{where}.{rel}" for path, where, rel, _ in PUBLIC_RELATIONSHIPS],
)
def test_relationships_of_public_objects_show_non_members_only_public_objects(
    world, user, path, where, relationship, expected
):
    response = _client(world, user).get(_url(world, path))

    assert response.status_code == 200
    document = response.json()
    if where == "data":
        documents = [document["data"]]
    else:
        documents = [item for item in document["included"] if item["type"] == where]
    assert documents, f"nothing of type {where} to check"
    for shown in documents:
        assert _related_ids(shown["relationships"][relationship]) == _names(world, expected)


# Nested includes from a public object: the included documents of each type
# hold only what a non-member may see. (The primary document itself is never
# repeated in ``included``, so "only the public site" shows as an empty set.)
NESTED_INCLUDES = [
    ("sites/{site_public}/?include=operator.users", "User", set()),
    ("sites/{site_public}/?include=operator.memberships", "Membership", set()),
    ("sites/{site_public}/?include=operator.nodes", "Node", set()),
    ("sites/{site_public}/?include=operator.sites", "Site", set()),
    ("sites/{site_public}/?include=rooms.installations", "Installation", {"inst_public"}),
    ("rooms/{room_public}/?include=site.rooms", "Room", set()),
    ("installations/{inst_public}/?include=room.installations", "Installation", set()),
    ("installations/{inst_public}/?include=room.site.operator.users", "User", set()),
    ("rooms/{room_public}/?include=installations.node", "Node", set()),
]


@pytest.mark.parametrize("user", NON_MEMBERS)
@pytest.mark.parametrize(("path", "type_", "expected"), NESTED_INCLUDES, ids=[p for p, *_ in NESTED_INCLUDES])
def test_nested_includes_give_non_members_only_public_documents(world, user, path, type_, expected):
    response = _client(world, user).get(_url(world, path))

    assert response.status_code == 200
    assert included(response.json(), type_) == _names(world, expected)


RELATED = [
    # (user, path, expected status, the ids listed if 200)
    ("owner", "organizations/{org_b}/sites/", 404, None),
    ("owner", "organizations/{org_b}/nodes/", 404, None),
    ("owner", "organizations/{org_b}/memberships/", 404, None),
    ("owner", "organizations/{org_b}/users/", 404, None),
    ("staff", "organizations/{org_b}/sites/", 404, None),
    ("outsider", "sites/{site_private}/rooms/", 404, None),
    ("outsider", "sites/{site_private}/address/", 404, None),
    ("outsider", "sites/{site_private}/operator/", 404, None),
    ("outsider", "rooms/{room_private}/installations/", 404, None),
    ("outsider", "rooms/{room_sibling}/installations/", 404, None),
    ("outsider", "rooms/{room_private}/site/", 404, None),
    ("outsider", "nodes/{node_private}/installations/", 404, None),
    ("outsider", "nodes/{node_public}/installations/", 404, None),
    ("outsider", "nodes/{node_public}/owner/", 404, None),
    ("outsider", "installations/{inst_private}/node/", 404, None),
    ("outsider", "installations/{inst_private}/room/", 404, None),
    ("outsider", "installations/{inst_public}/node/", 404, None),
    ("anonymous", "installations/{inst_public}/node/", 401, None),
    ("outsider", "memberships/{owner_membership}/user/", 404, None),
    ("outsider", "memberships/{owner_membership}/organization/", 404, None),
    ("outsider", "users/{owner}/memberships/", 404, None),
    ("outsider", "users/{owner}/organizations/", 404, None),
    # What the public installation opens, and nothing beside it.
    ("outsider", "organizations/{org_a}/sites/", 200, {"site_public"}),
    ("outsider", "organizations/{org_a}/nodes/", 200, set()),
    ("outsider", "organizations/{org_a}/memberships/", 200, set()),
    ("outsider", "organizations/{org_a}/users/", 200, set()),
    ("anonymous", "organizations/{org_a}/sites/", 200, {"site_public"}),
    ("anonymous", "sites/{site_public}/rooms/", 200, {"room_public"}),
    ("anonymous", "sites/{site_public}/operator/", 200, {"org_a"}),
    ("anonymous", "rooms/{room_public}/installations/", 200, {"inst_public"}),
    ("anonymous", "installations/{inst_public}/room/", 200, {"room_public"}),
    ("outsider", "sites/?filter[organization]={org_a}", 200, {"site_public"}),
    # Members see all of it.
    ("owner", "organizations/{org_a}/sites/", 200, {"site_public", "site_private"}),
    ("owner", "rooms/{room_public}/installations/", 200, {"inst_public", "inst_past"}),
    ("owner", "installations/{inst_public}/node/", 200, {"node_public"}),
]


@pytest.mark.parametrize(("user", "path", "status", "expected"), RELATED, ids=[f"{u}-{p}" for u, p, *_ in RELATED])
def test_related_routes_show_only_what_the_caller_may_see(world, user, path, status, expected):
    response = _client(world, user).get(_url(world, path))

    assert response.status_code == status, response.content[:500]
    if expected is not None:
        assert ids_of(response.json()) == _names(world, expected)


# A filter naming something the caller cannot see must answer exactly as
# for something that does not exist: no existence oracle, and no way to
# learn which node a public installation holds.
HIDDEN_FILTERS = [
    ("installations/?filter[node]={node_public}", "installations/?filter[node]=00000000-0000-0000-0000-000000000000"),
    ("installations/?filter[room]={room_private}", "installations/?filter[room]=999999"),
    ("rooms/?filter[site]={site_private}", "rooms/?filter[site]=999999"),
    ("memberships/?filter[user]={owner}", "memberships/?filter[user]=999999"),
    ("fidelity/?filter[node]={node_public}", "fidelity/?filter[node]=00000000-0000-0000-0000-000000000000"),
    (
        "fidelity-events/?filter[node]={node_public}",
        "fidelity-events/?filter[node]=00000000-0000-0000-0000-000000000000",
    ),
    ("fidelity-events/?filter[organization]={org_a}", "fidelity-events/?filter[organization]=999999"),
]


@pytest.mark.parametrize(("hidden", "missing"), HIDDEN_FILTERS, ids=[h for h, _ in HIDDEN_FILTERS])
def test_filtering_by_a_hidden_object_answers_as_for_a_missing_one(world, hidden, missing):
    client = api_client(world.outsider)
    answer, baseline = client.get(_url(world, hidden)), client.get(_url(world, missing))

    assert answer.status_code == baseline.status_code
    assert answer.json().get("data") == baseline.json().get("data")


ORGANIZATION_INCLUDE = "include=sites,nodes,memberships,users"


def _organization_a(world, user, route: str) -> tuple[dict, dict]:
    client = _client(world, user)
    if route == "detail":
        response = client.get(f"{API}/organizations/{world.org_a.pk}/?{ORGANIZATION_INCLUDE}")
    else:
        response = client.get(f"{API}/organizations/?{ORGANIZATION_INCLUDE}")
    assert response.status_code == 200
    document = response.json()
    if route == "list":
        return document, next(item for item in document["data"] if item["id"] == str(world.org_a.pk))
    return document, document["data"]


@pytest.mark.parametrize("route", ["detail", "list"])
@pytest.mark.parametrize("user", NON_MEMBERS)
def test_public_organization_shows_non_members_only_its_public_site(world, user, route):
    document, organization = _organization_a(world, user, route)

    relationships = organization["relationships"]
    assert _related_ids(relationships["sites"]) == _names(world, ["site_public"])
    for hidden in ("nodes", "memberships", "users"):
        assert relationships[hidden]["data"] == []
    # Listing organizations, the outsider also gets all of their own B.
    own_b = user == "outsider" and route == "list"
    expected = {
        "Site": {"site_public", "site_b"} if own_b else {"site_public"},
        "Node": {"node_b", "node_b2"} if own_b else set(),
        "Membership": {"outsider_membership"} if own_b else set(),
        "User": {"outsider"} if own_b else set(),
    }
    for type_, names in expected.items():
        assert included(document, type_) == _names(world, names), type_


def test_members_see_all_of_their_organization_through_include(world):
    document, organization = _organization_a(world, "inspector", "detail")

    assert included(document, "Site") == _names(world, ["site_public", "site_private"])
    assert included(document, "Node") == _names(world, ["node_public", "node_private"])
    assert included(document, "User") == _names(world, ["owner", "inspector", "member"])
    assert len(organization["relationships"]["memberships"]["data"]) == 3


def test_public_organization_of_a_found_user_shows_none_of_its_people_or_nodes(world):
    Installation.objects.filter(pk=world.inst_b.pk).update(is_public=True)

    response = api_client(world.owner).get(
        f"{API}/users/", {"filter[search]": "otto@example.org", "include": "organizations"}
    )

    (organization_b,) = [item for item in response.json()["included"] if item["type"] == "Organization"]
    assert organization_b["id"] == str(world.org_b.pk)
    relationships = organization_b["relationships"]
    assert _related_ids(relationships["sites"]) == _names(world, ["site_b"])
    for hidden in ("nodes", "memberships", "users"):
        assert relationships[hidden]["data"] == [], hidden


# --- Memberships --------------------------------------------------------------------


def _membership_url(membership) -> str:
    return f"{API}/memberships/{membership.pk}/"


def _demote(membership) -> dict:
    return {"data": {"type": "Membership", "id": str(membership.pk), "attributes": {"role": "I"}}}


def test_owner_adds_a_registered_user_as_inspector(world):
    body = {"data": RESOURCES["memberships"].new(world, world.org_a)}
    response = api_client(world.owner).post(f"{API}/memberships/", body)

    assert response.status_code == 201
    assert Membership.objects.filter(user=world.newcomer, organization=world.org_a, role="I").exists()


def test_inspector_may_leave_their_organization(world):
    response = api_client(world.inspector).delete(_membership_url(world.inspector_membership))

    assert response.status_code == 204
    assert not Membership.objects.filter(pk=world.inspector_membership.pk).exists()


@pytest.mark.parametrize("change", ["leave", "demote"])
def test_last_owner_can_neither_leave_nor_be_demoted(world, change):
    client = api_client(world.owner)
    membership = world.owner_membership
    if change == "leave":
        response = client.delete(_membership_url(membership))
    else:
        response = client.patch(_membership_url(membership), _demote(membership))

    assert response.status_code == 409
    assert response.json()["errors"][0]["status"] == "409"
    assert "owner" in response.json()["errors"][0]["detail"]
    assert Membership.objects.get(pk=membership.pk).role == Membership.Role.OWNER


@pytest.mark.parametrize(("change", "status"), [("leave", 204), ("demote", 200)])
def test_an_owner_may_leave_or_step_down_when_another_owner_remains(world, change, status):
    Membership.objects.filter(pk=world.member_membership.pk).update(role=Membership.Role.OWNER)
    client = api_client(world.owner)
    membership = world.owner_membership
    if change == "leave":
        response = client.delete(_membership_url(membership))
    else:
        response = client.patch(_membership_url(membership), _demote(membership))

    assert response.status_code == status
    owners = Membership.objects.filter(organization=world.org_a, role=Membership.Role.OWNER)
    assert list(owners.values_list("user__username", flat=True)) == ["ida"]


# --- People ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("owner", {"owner", "inspector", "member"}),
        ("inspector", {"owner", "inspector", "member"}),
        ("outsider", {"outsider"}),
        ("staff", {"staff"}),
        ("newcomer", {"newcomer"}),
    ],
)
def test_users_lists_only_the_caller_and_people_sharing_an_organization(world, user, expected):
    response = api_client(world[user]).get(f"{API}/users/")

    assert ids_of(response.json()) == {str(world[name].pk) for name in expected}


@pytest.mark.parametrize("term", ["nora@example.org", "NORA@Example.ORG"])
def test_exact_email_finds_an_unrelated_registered_user(world, term):
    response = api_client(world.owner).get(f"{API}/users/", {"filter[search]": term})

    assert response.status_code == 200
    assert ids_of(response.json()) == {str(world.newcomer.pk)}


def test_user_found_by_email_reveals_none_of_their_organizations(world):
    response = api_client(world.owner).get(f"{API}/users/", {"filter[search]": "otto@example.org"})

    (found,) = response.json()["data"]
    assert found["id"] == str(world.outsider.pk)
    assert found["relationships"]["organizations"]["data"] == []
    assert found["relationships"]["memberships"]["data"] == []


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("Neuling", set()),  # the newcomer's last name
        ("nor", set()),  # the start of their username and e-mail
        ("Outsider", set()),
        ("otto@example", set()),  # an e-mail address, but not all of it
        ("@example.org", {"owner", "inspector", "member"}),
        ("Imhof", {"inspector"}),
    ],
)
def test_search_by_name_finds_nobody_outside_ones_organizations(world, term, expected):
    response = api_client(world.owner).get(f"{API}/users/", {"filter[search]": term})

    assert response.status_code == 200
    assert ids_of(response.json()) == {str(world[name].pk) for name in expected}


def test_unrelated_user_cannot_be_retrieved_even_once_found_by_email(world):
    response = api_client(world.owner).get(f"{API}/users/{world.newcomer.pk}/")

    assert response.status_code == 404


@pytest.mark.parametrize("other", ["inspector", "newcomer"])
def test_nobody_changes_another_users_name(world, other):
    before = _snapshot()
    body = {"data": {"type": "User", "id": str(world[other].pk), "attributes": {"first_name": "Mallory"}}}
    response = api_client(world.owner).patch(f"{API}/users/{world[other].pk}/", body)

    assert response.status_code in (403, 404)
    assert _snapshot() == before


def test_user_changes_their_own_first_name(world):
    body = {"data": {"type": "User", "id": str(world.inspector.pk), "attributes": {"first_name": "Inès"}}}
    response = api_client(world.inspector).patch(f"{API}/users/{world.inspector.pk}/", body)

    assert response.status_code == 200
    assert User.objects.get(pk=world.inspector.pk).first_name == "Inès"


