"""The admin, as staff use it: every page opens, no list costs a query per
row, and the sample table is only ever read a page at a time."""

import itertools
import re
from datetime import UTC, datetime, timedelta

import pytest
from allauth.socialaccount.models import SocialAccount, SocialApp, SocialToken
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_q.models import OrmQ, Schedule, Task
from django_q.signing import SignedPackage
from rest_framework.authtoken.models import Token

from core.admin.samples import CappedCountPaginator
from core.models import FidelityEvent, Installation, Node, NodeFidelity, Quantity, Sample, derive_node_id
from core.tests.factories import (
    make_installation,
    make_node,
    make_node_model,
    make_organization,
    make_protocol,
    make_room,
    make_user,
)
from ingest.keys import ingest_key_create
from integrations.models import Batch, PendingSample, Stream
from integrations.stadtpuls.models import Sensor
from integrations.webhook.models import Webhook
from user_manager.models import Membership

pytestmark = pytest.mark.django_db

OUR_APPS = {"core", "user_manager", "integrations", "stadtpuls", "webhook", "audit"}
REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)
MODEL_IDS = [model._meta.label for model, _ in REGISTERED]
MOST_QUERIES_PER_LIST = 10

_serial = itertools.count(1)


def stock(count: int) -> None:
    """``count`` rows of every kind the admin lists, each with its relations."""
    for _ in range(count):
        n = next(_serial)
        organization = make_organization()
        make_user(organization=organization, role=Membership.Role.OWNER)
        model = make_node_model(name=f"Model {n}")
        model.quantities.add(Quantity.objects.create(quantity=f"quantity {n}", base_unit="ppm"))
        node = make_node(owner=organization, protocol=make_protocol(f"PROTOCOL{n}"), model=model)
        NodeFidelity.objects.create(node=node, fidelity=NodeFidelity.Status.ALIVE, last_contact=_at(0))
        FidelityEvent.objects.create(node=node, old="U", new="E", timestamp=_at(0))
        installation = make_installation(node, make_room(operator=organization), from_time=_at(0))
        sample = Sample.objects.create(node=node, timestamp=_at(1), co2_ppm=400 + n)
        stock_forwarding(installation, sample)
    Group.objects.get_or_create(name="Support")


def stock_forwarding(installation, sample) -> None:
    webhook = Webhook.objects.create(organization=installation.node.owner, url=f"https://example.org/{sample.pk}")
    stream = Stream.objects.create(integration="webhook", destination=str(webhook.pk), installation=installation)
    dead = Batch.objects.create(stream=stream, state=Batch.DEAD, size=1, last_error="HTTP 410")
    PendingSample.objects.create(stream=stream, sample=sample, batch=dead)
    Sensor.objects.create(installation=installation, sensor_id=sample.pk)
    ingest_key_create(installation.node.owner, f"gateway {sample.pk}")


def stock_other_apps(user) -> None:
    """A row for each other app's admin, so that its change page opens too."""
    Token.objects.create(user=user)
    Schedule.objects.create(func="math.floor", args="1.5")
    for success in (True, False):
        Task.objects.create(
            id=f"task{success}", name=f"task {success}", func="math.floor",
            started=_at(0), stopped=_at(0), success=success,
        )
    OrmQ.objects.create(key="managair", payload=SignedPackage.dumps({"id": "t1", "name": "t", "func": "math.floor"}))
    app = SocialApp.objects.create(provider="github", name="GitHub", client_id="id", secret="secret")
    account = SocialAccount.objects.create(user=user, provider="github", uid="1")
    SocialToken.objects.create(app=app, account=account, token="token")
    attempt = {"username": "lupe", "ip_address": "192.0.2.1", "user_agent": "test", "path_info": "/admin/login/"}
    AccessAttempt.objects.create(**attempt, failures_since_start=1)
    AccessFailureLog.objects.create(**attempt)
    AccessLog.objects.create(**attempt)


