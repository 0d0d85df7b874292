"""Malformed and refused requests: always a JSON:API error document, never a 500,
and a refused write leaves the database as it was."""

import copy
import json
from contextlib import contextmanager
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from rest_framework.test import APIClient

from core.models import Address, Installation, Node, Room, Site
from core.tests.factories import make_installation, make_node, make_room, make_site, make_user
from user_manager.models import Membership, Organization, User

RESOURCES = ["sites", "rooms", "installations", "nodes", "memberships", "organizations"]
TYPES = {
    "sites": "Site", "rooms": "Room", "installations": "Installation",
    "nodes": "Node", "memberships": "Membership", "organizations": "Organization",
}
# 2023-11-14, before the fixture installation (2024-01-01) and on a node of its own.
SPARE_INSTALLATION_START_S = 1_700_000_000


@pytest.fixture
def inventory(owner, organization, installation):
    """The owner's inventory, plus a spare node and a person to invite."""
    return SimpleNamespace(
        organization=organization,
        site=installation.room.site,
        room=installation.room,
        node=installation.node,
        installation=installation,
        membership=owner.memberships.get(),
        spare_node=make_node(owner=organization, alias="spare"),
        newcomer=make_user("nora"),
    )


@pytest.fixture
def api(owner):
    # 500s come back as responses, so a test can say "never a 500" instead of crashing.
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(owner)
    return client


def _rel(type_, pk):
    return {"data": {"type": type_, "id": str(pk)}}


def _document(type_, attributes, **relationships):
    data = {"type": type_, "attributes": attributes}
    if relationships:
        data["relationships"] = relationships
    return {"data": data}


def valid_document(resource, inventory):
    """A document the endpoint accepts (see test_well_formed_document_is_created)."""
    match resource:
        case "sites":
            return _document("Site", {"name": "Neubau"}, operator=_rel("Organization", inventory.organization.pk))
        case "rooms":
            return _document("Room", {"name": "Aula"}, site=_rel("Site", inventory.site.pk))
        case "installations":
            return _document(
                "Installation", {"from_timestamp_s": SPARE_INSTALLATION_START_S},
                node=_rel("Node", inventory.spare_node.pk), room=_rel("Room", inventory.room.pk),
            )
        case "nodes":
            return _document(
                "Node", {"eui64": "70b3d57ed0000001", "alias": "Flur"},
                protocol=_rel("Protocol", inventory.node.protocol_id), model=_rel("Model", inventory.node.model_id),
                owner=_rel("Organization", inventory.organization.pk),
            )
        case "memberships":
            return _document(
                "Membership", {"role": "I"},
                user=_rel("User", inventory.newcomer.pk), organization=_rel("Organization", inventory.organization.pk),
            )
        case "organizations":
            return _document("Organization", {"name": "Neue Schule"})
    raise ValueError(resource)


def existing_id(resource, inventory) -> str:
    return str({
        "sites": inventory.site.pk, "rooms": inventory.room.pk, "installations": inventory.installation.pk,
        "nodes": inventory.node.pk, "memberships": inventory.membership.pk, "organizations": inventory.organization.pk,
    }[resource])


def _db_state():
    return {
        model.__name__: list(model.objects.order_by("pk").values())
        for model in (Organization, Membership, User, Address, Site, Room, Node, Installation)
    }


@contextmanager
def nothing_changes():
    before = _db_state()
    yield
    assert _db_state() == before, "a refused write changed the database"


def assert_error_document(response, status, pointer=None):
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/vnd.api+json")
    errors = response.json()["errors"]
    assert errors
    assert all(error["status"] == str(status) for error in errors)
    if pointer is not None:
        pointers = {error.get("source", {}).get("pointer") for error in errors}
        assert pointer in pointers, pointers


# --- Controls: the base documents are fine, so each refusal below is about its one defect.


@pytest.mark.parametrize("resource", RESOURCES)
def test_well_formed_document_is_created(api, inventory, resource):
    response = api.post(f"/api/v1/{resource}/", valid_document(resource, inventory))
    assert response.status_code == 201, response.content[:500]
    assert response.json()["data"]["type"] == TYPES[resource]


# --- The document itself ----------------------------------------------------------------


@pytest.mark.parametrize("resource", RESOURCES)
def test_malformed_json_is_a_400(api, inventory, resource):
    with nothing_changes():
        response = api.post(
            f"/api/v1/{resource}/", '{"data": {"type": "' + TYPES[resource] + '",',
            content_type="application/vnd.api+json",
        )
    assert_error_document(response, 400)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
