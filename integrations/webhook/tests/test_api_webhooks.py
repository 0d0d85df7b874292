"""``/api/v1/webhooks/``: members see their organizations' webhooks and how
delivery goes, owners create, change and delete them, and the signing secret
is shown once."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.models import Sample
from core.tests.api_fixtures import World, api_client, build_world, ids_of
from core.tests.factories import make_installation, make_node, make_organization, make_room
from core.tests.test_api_permissions import matrix
from integrations.models import Batch, PendingSample, Stream
from integrations.webhook.models import Webhook

URL = "/api/v1/webhooks/"
HOOK_URL = "https://example.org/managair"



def _new(organization_id, url: str = HOOK_URL, **attributes) -> dict:
    return {
        "data": {
            "type": "Webhook",
            "attributes": {"url": url, **attributes},
            "relationships": {"organization": {"data": {"type": "Organization", "id": str(organization_id)}}},
        }
    }


def _change(hook: Webhook, **attributes) -> dict:
    return {"data": {"type": "Webhook", "id": str(hook.pk), "attributes": attributes}}


def _detail(hook: Webhook) -> str:
    return f"{URL}{hook.pk}/"


def _pointers(response) -> set[str]:
    return {error.get("source", {}).get("pointer") for error in response.json()["errors"]}


def _errors_naming(response, id_) -> list[dict]:
    return [{**error, "detail": error["detail"].replace(str(id_), "ID")} for error in response.json()["errors"]]


def _attributes(response) -> dict:
    return response.json()["data"]["attributes"]


@pytest.fixture
def hook(organization) -> Webhook:
    return Webhook.objects.create(organization=organization, url="https://example.org/keller")


# --- The secret ---------------------------------------------------------------------------------


def test_owner_creates_a_webhook_and_sees_its_secret_exactly_once(owner, organization):
    client = api_client(owner)

    created = client.post(URL, _new(organization.pk))

    assert created.status_code == 201, created.content
    secret = _attributes(created)["secret"]
    stored = Webhook.objects.get(pk=created.json()["data"]["id"])
    assert re.fullmatch(r"[0-9a-f]{64}", secret)
    assert stored.secret == secret
    assert _attributes(created)["url"] == HOOK_URL
    assert created.json()["data"]["relationships"]["organization"]["data"]["id"] == str(organization.pk)

    later = [
        client.get(_detail(stored)),
        client.get(URL),
        client.get(f"{URL}?include=organization"),
        client.patch(_detail(stored), _change(stored, url="https://example.org/other")),
        client.patch(_detail(stored), _change(stored, is_active=False)),
        client.get(f"/api/v1/organizations/{organization.pk}/"),
    ]
    for response in later:
        assert response.status_code == 200, response.content
        assert secret not in response.content.decode()
    assert "secret" not in _attributes(later[0])
    assert all("secret" not in item["attributes"] for item in later[1].json()["data"])
    assert "secret" not in _attributes(later[3])


def test_each_webhook_gets_its_own_secret(owner, organization):
    client = api_client(owner)

    secrets = {_attributes(client.post(URL, _new(organization.pk)))["secret"] for _ in range(3)}

    assert len(secrets) == 3
    assert set(Webhook.objects.values_list("secret", flat=True)) == secrets


def test_the_secret_cannot_be_chosen_or_changed_by_the_client(owner, organization, hook):
    chosen = "0" * 64
    client = api_client(owner)

    created = client.post(URL, _new(organization.pk, secret=chosen))
    changed = client.patch(_detail(hook), _change(hook, secret=chosen))

    assert created.status_code in (201, 400) and changed.status_code in (200, 400)
    assert not Webhook.objects.filter(secret=chosen).exists()
    assert Webhook.objects.get(pk=hook.pk).secret == hook.secret


# --- Attributes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["https://example.org/hook", "http://hooks.example.org:8080/in?token=abc"])
def test_http_and_https_urls_are_accepted(owner, organization, url):
    response = api_client(owner).post(URL, _new(organization.pk, url=url))

    assert response.status_code == 201, response.content
    assert Webhook.objects.get().url == url


@pytest.mark.parametrize(
    "url", ["ftp://example.org/samples", "javascript:alert(1)", "file:///etc/passwd", "not a url", ""]
)
def test_a_webhook_url_must_be_http_or_https(owner, organization, hook, url):
    client = api_client(owner)

    created = client.post(URL, _new(organization.pk, url=url))
    changed = client.patch(_detail(hook), _change(hook, url=url))

    for response in (created, changed):
        assert response.status_code == 400, response.content
        assert "/data/attributes/url" in _pointers(response)
    assert list(Webhook.objects.values_list("url", flat=True)) == ["https://example.org/keller"]


def test_a_webhook_needs_a_url(owner, organization):
    body = _new(organization.pk)
    del body["data"]["attributes"]["url"]

    response = api_client(owner).post(URL, body)

    assert response.status_code == 400
    assert "/data/attributes/url" in _pointers(response)
    assert not Webhook.objects.exists()


def test_a_new_webhook_is_active(owner, organization):
    response = api_client(owner).post(URL, _new(organization.pk))

    assert _attributes(response)["is_active"] is True
    assert Webhook.objects.get().is_active


def test_a_webhook_can_be_created_inactive(owner, organization):
    response = api_client(owner).post(URL, _new(organization.pk, is_active=False))

    assert response.status_code == 201
    assert _attributes(response)["is_active"] is False
    assert not Webhook.objects.get().is_active


def test_a_new_webhook_has_sent_nothing_and_waits_for_nothing(owner, organization):
    client = api_client(owner)

    created = client.post(URL, _new(organization.pk))
    fetched = client.get(f"{URL}{created.json()['data']['id']}/")

    for response in (created, fetched):
        attributes = _attributes(response)
        assert (attributes["last_delivery_s"], attributes["backlog"], attributes["last_error"]) == (None, 0, "")


def test_owner_changes_the_url_and_pauses_the_webhook(owner, hook):
    client = api_client(owner)

    moved = client.patch(_detail(hook), _change(hook, url="https://example.org/neu"))
    paused = client.patch(_detail(hook), _change(hook, is_active=False))

    assert moved.status_code == paused.status_code == 200
    assert _attributes(paused)["url"] == "https://example.org/neu"
    assert _attributes(paused)["is_active"] is False
    hook.refresh_from_db()
    assert (hook.url, hook.is_active) == ("https://example.org/neu", False)


def test_owner_deletes_a_webhook(owner, hook):
    response = api_client(owner).delete(_detail(hook))

    assert response.status_code == 204
    assert not Webhook.objects.filter(pk=hook.pk).exists()


def test_a_webhooks_organization_cannot_change(owner, organization, hook):
    second = make_organization(name="Zweite")
    second.memberships.create(user=owner, role="O")
    body = _change(hook)
    body["data"]["relationships"] = {"organization": {"data": {"type": "Organization", "id": str(second.pk)}}}

    response = api_client(owner).patch(_detail(hook), body)

    assert response.status_code == 400
    assert _pointers(response) == {"/data/relationships/organization"}
    hook.refresh_from_db()
    assert hook.organization_id == organization.pk


def test_routes_answer_without_the_trailing_slash(owner, hook):
    client = api_client(owner)

    assert ids_of(client.get(URL.rstrip("/")).json()) == {str(hook.pk)}
    assert client.get(_detail(hook).rstrip("/")).json()["data"]["id"] == str(hook.pk)


# --- How delivery goes: the read-only figures --------------------------------------------------------


def _installation(organization):
    return make_installation(make_node(owner=organization), make_room(operator=organization), is_public=True)


def _samples(installation, count: int, start=datetime(2024, 3, 9, tzinfo=UTC)) -> list[Sample]:
    return [
        Sample.objects.create(node=installation.node, timestamp=start + timedelta(minutes=i), co2_ppm=600 + i)
        for i in range(count)
    ]


def _stream(hook: Webhook, installation, **fields) -> Stream:
    return Stream.objects.create(integration="webhook", destination=str(hook.pk), installation=installation, **fields)


def _wait(stream: Stream, samples: list[Sample], batch: Batch | None = None) -> None:
    PendingSample.objects.bulk_create(PendingSample(stream=stream, sample=s, batch=batch) for s in samples)


def test_figures_show_the_outbox_of_the_webhook(owner, organization, hook):
    kitchen, hall = _installation(organization), _installation(organization)
    earlier, later = datetime(2024, 5, 1, 8, tzinfo=UTC), datetime(2024, 5, 1, 9, tzinfo=UTC)
    first = _stream(
        hook,
        kitchen,
        last_sent=later,
        last_error="HTTP 404 from https://example.org/keller: gone",
        last_error_at=earlier,
    )
    second = _stream(
        hook,
        hall,
        last_sent=earlier,
        last_error="HTTP 503 from https://example.org/keller: busy",
        last_error_at=later,
    )
    _wait(first, _samples(kitchen, 3))  # not yet in a batch
    _wait(
        first,
        _samples(kitchen, 4, start=datetime(2024, 3, 10, tzinfo=UTC)),
        Batch.objects.create(stream=first, state=Batch.DEAD, size=4),
    )
    _wait(second, _samples(hall, 2), Batch.objects.create(stream=second, size=2))  # out, not yet answered

    response = api_client(owner).get(_detail(hook))

    attributes = _attributes(response)
    assert attributes["backlog"] == 5  # the dead letters are not waiting
    assert attributes["last_delivery_s"] == int(later.timestamp())
    assert attributes["last_error"] == "HTTP 503 from https://example.org/keller: busy"


def test_figures_count_only_the_webhooks_own_streams(owner, organization, hook):
    other_hook = Webhook.objects.create(organization=organization, url="https://example.org/other")
    kitchen = _installation(organization)
    mine = _stream(hook, kitchen)
    _wait(mine, _samples(kitchen, 2))
    theirs = _stream(
        other_hook,
        kitchen,
        last_sent=datetime(2024, 5, 1, tzinfo=UTC),
        last_error="refused",
        last_error_at=datetime(2024, 5, 1, tzinfo=UTC),
    )
    _wait(theirs, _samples(kitchen, 3, start=datetime(2024, 3, 10, tzinfo=UTC)))
    # Another integration whose destination happens to read like the webhook's id.
    stadtpuls = Stream.objects.create(
        integration="stadtpuls",
        destination=str(hook.pk),
        installation=kitchen,
        last_sent=datetime(2024, 6, 1, tzinfo=UTC),
        last_error="elsewhere",
        last_error_at=datetime(2024, 6, 1, tzinfo=UTC),
    )
    _wait(stadtpuls, Sample.objects.all())

    listed = {item["id"]: item["attributes"] for item in api_client(owner).get(URL).json()["data"]}

    assert (listed[str(hook.pk)]["backlog"], listed[str(hook.pk)]["last_delivery_s"]) == (2, None)
    assert listed[str(hook.pk)]["last_error"] == ""
    assert listed[str(other_hook.pk)]["backlog"] == 3
    assert listed[str(other_hook.pk)]["last_error"] == "refused"


def test_a_delivery_clears_the_last_error(owner, organization, hook):
    kitchen = _installation(organization)
    stream = _stream(hook, kitchen, last_error="HTTP 503", last_error_at=datetime(2024, 5, 1, tzinfo=UTC))
    client = api_client(owner)
    assert _attributes(client.get(_detail(hook)))["last_error"] == "HTTP 503"

    # What the drain writes once a batch arrived.
    Stream.objects.filter(pk=stream.pk).update(
        last_error="", last_error_at=None, last_sent=datetime(2024, 5, 2, tzinfo=UTC)
    )

    attributes = _attributes(client.get(_detail(hook)))
    assert attributes["last_error"] == ""
    assert attributes["last_delivery_s"] == int(datetime(2024, 5, 2, tzinfo=UTC).timestamp())


def test_the_figures_cannot_be_written(owner, organization, hook):
    kitchen = _installation(organization)
    _wait(_stream(hook, kitchen), _samples(kitchen, 2))

    client = api_client(owner)

    client.patch(_detail(hook), _change(hook, backlog=0, last_delivery_s=1_700_000_000, last_error="fine"))

    attributes = _attributes(client.get(_detail(hook)))
    assert (attributes["backlog"], attributes["last_delivery_s"], attributes["last_error"]) == (2, None, "")
    assert PendingSample.objects.count() == 2


# --- Who may do what ---------------------------------------------------------------------------


def test_inspector_reads_webhooks_but_cannot_create_change_or_delete_them(inspector, organization, hook):
    client = api_client(inspector)

    assert ids_of(client.get(URL).json()) == {str(hook.pk)}
    assert client.get(_detail(hook)).status_code == 200
    assert client.post(URL, _new(organization.pk)).status_code == 403
    assert client.patch(_detail(hook), _change(hook, url="https://evil.example.org/")).status_code == 403
    assert client.patch(_detail(hook), _change(hook, is_active=False)).status_code == 403
    assert client.delete(_detail(hook)).status_code == 403
    hook.refresh_from_db()
    assert (hook.url, hook.is_active) == ("https://example.org/keller", True)
    assert Webhook.objects.count() == 1


def test_outsider_neither_sees_nor_touches_another_organizations_webhooks(outsider, hook):
    client = api_client(outsider)

    assert client.get(URL).json()["data"] == []
    assert client.get(_detail(hook)).status_code == 404
    assert client.patch(_detail(hook), _change(hook, url="https://evil.example.org/")).status_code == 404
    assert client.delete(_detail(hook)).status_code == 404
    hook.refresh_from_db()
    assert hook.url == "https://example.org/keller"


def test_anonymous_callers_are_asked_to_log_in(hook):
    client = api_client(None)

    assert client.get(URL).status_code == 401
    assert client.get(_detail(hook)).status_code == 401
    assert client.post(URL, _new(hook.organization_id)).status_code == 401


def test_creating_a_webhook_for_another_organization_answers_as_for_a_missing_one(outsider, organization):
    client = api_client(outsider)

    other = client.post(URL, _new(organization.pk))
    missing = client.post(URL, _new(999_999))

    assert other.status_code == missing.status_code == 400
    # The same error, but for the id it names.
    assert _errors_naming(other, organization.pk) == _errors_naming(missing, 999_999)
    assert not Webhook.objects.exists()


# --- Lists -------------------------------------------------------------------------------------


def test_webhooks_filter_by_organization(owner, organization, hook):
    second = make_organization(name="Zweite")
    second.memberships.create(user=owner, role="I")
    other_hook = Webhook.objects.create(organization=second, url="https://example.org/zweite")
    client = api_client(owner)

    assert ids_of(client.get(URL, {"filter[organization]": organization.pk}).json()) == {str(hook.pk)}
    assert ids_of(client.get(URL, {"filter[organization]": second.pk}).json()) == {str(other_hook.pk)}
    assert ids_of(client.get(URL).json()) == {str(hook.pk), str(other_hook.pk)}


def test_filter_by_a_hidden_organization_answers_as_for_a_missing_one(outsider, organization, hook):
    client = api_client(outsider)

    hidden = client.get(URL, {"filter[organization]": organization.pk})
    missing = client.get(URL, {"filter[organization]": 999_999})

    assert hidden.status_code == missing.status_code == 200
    assert hidden.json()["data"] == missing.json()["data"] == []


def test_list_costs_the_same_queries_for_1_and_10_webhooks(owner, organization):
    client = api_client(owner)
    kitchen, hall = _installation(organization), _installation(organization)
    samples = {kitchen: _samples(kitchen, 3), hall: _samples(hall, 3)}

    def add_webhook(n: int) -> None:
        hook = Webhook.objects.create(organization=organization, url=f"https://example.org/{n}")
        for installation in (kitchen, hall):
            stream = _stream(
                hook,
                installation,
                last_sent=datetime(2024, 5, 1, tzinfo=UTC),
                last_error="HTTP 503",
                last_error_at=datetime(2024, 5, 1, tzinfo=UTC),
            )
            _wait(stream, samples[installation][:2])
            _wait(stream, samples[installation][2:], Batch.objects.create(stream=stream, state=Batch.DEAD, size=1))

    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(URL, {"include": "organization"})
        assert response.status_code == 200
        return len(queries)

    add_webhook(0)
    queries_for_list()  # fills per-process caches
    with_one = queries_for_list()
    for n in range(1, 10):
        add_webhook(n)
    with_ten = queries_for_list()

    assert with_ten == with_one <= 10  # ../shared/PERFORMANCE.md
    listed = client.get(URL).json()["data"]
    assert len(listed) == 10
    assert {item["attributes"]["backlog"] for item in listed} == {4}


# --- Tenant isolation: the matrix of core/tests/test_api_permissions.py for this resource ----------


@pytest.fixture
def world(db) -> World:
    world = build_world()
    world.objects["hook_a"] = Webhook.objects.create(organization=world.org_a, url="https://alpha.example.org/")
    world.objects["hook_b"] = Webhook.objects.create(organization=world.org_b, url="https://beta.example.org/")
    return world


PRIVATE = """
resource  target  verb      anonymous  outsider  inspector  owner    staff
webhooks  hook_a  list      401        200-      200+       200+     200-
webhooks  hook_a  retrieve  401        404       200        200      404
webhooks  org_a   create    401        400/404   403        201      400/404
webhooks  hook_a  update    401        404       403        200      404
webhooks  hook_a  delete    401        404       403        204      404
webhooks  hook_b  list      401        200+      200-       200-     200-
webhooks  hook_b  retrieve  401        200       404        404      404
webhooks  org_b   create    401        201       400/404    400/404  400/404
webhooks  hook_b  update    401        200       404        404      404
webhooks  hook_b  delete    401        204       404        404      404
"""

# A's public installation makes A readable, never its webhooks: creating one
# for A is then forbidden rather than "no such organization".
PUBLIC = """
resource  target  verb      anonymous  outsider  staff
webhooks  hook_a  list      401        200-      200-
webhooks  hook_a  retrieve  401        404       404
webhooks  org_a   create    401        403       403
webhooks  hook_a  update    401        404       404
webhooks  hook_a  delete    401        404       404
"""

CHANGED_URL = "https://changed.example.org/"


def _cases(table: str) -> list:
    return matrix(table)


def _snapshot() -> list[dict]:
    return list(Webhook.objects.order_by("pk").values())


def _send(client, verb: str, target):
    match verb:
        case "list":
            return client.get(URL)
        case "retrieve":
            return client.get(_detail(target))
        case "create":
            return client.post(URL, _new(target.pk))
        case "update":
            return client.patch(_detail(target), _change(target, url=CHANGED_URL))
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
        assert _snapshot() == before, "a refused request changed the webhooks"
        return
    match verb:
        case "list":
            assert (str(target.pk) in ids_of(response.json())) == expected.endswith("+")
        case "retrieve":
            assert response.json()["data"]["id"] == str(target.pk)
        case "create":
            assert Webhook.objects.filter(pk=response.json()["data"]["id"], organization=target).exists()
            assert Webhook.objects.count() == len(before) + 1
        case "update":
            assert Webhook.objects.get(pk=target.pk).url == CHANGED_URL
        case "delete":
            assert not Webhook.objects.filter(pk=target.pk).exists()


@pytest.mark.parametrize(("resource", "target", "verb", "user", "expected"), _cases(PRIVATE))
def test_webhooks_are_for_members_and_changes_for_owners(world, resource, target, verb, user, expected):
    world.unpublish()
    check_cell(world, target, verb, user, expected)


@pytest.mark.parametrize(("resource", "target", "verb", "user", "expected"), _cases(PUBLIC))
def test_a_public_organization_shows_nobody_its_webhooks(world, resource, target, verb, user, expected):
    check_cell(world, target, verb, user, expected)