def _at(hours: int) -> datetime:
    return datetime(2024, 3, 1, tzinfo=UTC) + timedelta(hours=hours)


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def stocked(staff):
    stock(3)
    stock_other_apps(staff)


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=MODEL_IDS)
def test_every_changelist_opens(staff_client, stocked, model, model_admin):
    response = staff_client.get(_url(model, "changelist"))
    assert response.status_code == 200
    if model._meta.app_label in OUR_APPS:
        assert response.context["cl"].result_count > 0


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=MODEL_IDS)
def test_every_add_page_opens_where_adding_is_allowed(rf, staff, staff_client, stocked, model, model_admin):
    request = rf.get("/")
    request.user = staff
    response = staff_client.get(_url(model, "add"))
    assert response.status_code == (200 if model_admin.has_add_permission(request) else 403)


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=MODEL_IDS)
def test_every_change_page_opens(staff_client, stocked, model, model_admin):
    obj = model._default_manager.order_by("pk").first()
    if obj is None:
        assert model._meta.app_label not in OUR_APPS, f"the dataset has no {model._meta.label}"
        pytest.skip(f"no {model._meta.label} to open")
    response = staff_client.get(_url(model, "change", obj.pk))
    assert response.status_code == 200


def _queries_per_changelist(client) -> dict[str, int]:
    counts = {}
    for model, _ in REGISTERED:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(_url(model, "changelist")).status_code == 200
        counts[model._meta.label] = len(queries)
    return counts


def test_no_changelist_costs_more_queries_with_more_rows(staff_client):
    stock(3)
    _queries_per_changelist(staff_client)  # fills per-process caches
    with_few = _queries_per_changelist(staff_client)
    stock(27)
    with_many = _queries_per_changelist(staff_client)
    assert with_many == with_few
    assert max(with_many.values()) <= MOST_QUERIES_PER_LIST, with_many


def test_node_without_an_id_gets_the_one_clair_ttn_derives(staff_client, organization):
    protocol, model = make_protocol(), make_node_model()
    response = staff_client.post(
        _url(Node, "add"),
        {
            "eui64": "70B3D5FFFE1C0002",
            "alias": "Kitchen",
            "id": "",
            "protocol": protocol.pk,
            "model": model.pk,
            "owner": organization.pk,
            "description": "",
        },
    )
    assert response.status_code == 302
    node = Node.objects.get(alias="Kitchen")
    assert node.eui64 == "70b3d5fffe1c0002"
    assert node.pk == derive_node_id("CLAIRCHEN", "70b3d5fffe1c0002")


@pytest.mark.parametrize("term", ["70B3D5FFFE1C00AA", "fe1c00aa", "Kitchen"])
def test_node_search_finds_by_eui64_or_alias(staff_client, organization, term):
    wanted = make_node(owner=organization, eui64="70b3d5fffe1c00aa", alias="Kitchen window")
    make_node(owner=organization, eui64="70b3d5fffe1c00bb", alias="Hall")
    response = staff_client.get(_url(Node, "changelist"), {"q": term})
    assert list(response.context["cl"].result_list) == [wanted]


def test_node_list_shows_the_fidelity_of_each_node(staff_client, node):
    NodeFidelity.objects.create(node=node, fidelity=NodeFidelity.Status.MISSING)
    silent = make_node(owner=node.owner)
    response = staff_client.get(_url(Node, "changelist"), {"fidelity__fidelity__exact": "M"})
    assert list(response.context["cl"].result_list) == [node]
    assert "missing" in response.content.decode()
    assert silent not in response.context["cl"].result_list


def test_samples_cannot_be_added_in_the_admin(staff_client):
    assert staff_client.get(_url(Sample, "add")).status_code == 403


def test_samples_cannot_be_changed_in_the_admin(staff_client, node):
    sample = Sample.objects.create(node=node, timestamp=_at(0), co2_ppm=420)
    assert staff_client.get(_url(Sample, "change", sample.pk)).status_code == 200
    response = staff_client.post(
        _url(Sample, "change", sample.pk),
        {"node": node.pk, "timestamp_0": "2024-03-01", "timestamp_1": "01:00:00", "co2_ppm": 9999},
    )
    assert response.status_code == 403
    sample.refresh_from_db()
    assert sample.co2_ppm == 420


@pytest.mark.parametrize("term", ["70B3D5FFFE1C00AA", "70-b3-d5-ff-fe-1c-00-aa", "kitchen", "id"])
def test_sample_search_finds_a_nodes_samples_by_eui64_alias_or_id(staff_client, organization, term):
    wanted = make_node(owner=organization, eui64="70b3d5fffe1c00aa", alias="Kitchen")
    other = make_node(owner=organization, alias="Hall")
    for node in (wanted, other):
        Sample.objects.create(node=node, timestamp=_at(0), co2_ppm=420)
    term = str(wanted.pk) if term == "id" else term
    response = staff_client.get(_url(Sample, "changelist"), {"q": term})
    assert [sample.node for sample in response.context["cl"].result_list] == [wanted]