@pytest.mark.parametrize("resource", RESOURCES)
def test_body_that_is_not_json_api_is_a_415(api, inventory, resource, content_type):
    with nothing_changes():
        response = api.post(f"/api/v1/{resource}/", "name=Neubau&role=O", content_type=content_type)
    assert_error_document(response, 415)


@pytest.mark.parametrize("resource", RESOURCES)
def test_type_of_another_resource_is_a_409(api, inventory, resource):
    document = valid_document(resource, inventory)
    document["data"]["type"] = "Sample"
    with nothing_changes():
        response = api.post(f"/api/v1/{resource}/", document)
    assert_error_document(response, 409)


@pytest.mark.parametrize("resource", RESOURCES)
def test_document_without_data_is_a_400(api, inventory, resource):
    body = valid_document(resource, inventory)["data"]  # The resource object, not wrapped in "data".
    with nothing_changes():
        response = api.post(f"/api/v1/{resource}/", body)
    assert_error_document(response, 400)


@pytest.mark.parametrize("resource", RESOURCES)
def test_unknown_attribute_is_a_400_pointing_at_it(api, inventory, resource):
    document = valid_document(resource, inventory)
    document["data"]["attributes"]["colour"] = "green"
    with nothing_changes():
        response = api.post(f"/api/v1/{resource}/", document)
    assert_error_document(response, 400, pointer="/data/attributes/colour")


@pytest.mark.parametrize("resource", RESOURCES)
def test_misspelt_attribute_on_patch_is_a_400_and_changes_nothing(api, inventory, resource):
    pk = existing_id(resource, inventory)
    document = {"data": {"type": TYPES[resource], "id": pk, "attributes": {"descripton": "typo"}}}
    with nothing_changes():
        response = api.patch(f"/api/v1/{resource}/{pk}/", document)
    assert_error_document(response, 400, pointer="/data/attributes/descripton")


@pytest.mark.parametrize(
    ("resource", "attribute"),
    [
        ("sites", "name"),
        ("rooms", "name"),
        ("installations", "from_timestamp_s"),
        ("nodes", "eui64"),
        ("organizations", "name"),
    ],
)
def test_missing_required_attribute_is_a_400_pointing_at_it(api, inventory, resource, attribute):
    document = valid_document(resource, inventory)
    del document["data"]["attributes"][attribute]
    with nothing_changes():
        response = api.post(f"/api/v1/{resource}/", document)
    assert_error_document(response, 400, pointer=f"/data/attributes/{attribute}")


@pytest.mark.parametrize("resource", RESOURCES)
def test_patch_whose_id_differs_from_the_url_is_a_409(api, inventory, resource):
    pk = existing_id(resource, inventory)
    other_id = "00000000-0000-0000-0000-000000000001" if resource == "nodes" else "999999"
    document = {"data": {"type": TYPES[resource], "id": other_id, "attributes": {}}}
    with nothing_changes():
        response = api.patch(f"/api/v1/{resource}/{pk}/", document)
    assert_error_document(response, 409)


# --- Query parameters -------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["colour=green", "filter[colour]=green", "include=colour", "sort=colour", "sort=-colour"],
)
@pytest.mark.parametrize("resource", RESOURCES)
def test_unknown_query_parameter_is_a_400(api, inventory, resource, query):
    response = api.get(f"/api/v1/{resource}/?{query}")
    assert_error_document(response, 400)


@pytest.mark.parametrize("resource", ["fidelity", "fidelity-events", "memberships", "installations"])
def test_searching_a_list_that_cannot_be_searched_is_a_400(api, inventory, resource):
    response = api.get(f"/api/v1/{resource}/?filter[search]=kitchen")
    assert_error_document(response, 400)
    assert response.json()["errors"][0]["source"]["parameter"] == "filter[search]"


# --- Ids in the URL ---------------------------------------------------------------------

MALFORMED_IDS = ["abc", "12abc", "-1", "1.5", "99999999999999999999999", "00000000-0000-0000-0000-000000000000"]


