"""``/api/v1/ingest-keys/``: members see their organizations' keys, owners
create, rename, revoke and delete them, and the key itself is shown once."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.tests.api_fixtures import World, api_client, build_world, ids_of
from core.tests.factories import make_organization
from core.tests.test_api_permissions import matrix
from ingest.keys import ingest_key_create, ingest_key_revoke
from ingest.models import IngestKey, hash_key

URL = "/api/v1/ingest-keys/"


def _new(organization_id, name: str = "Gateway Dach") -> dict:
    return {
        "data": {
            "type": "IngestKey",
            "attributes": {"name": name},
            "relationships": {"organization": {"data": {"type": "Organization", "id": str(organization_id)}}},
        }
    }


def _change(key: IngestKey, **attributes) -> dict:
    return {"data": {"type": "IngestKey", "id": str(key.pk), "attributes": attributes}}


def _detail(key: IngestKey) -> str:
    return f"{URL}{key.pk}/"


def _pointers(response) -> set[str]:
    return {error.get("source", {}).get("pointer") for error in response.json()["errors"]}


def _errors_naming(response, id_) -> list[dict]:
    return [{**error, "detail": error["detail"].replace(str(id_), "ID")} for error in response.json()["errors"]]


@pytest.fixture
def key(organization) -> IngestKey:
    return ingest_key_create(organization, "Gateway Keller")[0]


# --- The key itself ------------------------------------------------------------------------


def test_owner_creates_a_key_and_sees_it_exactly_once(owner, organization):
    client = api_client(owner)

    created = client.post(URL, _new(organization.pk))

    assert created.status_code == 201, created.content
    attributes = created.json()["data"]["attributes"]
    plain = attributes["key"]
    stored = IngestKey.objects.get(pk=created.json()["data"]["id"])
    assert stored.key_hash == hash_key(plain)
    assert attributes["prefix"] == plain[:8] == stored.prefix
    assert attributes["name"] == "Gateway Dach"
    assert attributes["revoked"] is False
    assert attributes["last_used_s"] is None
    assert isinstance(attributes["created_s"], int)
    assert created.json()["data"]["relationships"]["organization"]["data"]["id"] == str(organization.pk)

    later = [client.get(_detail(stored)), client.get(URL), client.patch(_detail(stored), _change(stored, name="x"))]
    for response in later:
        assert response.status_code == 200
        assert plain not in response.content.decode()
    assert "key" not in later[0].json()["data"]["attributes"]
    assert all("key" not in item["attributes"] for item in later[1].json()["data"])


def test_each_key_is_different(owner, organization):
    client = api_client(owner)

    keys = {client.post(URL, _new(organization.pk)).json()["data"]["attributes"]["key"] for _ in range(3)}

    assert len(keys) == 3


def test_key_hash_appears_in_no_answer(owner, organization, key):
    client = api_client(owner)
    created = client.post(URL, _new(organization.pk))
    new_key = IngestKey.objects.get(pk=created.json()["data"]["id"])
    answers = [
        created,
        client.get(URL),
        client.get(f"{URL}?include=organization"),
        client.get(_detail(key)),
        client.patch(_detail(key), _change(key, name="renamed")),
        client.patch(_detail(key), _change(key, revoked=True)),
        client.get(f"/api/v1/organizations/{organization.pk}/"),
        client.options(URL),
    ]

    for response in answers:
        assert response.status_code in (200, 201), response.content
        content = response.content.decode()
        assert "key_hash" not in content
        assert key.key_hash not in content and new_key.key_hash not in content


def test_key_hash_cannot_be_set(owner, organization):
    body = _new(organization.pk)
    body["data"]["attributes"]["key_hash"] = "0" * 64

    response = api_client(owner).post(URL, body)

    assert response.status_code == 400
    assert not IngestKey.objects.exists()


def test_a_key_needs_a_name(owner, organization):
    response = api_client(owner).post(URL, _new(organization.pk, name=""))

    assert response.status_code == 400
    assert "/data/attributes/name" in _pointers(response)


def test_a_new_key_cannot_be_created_revoked(owner, organization):
    body = _new(organization.pk)
    body["data"]["attributes"]["revoked"] = True

    response = api_client(owner).post(URL, body)

    assert response.status_code == 400
    assert "/data/attributes/revoked" in _pointers(response)
    assert not IngestKey.objects.exists()


def test_routes_answer_without_the_trailing_slash(owner, key):
    client = api_client(owner)

    assert ids_of(client.get(URL.rstrip("/")).json()) == {str(key.pk)}
    assert client.get(_detail(key).rstrip("/")).json()["data"]["id"] == str(key.pk)


# --- Who may do what ---------------------------------------------------------------------------


def test_inspector_lists_keys_but_cannot_create_change_or_delete_them(inspector, organization, key):
    client = api_client(inspector)

    assert ids_of(client.get(URL).json()) == {str(key.pk)}
    assert client.get(_detail(key)).status_code == 200
    assert client.post(URL, _new(organization.pk)).status_code == 403
    assert client.patch(_detail(key), _change(key, name="mine")).status_code == 403
    assert client.patch(_detail(key), _change(key, revoked=True)).status_code == 403
    assert client.delete(_detail(key)).status_code == 403
    key.refresh_from_db()
    assert (key.name, key.revoked) == ("Gateway Keller", False)
    assert IngestKey.objects.count() == 1


def test_outsider_neither_sees_nor_touches_another_organizations_keys(outsider, key):
    client = api_client(outsider)

    assert client.get(URL).json()["data"] == []
    assert client.get(_detail(key)).status_code == 404
    assert client.patch(_detail(key), _change(key, revoked=True)).status_code == 404
    assert client.delete(_detail(key)).status_code == 404
    key.refresh_from_db()
    assert not key.revoked


def test_anonymous_callers_are_asked_to_log_in(key):
    client = api_client(None)

    assert client.get(URL).status_code == 401
    assert client.get(_detail(key)).status_code == 401
    assert client.post(URL, _new(key.organization_id)).status_code == 401


def test_creating_a_key_for_another_organization_answers_as_for_a_missing_one(outsider, organization):
    client = api_client(outsider)

    other = client.post(URL, _new(organization.pk))
    missing = client.post(URL, _new(999_999))

    assert other.status_code == missing.status_code == 400
    # The same error, but for the id it names.
    assert _errors_naming(other, organization.pk) == _errors_naming(missing, 999_999)
    assert not IngestKey.objects.exists()


def test_owner_of_two_organizations_creates_keys_in_either(owner, organization):
    second = make_organization(name="Zweite")
    second.memberships.create(user=owner, role="O")
    client = api_client(owner)

    client.post(URL, _new(organization.pk))
    client.post(URL, _new(second.pk))

    assert set(IngestKey.objects.values_list("organization__name", flat=True)) == {"Bar Lupe", "Zweite"}


# --- Changing, revoking, deleting -----------------------------------------------------------------


def test_owner_renames_a_key(owner, key):
    response = api_client(owner).patch(_detail(key), _change(key, name="Gateway Boden"))

    assert response.status_code == 200
    assert response.json()["data"]["attributes"]["name"] == "Gateway Boden"
    key.refresh_from_db()
    assert key.name == "Gateway Boden"


def test_owner_revokes_a_key_with_patch(owner, key):
    response = api_client(owner).patch(_detail(key), _change(key, revoked=True))

    assert response.status_code == 200
    assert response.json()["data"]["attributes"]["revoked"] is True
    assert not IngestKey.objects.usable().filter(pk=key.pk).exists()


def test_owner_deletes_a_key(owner, key):
    response = api_client(owner).delete(_detail(key))

    assert response.status_code == 204
    assert not IngestKey.objects.filter(pk=key.pk).exists()


def test_a_revoked_key_cannot_be_revived(owner, key):
    ingest_key_revoke(key)

    response = api_client(owner).patch(_detail(key), _change(key, revoked=False))

    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["source"]["pointer"] == "/data/attributes/revoked"
    assert "create a new one" in error["detail"]
    key.refresh_from_db()
    assert key.revoked


def test_revoking_a_revoked_key_again_changes_nothing(owner, key):
    ingest_key_revoke(key)

    response = api_client(owner).patch(_detail(key), _change(key, revoked=True))

    assert response.status_code == 200
    assert response.json()["data"]["attributes"]["revoked"] is True


def test_a_keys_organization_cannot_change(owner, organization, key):
    second = make_organization(name="Zweite")
    second.memberships.create(user=owner, role="O")
    body = _change(key)
    body["data"]["relationships"] = {"organization": {"data": {"type": "Organization", "id": str(second.pk)}}}

    response = api_client(owner).patch(_detail(key), body)

    assert response.status_code == 400
    assert _pointers(response) == {"/data/relationships/organization"}
    key.refresh_from_db()
    assert key.organization_id == organization.pk


def test_prefix_cannot_be_changed(owner, key):
    api_client(owner).patch(_detail(key), _change(key, prefix="AAAAAAAA"))

    assert IngestKey.objects.get(pk=key.pk).prefix == key.prefix


# --- Lists -------------------------------------------------------------------------------------


def test_keys_filter_by_organization(owner, organization, key):
    second = make_organization(name="Zweite")
    second.memberships.create(user=owner, role="I")
    other_key, _ = ingest_key_create(second, "Anderswo")
    client = api_client(owner)

    assert ids_of(client.get(URL, {"filter[organization]": organization.pk}).json()) == {str(key.pk)}
    assert ids_of(client.get(URL, {"filter[organization]": second.pk}).json()) == {str(other_key.pk)}
    assert ids_of(client.get(URL).json()) == {str(key.pk), str(other_key.pk)}


def test_filter_by_a_hidden_organization_answers_as_for_a_missing_one(outsider, organization, key):
    client = api_client(outsider)

    hidden = client.get(URL, {"filter[organization]": organization.pk})
    missing = client.get(URL, {"filter[organization]": 999_999})

    assert hidden.status_code == missing.status_code == 200
    assert hidden.json()["data"] == missing.json()["data"] == []


@pytest.mark.parametrize("term", ["dach", "prefix"])
def test_search_finds_keys_by_name_or_prefix(owner, organization, term):
    wanted, _ = ingest_key_create(organization, "Gateway Dach")
    ingest_key_create(organization, "Gateway Keller")
    term = wanted.prefix if term == "prefix" else term

    response = api_client(owner).get(URL, {"filter[search]": term})

    assert ids_of(response.json()) == {str(wanted.pk)}


def test_keys_sort_by_name_and_creation(owner, organization):
    names = ["Bravo", "Charlie", "Alpha"]
    for name in names:
        ingest_key_create(organization, name)
    client = api_client(owner)

    def listed(sort):
        return [item["attributes"]["name"] for item in client.get(URL, {"sort": sort}).json()["data"]]

    assert listed("name") == sorted(names)
    assert listed("-name") == sorted(names, reverse=True)
    assert listed("created_s") == names
    assert listed("-created_s") == names[::-1]


def test_unknown_sort_is_refused(owner, key):
    assert api_client(owner).get(URL, {"sort": "key_hash"}).status_code == 400


def test_list_costs_the_same_queries_for_2_and_20_keys(owner, organization):
    client = api_client(owner)

    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(URL, {"include": "organization"})
        assert response.status_code == 200
        return len(queries)

    for n in range(2):
        ingest_key_create(organization, f"key {n}")
    queries_for_list()  # fills per-process caches
    with_two = queries_for_list()
    # The keys spread over several of the owner's organizations.
    organizations = [organization]
    for n in range(2, 20):
        if n % 5 == 0:
            organizations.append(make_organization())
            organizations[-1].memberships.create(user=owner, role="I")
        ingest_key_create(organizations[n % len(organizations)], f"key {n}")
    with_twenty = queries_for_list()

    assert with_twenty == with_two <= 10  # ../shared/PERFORMANCE.md
    assert len(client.get(URL).json()["data"]) == 20


# --- Tenant isolation: the matrix of core/tests/test_api_permissions.py for this resource ----------


@pytest.fixture
def world(db) -> World:
    world = build_world()
    world.objects["key_a"] = ingest_key_create(world.org_a, "Alpha Gateway")[0]
    world.objects["key_b"] = ingest_key_create(world.org_b, "Beta Gateway")[0]
    return world


PRIVATE = """
resource     target  verb      anonymous  outsider  inspector  owner  staff
ingest-keys  key_a   list      401        200-      200+       200+   200-
ingest-keys  key_a   retrieve  401        404       200        200    404
ingest-keys  org_a   create    401        400/404   403        201    400/404
ingest-keys  key_a   update    401        404       403        200    404
ingest-keys  key_a   delete    401        404       403        204    404
ingest-keys  key_b   list      401        200+      200-       200-   200-
ingest-keys  key_b   retrieve  401        200       404        404    404
ingest-keys  org_b   create    401        201       400/404    400/404  400/404
ingest-keys  key_b   update    401        200       404        404    404
ingest-keys  key_b   delete    401        204       404        404    404
"""

# A's public installation makes A readable, never its keys: creating one
# for A is then forbidden rather than "no such organization".
PUBLIC = """
resource     target  verb      anonymous  outsider  staff
ingest-keys  key_a   list      401        200-      200-
ingest-keys  key_a   retrieve  401        404       404
ingest-keys  org_a   create    401        403       403
ingest-keys  key_a   update    401        404       404
ingest-keys  key_a   delete    401        404       404
"""


def _snapshot() -> list[dict]:
    return list(IngestKey.objects.order_by("pk").values())


def _send(client, verb: str, target):
    match verb:
        case "list":
            return client.get(URL)
        case "retrieve":
            return client.get(_detail(target))
        case "create":
            return client.post(URL, _new(target.pk))
        case "update":
            return client.patch(_detail(target), _change(target, name="changed"))
        case "delete":
            return client.delete(_detail(target))
    raise ValueError(verb)


def check_cell(world: World, target_name: str, verb: str, user: str, expected: str) -> None:
    client = api_client(None if user == "anonymous" else world[user])
    target = world[target_name]
    before = _snapshot()
    response = _send(client, verb, target)

    statuses = {int(code) for code in expected.rstrip("+-").split("/")}
    assert response.status_code in statuses, response.content[:500]
    if response.status_code >= 400:
        assert "errors" in response.json()
        assert _snapshot() == before, "a refused request changed the keys"
        return
    match verb:
        case "list":
            assert (str(target.pk) in ids_of(response.json())) == expected.endswith("+")
        case "retrieve":
            assert response.json()["data"]["id"] == str(target.pk)
        case "create":
            assert IngestKey.objects.filter(pk=response.json()["data"]["id"], organization=target).exists()
            assert IngestKey.objects.count() == len(before) + 1
        case "update":
            assert IngestKey.objects.get(pk=target.pk).name == "changed"
        case "delete":
            assert not IngestKey.objects.filter(pk=target.pk).exists()


@pytest.mark.parametrize(("resource", "target", "verb", "user", "expected"), matrix(PRIVATE))
def test_keys_are_for_members_and_changes_for_owners(world, resource, target, verb, user, expected):
    world.unpublish()
    check_cell(world, target, verb, user, expected)


@pytest.mark.parametrize(("resource", "target", "verb", "user", "expected"), matrix(PUBLIC))
def test_a_public_organization_shows_nobody_its_keys(world, resource, target, verb, user, expected):
    check_cell(world, target, verb, user, expected)