def test_node_page_links_to_its_samples(staff_client, node):
    Sample.objects.create(node=node, timestamp=_at(0), co2_ppm=420)
    Sample.objects.create(node=make_node(owner=node.owner), timestamp=_at(0), co2_ppm=500)
    page = staff_client.get(_url(Node, "change", node.pk)).content.decode()
    link = re.search(r'href="([^"]*/core/sample/\?[^"]*)"', page).group(1)
    response = staff_client.get(link.replace("&amp;", "&"))
    assert [sample.co2_ppm for sample in response.context["cl"].result_list] == [420]


def test_sample_list_never_counts_the_whole_table(staff_client, node, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "exact_limit", 5)
    Sample.objects.bulk_create(Sample(node=node, timestamp=_at(h), co2_ppm=400) for h in range(30))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE core_sample")
    with CaptureQueriesContext(connection) as queries:
        response = staff_client.get(_url(Sample, "changelist"))
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and "core_sample" in q["sql"]]
    assert counts and all("LIMIT 6" in sql for sql in counts), counts
    # Beyond the exact limit the planner's estimate stands in (each empty
    # month partition adds a row to it: the planner never plans for none).
    assert 30 <= response.context["cl"].result_count <= 40
    assert "estimate" in response.content.decode()


def test_sample_dates_drill_down_without_scanning_the_table(staff_client, node):
    for moment in ("2023-05-03T10:00", "2024-02-10T10:00", "2024-03-01T10:00"):
        Sample.objects.create(node=node, timestamp=datetime.fromisoformat(moment).replace(tzinfo=UTC), co2_ppm=400)
    with CaptureQueriesContext(connection) as queries:
        years = staff_client.get(_url(Sample, "changelist")).content.decode()
        months = staff_client.get(_url(Sample, "changelist"), {"timestamp__year": "2024"})
    assert "?timestamp__year=2023" in years and "?timestamp__year=2024" in years
    assert "March 2024" in months.content.decode() and "April 2024" not in months.content.decode()
    assert months.context["cl"].result_count == 2
    whole_table = [
        q["sql"]
        for q in queries
        if "DATE_TRUNC" in q["sql"].upper() or 'MIN("core_sample"."timestamp")' in q["sql"]
    ]
    assert whole_table == []


def test_room_page_costs_no_query_per_installation(staff_client, room):
    def queries_for_room_page():
        staff_client.get(_url(room, "change", room.pk))  # fills per-process caches (content types)
        with CaptureQueriesContext(connection) as queries:
            page = staff_client.get(_url(room, "change", room.pk)).content.decode()
        return len(queries), page

    organization = room.site.operator
    first = make_node(owner=organization, alias="Window")
    make_installation(first, room)
    with_one, page = queries_for_room_page()
    for _ in range(4):
        make_installation(make_node(owner=organization), room)
    with_five, _ = queries_for_room_page()
    assert with_five == with_one
    assert f'<option value="{first.pk}" selected>Window</option>' in page


def test_overlapping_installations_entered_together_are_refused(staff_client, room):
    node = make_node(owner=room.site.operator)
    row = {"from_time_1": "00:00:00", "to_time_0": "2024-06-01", "to_time_1": "00:00:00", "node": node.pk}
    data = {
        "name": room.name,
        "description": "",
        "site": room.site.pk,
        "installations-TOTAL_FORMS": 2,
        "installations-INITIAL_FORMS": 0,
        "installations-MIN_NUM_FORMS": 0,
        "installations-MAX_NUM_FORMS": 1000,
    }
    for i, start in enumerate(["2024-01-01", "2024-03-01"]):
        data |= {f"installations-{i}-{key}": value for key, value in {**row, "from_time_0": start}.items()}
    response = staff_client.post(_url(room, "change", room.pk), data)
    assert response.status_code == 200
    assert "overlap" in response.content.decode()
    assert not Installation.objects.filter(node=node).exists()


def test_installation_list_shows_site_and_organization(staff_client, installation):
    response = staff_client.get(_url(Installation, "changelist"))
    page = response.content.decode()
    assert installation.room.site.name in page
    assert installation.room.site.operator.name in page