@pytest.mark.parametrize("bad_id", MALFORMED_IDS)
@pytest.mark.parametrize("resource", RESOURCES)
def test_malformed_or_unknown_id_in_url_is_a_404(api, inventory, resource, bad_id):
    url = f"/api/v1/{resource}/{bad_id}/"
    document = {"data": {"type": TYPES[resource], "id": bad_id, "attributes": {}}}
    with nothing_changes():
        responses = [api.get(url), api.patch(url, document), api.delete(url)]
    for response in responses:
        assert_error_document(response, 404)


@pytest.mark.parametrize(
    "route",
    ["sites/{}/rooms", "rooms/{}/installations", "nodes/{}/installations", "organizations/{}/sites",
     "installations/{}/node", "memberships/{}/user", "users/{}/memberships"],
)
@pytest.mark.parametrize("bad_id", ["abc", "99999999999999999999999"])
def test_malformed_id_in_related_route_is_a_404(api, inventory, route, bad_id):
    assert_error_document(api.get("/api/v1/" + route.format(bad_id) + "/"), 404)


# --- Business rules -------------------------------------------------------------------


def _installation(inventory, start_s, end_s=None, node=None, room=None):
    attributes = {"from_timestamp_s": start_s}
    if end_s is not None:
        attributes["to_timestamp_s"] = end_s
    return _document(
        "Installation", attributes,
        node=_rel("Node", (node or inventory.node).pk), room=_rel("Room", (room or inventory.room).pk),
    )


def test_installation_overlapping_another_of_the_same_node_is_a_400_at_its_start(api, inventory):
    # The fixture installation runs from 2024-01-01 on; this one from 2023-12 into 2024.
    start = int(datetime(2023, 12, 1, tzinfo=UTC).timestamp())
    end = int(datetime(2024, 2, 1, tzinfo=UTC).timestamp())
    next_door = make_room(site=inventory.site)
    with nothing_changes():
        response = api.post("/api/v1/installations/", _installation(inventory, start, end, room=next_door))
    assert_error_document(response, 400, pointer="/data/attributes/from_timestamp_s")


def test_moving_an_installation_onto_another_of_its_node_is_a_400(api, inventory):
    earlier = make_installation(
        inventory.node, inventory.room,
        from_time=datetime(2023, 1, 1, tzinfo=UTC), to_time=datetime(2023, 6, 1, tzinfo=UTC),
    )
    document = {"data": {"type": "Installation", "id": str(earlier.pk),
                         "attributes": {"to_timestamp_s": int(datetime(2024, 3, 1, tzinfo=UTC).timestamp())}}}
    with nothing_changes():
        response = api.patch(f"/api/v1/installations/{earlier.pk}/", document)
    assert_error_document(response, 400)


def test_installation_of_a_node_in_another_organizations_room_is_a_400(api, owner, inventory, other_organization):
    # The owner owns both organizations, so this is the rule speaking, not the scope.
    Membership.objects.create(user=owner, organization=other_organization, role=Membership.Role.OWNER)
    foreign_room = make_room(operator=other_organization)
    with nothing_changes():
        response = api.post("/api/v1/installations/", _installation(
            inventory, SPARE_INSTALLATION_START_S, node=inventory.spare_node, room=foreign_room
        ))
    assert_error_document(response, 400)
    pointers = {error.get("source", {}).get("pointer", "") for error in response.json()["errors"]}
    assert any(pointer.endswith("/room") for pointer in pointers), pointers


@pytest.mark.parametrize("length_s", [0, -3600])
def test_installation_ending_before_it_starts_is_a_400(api, inventory, length_s):
    start = SPARE_INSTALLATION_START_S
    with nothing_changes():
        response = api.post(
            "/api/v1/installations/", _installation(inventory, start, start + length_s, node=inventory.spare_node)
        )
    assert_error_document(response, 400, pointer="/data/attributes/to_timestamp_s")


def test_duplicate_site_name_within_an_organization_is_a_400(api, inventory):
    document = valid_document("sites", inventory)
    document["data"]["attributes"]["name"] = inventory.site.name
    with nothing_changes():
        response = api.post("/api/v1/sites/", document)
    assert_error_document(response, 400)


def test_renaming_a_site_to_a_sibling_name_is_a_400(api, inventory):
    sibling = make_site(operator=inventory.organization, name="Altbau")
    document = {"data": {"type": "Site", "id": str(inventory.site.pk), "attributes": {"name": sibling.name}}}
    with nothing_changes():
        response = api.patch(f"/api/v1/sites/{inventory.site.pk}/", document)
    assert_error_document(response, 400)


def test_site_name_taken_in_another_organization_is_free(api, owner, inventory, other_organization):
    Membership.objects.create(user=owner, organization=other_organization, role=Membership.Role.OWNER)
    document = valid_document("sites", inventory)
    document["data"]["attributes"]["name"] = inventory.site.name
    document["data"]["relationships"]["operator"] = _rel("Organization", other_organization.pk)
    assert api.post("/api/v1/sites/", document).status_code == 201


def test_duplicate_room_name_within_a_site_is_a_400(api, inventory):
    document = valid_document("rooms", inventory)
    document["data"]["attributes"]["name"] = inventory.room.name
    with nothing_changes():
        response = api.post("/api/v1/rooms/", document)
    assert_error_document(response, 400)


@pytest.mark.parametrize("spelling", [str.lower, str.upper])
def test_duplicate_node_eui64_is_a_400(api, inventory, spelling):
    make_node(owner=inventory.organization, eui64="70b3d57ed00000ab")
    document = valid_document("nodes", inventory)
    document["data"]["attributes"]["eui64"] = spelling("70b3d57ed00000ab")
    with nothing_changes():
        response = api.post("/api/v1/nodes/", document)
    assert_error_document(response, 400, pointer="/data/attributes/eui64")


def test_node_with_the_id_of_another_node_is_a_400(api, inventory):
    document = valid_document("nodes", inventory)
    document["data"]["id"] = str(inventory.node.pk)
    with nothing_changes():
        response = api.post("/api/v1/nodes/", document)
    assert_error_document(response, 400)


@pytest.mark.parametrize(
    "eui64", ["", "zz", "70b3d57ed000001", "70b3d57ed00000011", "70b3d57ed000000g", "70 b3 d5 7e d0 00 00 01"]
)
def test_node_with_malformed_eui64_is_a_400(api, inventory, eui64):
    document = valid_document("nodes", inventory)
    document["data"]["attributes"]["eui64"] = eui64
    with nothing_changes():
        response = api.post("/api/v1/nodes/", document)
    assert_error_document(response, 400, pointer="/data/attributes/eui64")


def test_node_with_malformed_id_is_a_400(api, inventory):
    document = valid_document("nodes", inventory)
    document["data"]["id"] = "node-1"
    with nothing_changes():
        response = api.post("/api/v1/nodes/", document)
    assert_error_document(response, 400)


def test_second_membership_of_the_same_person_is_a_400(api, inventory, owner):
    document = valid_document("memberships", inventory)
    document["data"]["relationships"]["user"] = _rel("User", owner.pk)
    with nothing_changes():
        response = api.post("/api/v1/memberships/", document)
    assert_error_document(response, 400)


def test_duplicate_organization_name_is_a_400(api, inventory):
    document = valid_document("organizations", inventory)
    document["data"]["attributes"]["name"] = inventory.organization.name
    with nothing_changes():
        response = api.post("/api/v1/organizations/", document)
    assert_error_document(response, 400, pointer="/data/attributes/name")


# --- Fuzz: bodies of the wrong shape ----------------------------------------------------


def _set(path, value):
    """A mutation that puts ``value`` at ``path`` (keys into the document)."""
    def mutate(document):
        target = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return document
    return mutate


def _first_relationship(mutate_relationship):
    def mutate(document):
        relationships = document["data"]["relationships"]
        name = next(iter(relationships))
        relationships[name] = mutate_relationship(relationships[name])
        return document
    return mutate


SHAPE_MUTATIONS = {
    "document is a list": lambda d: [d["data"]],
    "document is a number": lambda d: 42,
    "data is a list": lambda d: {"data": [d["data"]]},
    "data is a string": lambda d: {"data": d["data"]["type"]},
    "data is null": lambda d: {"data": None},
    "attributes is a string": _set(("data", "attributes"), "name"),
    "attributes is a list": _set(("data", "attributes"), [["name", "x"]]),
    "relationships is a string": _set(("data", "relationships"), "operator"),
    "relationships is a list": _set(("data", "relationships"), [{"type": "Organization", "id": "1"}]),
}
RELATIONSHIP_MUTATIONS = {
    "a relationship is a string": _first_relationship(lambda rel: rel["data"]["id"]),
    "a relationship is a list": _first_relationship(lambda rel: [rel["data"]]),
    "a relationship without data": _first_relationship(lambda rel: rel["data"]),
    "a relationship's data is a list": _first_relationship(lambda rel: {"data": [rel["data"]]}),
    "a relationship's data is a string": _first_relationship(lambda rel: {"data": rel["data"]["id"]}),
    "a relationship without id": _first_relationship(lambda rel: {"data": {"type": rel["data"]["type"]}}),
    "a relationship's id is an object": _first_relationship(
        lambda rel: {"data": {"type": rel["data"]["type"], "id": {"id": rel["data"]["id"]}}}
    ),
    "a relationship of the wrong type": _first_relationship(lambda rel: {"data": {"type": "Sample", "id": "1"}}),
    "a relationship to nothing": _first_relationship(
        lambda rel: {"data": {"type": rel["data"]["type"], "id": "424242"}}
    ),
}
_SHAPE_CASES = [(r, m) for r in RESOURCES for m in SHAPE_MUTATIONS] + [
    (r, m) for r in RESOURCES if r != "organizations" for m in RELATIONSHIP_MUTATIONS
]


@pytest.mark.parametrize(("resource", "mutation"), _SHAPE_CASES)
def test_body_of_the_wrong_shape_is_refused_without_a_500(api, inventory, resource, mutation):
    mutate = {**SHAPE_MUTATIONS, **RELATIONSHIP_MUTATIONS}[mutation]
    body = mutate(copy.deepcopy(valid_document(resource, inventory)))
    with nothing_changes():
        response = api.post(f"/api/v1/{resource}/", json.dumps(body), content_type="application/vnd.api+json")
    assert response.status_code in (400, 409), response.content[:500]
    assert_error_document(response, response.status_code)


BAD_VALUES = [
    ("installations", "from_timestamp_s", 10**30),
    ("installations", "from_timestamp_s", 2**63),
    ("installations", "from_timestamp_s", -1),
    ("installations", "from_timestamp_s", True),
    ("installations", "from_timestamp_s", 1.5),
    ("installations", "from_timestamp_s", "next week"),
    ("installations", "from_timestamp_s", None),
    ("installations", "to_timestamp_s", 10**30),
    ("installations", "to_timestamp_s", False),
    ("installations", "is_public", "maybe"),
    ("rooms", "max_occupancy", True),
    ("rooms", "max_occupancy", 10**30),
    ("rooms", "max_occupancy", -5),
    ("rooms", "size_sqm", True),
    ("rooms", "size_sqm", "1e999"),
    ("rooms", "size_sqm", "NaN"),
    ("rooms", "height_m", "Infinity"),
    ("rooms", "name", ["Aula"]),
    ("sites", "name", "x" * 51),
    ("sites", "name", {"de": "Neubau"}),
    ("nodes", "eui64", True),
    ("nodes", "eui64", 70357),
    ("nodes", "alias", "x" * 101),
    ("memberships", "role", "owner"),
    ("memberships", "role", True),
    ("organizations", "alive_period_s", True),
    ("organizations", "alive_period_s", 10**30),
    ("organizations", "alive_period_s", 59),
    ("organizations", "notify_fidelity", "sometimes"),
]


@pytest.mark.parametrize(("resource", "attribute", "value"), BAD_VALUES)
def test_attribute_of_the_wrong_kind_is_a_400_pointing_at_it(api, inventory, resource, attribute, value):
    document = valid_document(resource, inventory)
    document["data"]["attributes"][attribute] = value
    with nothing_changes():
        response = api.post(f"/api/v1/{resource}/", document)
    assert_error_document(response, 400, pointer=f"/data/attributes/{attribute}")


@pytest.mark.parametrize(
    ("resource", "attribute", "value"),
    [
        ("installations", "to_timestamp_s", 10**30),
        ("installations", "to_timestamp_s", True),
        ("installations", "from_timestamp_s", -1),
        ("rooms", "max_occupancy", True),
        ("organizations", "alive_period_s", 10**30),
        ("nodes", "eui64", "not an eui"),
    ],
)
def test_patch_with_an_attribute_of_the_wrong_kind_is_a_400(api, inventory, resource, attribute, value):
    pk = existing_id(resource, inventory)
    document = {"data": {"type": TYPES[resource], "id": pk, "attributes": {attribute: value}}}
    with nothing_changes():
        response = api.patch(f"/api/v1/{resource}/{pk}/", document)
    assert_error_document(response, 400, pointer=f"/data/attributes/{attribute}")

