"""What the resources do for a client that asks properly: creation rules,
filters, sorting, sparse fieldsets, includes, pagination, computed attributes."""

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from rest_framework.test import APIClient

from core.models import Installation, Node, Quantity, Room, Sample, derive_node_id
from core.tests.factories import (
    make_installation,
    make_node,
    make_node_model,
    make_organization,
    make_protocol,
    make_room,
    make_site,
    make_user,
)
from core.timestamps import END_OF_TIME, END_OF_TIME_S
from user_manager.models import Membership

JAN_2024 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def api(owner):
    client = APIClient()
    client.force_authenticate(owner)
    return client


def _rel(type_, pk):
    return {"data": {"type": type_, "id": str(pk)}}


def _ids(response) -> set[str]:
    assert response.status_code == 200, response.content[:500]
    return {item["id"] for item in response.json()["data"]}


def _unix(moment: datetime) -> int:
    return int(moment.timestamp())


# --- Nodes ------------------------------------------------------------------------


def _node_document(organization, eui64, **data):
    return {"data": {
        "type": "Node", **data,
        "attributes": {"eui64": eui64, "alias": "Flur"},
        "relationships": {
            "protocol": _rel("Protocol", make_protocol().pk),
            "model": _rel("Model", make_node_model().pk),
            "owner": _rel("Organization", organization.pk),
        },
    }}


def test_node_keeps_the_uuid_its_client_chose(api, organization):
    chosen = "3f6c1b9e-0d2a-4c1e-9a57-1b2c3d4e5f60"
    response = api.post("/api/v1/nodes/", _node_document(organization, "70b3d57ed0000001", id=chosen))
    assert response.status_code == 201, response.content
    assert response.json()["data"]["id"] == chosen
    assert Node.objects.get(pk=chosen).alias == "Flur"


def test_node_without_id_gets_the_id_clair_ttn_derives(api, organization):
    response = api.post("/api/v1/nodes/", _node_document(organization, "70b3d57ed0000001"))
    assert response.status_code == 201, response.content
    expected = derive_node_id("CLAIRCHEN", "70b3d57ed0000001")
    assert response.json()["data"]["id"] == str(expected)
    assert Node.objects.filter(pk=expected).exists()


def test_node_eui64_written_in_upper_case_is_stored_in_lower_case(api, organization):
    response = api.post("/api/v1/nodes/", _node_document(organization, "70B3D57ED00000AB"))
    assert response.status_code == 201, response.content
    assert response.json()["data"]["attributes"]["eui64"] == "70b3d57ed00000ab"
    assert Node.objects.get().eui64 == "70b3d57ed00000ab"
    assert response.json()["data"]["id"] == str(derive_node_id("CLAIRCHEN", "70b3d57ed00000ab"))


# --- Installations ------------------------------------------------------------------


def _installation_document(node, room, **attributes):
    return {"data": {
        "type": "Installation", "attributes": attributes,
        "relationships": {"node": _rel("Node", node.pk), "room": _rel("Room", room.pk)},
    }}


def test_installation_without_end_stays_open(api, node, room):
    response = api.post("/api/v1/installations/", _installation_document(node, room, from_timestamp_s=_unix(JAN_2024)))
    assert response.status_code == 201, response.content
    assert response.json()["data"]["attributes"]["to_timestamp_s"] == END_OF_TIME_S == 2147483647
    assert Installation.objects.get().to_time == END_OF_TIME


def test_privacy_toggle_closes_the_installation_and_opens_a_public_one(api, installation):
    # como-ui's "make public": end the current installation now, start a copy
    # with the flag flipped at the same second.
    now = int(time.time())
    closed = api.patch(f"/api/v1/installations/{installation.pk}/", {"data": {
        "type": "Installation", "id": str(installation.pk), "attributes": {"to_timestamp_s": now},
    }})
    assert closed.status_code == 200, closed.content
    opened = api.post("/api/v1/installations/", _installation_document(
        installation.node, installation.room, from_timestamp_s=now, is_public=True,
    ))
    assert opened.status_code == 201, opened.content

    installation.refresh_from_db()
    assert _unix(installation.to_time) == now and not installation.is_public
    public = Installation.objects.get(pk=opened.json()["data"]["id"])
    assert _unix(public.from_time) == now and public.is_public and public.is_open_ended
    assert APIClient().get(f"/api/v1/installations/{public.pk}/").status_code == 200


# --- Filters ------------------------------------------------------------------------


@pytest.fixture
def estate(db):
    """Mia owns two organizations, each with a colleague, a site, a room, a node and an installation."""
    mia = make_user("mia")
    estate = SimpleNamespace(mia=mia)
    for key in ("north", "south"):
        organization = make_organization(name=f"Verein {key}")
        Membership.objects.create(user=mia, organization=organization, role=Membership.Role.OWNER)
        colleague = make_user(f"colleague-{key}", organization=organization)
        room = make_room(operator=organization)
        node = make_node(owner=organization)
        setattr(estate, key, SimpleNamespace(
            organization=organization, colleague=colleague, site=room.site, room=room, node=node,
            installation=make_installation(node, room),
            memberships=set(Membership.objects.filter(organization=organization).values_list("pk", flat=True)),
        ))
    return estate


@pytest.fixture
def mia_api(estate):
    client = APIClient()
    client.force_authenticate(estate.mia)
    return client


ORGANIZATION_FILTERED = {
    "nodes": lambda part, estate: {part.node.pk},
    "sites": lambda part, estate: {part.site.pk},
    "rooms": lambda part, estate: {part.room.pk},
    "installations": lambda part, estate: {part.installation.pk},
    "memberships": lambda part, estate: part.memberships,
    "users": lambda part, estate: {estate.mia.pk, part.colleague.pk},
}


@pytest.mark.parametrize("resource", ORGANIZATION_FILTERED)
def test_organization_filter_keeps_one_organizations_objects(mia_api, estate, resource):
    expected = ORGANIZATION_FILTERED[resource]
    everything = _ids(mia_api.get(f"/api/v1/{resource}/"))
    assert {str(pk) for pk in expected(estate.south, estate)} <= everything
    north = _ids(mia_api.get(f"/api/v1/{resource}/?filter[organization]={estate.north.organization.pk}"))
    assert north == {str(pk) for pk in expected(estate.north, estate)}


@pytest.fixture
def two_rooms(organization):
    """Two nodes shared by two rooms on two sites: the kitchen node moved
    from the hall (2023) to the lounge (2024), where the window node is too."""
    lounge, hall = make_room(operator=organization, name="Gastraum"), make_room(operator=organization, name="Flur")
    kitchen_node, window_node = make_node(owner=organization), make_node(owner=organization)
    return SimpleNamespace(
        lounge=lounge, hall=hall, kitchen_node=kitchen_node, window_node=window_node,
        in_hall=make_installation(kitchen_node, hall, from_time=datetime(2023, 1, 1, tzinfo=UTC),
                                  to_time=datetime(2023, 6, 1, tzinfo=UTC)),
        kitchen_in_lounge=make_installation(kitchen_node, lounge, from_time=JAN_2024),
        window_in_lounge=make_installation(window_node, lounge, from_time=JAN_2024),
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("installations/?filter[node]={kitchen_node.pk}", ["in_hall", "kitchen_in_lounge"]),
        ("installations/?filter[node]={window_node.pk}", ["window_in_lounge"]),
        ("installations/?filter[room]={lounge.pk}", ["kitchen_in_lounge", "window_in_lounge"]),
        ("installations/?filter[site]={hall.site_id}", ["in_hall"]),
        ("rooms/?filter[site]={lounge.site_id}", ["lounge"]),
    ],
)
def test_filter_by_node_room_or_site_narrows_the_list(api, two_rooms, query, expected):
    found = _ids(api.get("/api/v1/" + query.format(**vars(two_rooms))))
    assert found == {str(getattr(two_rooms, name).pk) for name in expected}


@pytest.fixture
def named_inventory(organization):
    old = make_site(operator=organization, name="Altbau", description="Haus mit Hof")
    new = make_site(operator=organization, name="Neubau", description="Glasfassade")
    return SimpleNamespace(
        old=old, new=new,
        library=make_room(site=old, name="Bibliothek", description="Nordseite"),
        gym=make_room(site=new, name="Turnhalle", description="mit Empore"),
        hall_node=make_node(owner=organization, alias="Flur links", eui64="70b3d57ed00000aa"),
        kitchen_node=make_node(owner=organization, alias="Küche", eui64="70b3d57ed00000bb"),
    )


@pytest.mark.parametrize(
    ("resource", "term", "expected"),
    [
        ("sites", "neu", ["new"]),
        ("sites", "HOF", ["old"]),
        ("rooms", "bibl", ["library"]),
        ("rooms", "empore", ["gym"]),
        ("nodes", "flur", ["hall_node"]),
        ("nodes", "00000BB", ["kitchen_node"]),
    ],
)
def test_search_finds_by_name_description_alias_or_eui(api, named_inventory, resource, term, expected):
    found = _ids(api.get(f"/api/v1/{resource}/?filter[search]={term}"))
    assert found == {str(getattr(named_inventory, name).pk) for name in expected}


def test_membership_filters_by_username_and_by_user(api, owner, inspector):
    by_name = _ids(api.get("/api/v1/memberships/?filter[username]=ines"))
    by_user = _ids(api.get(f"/api/v1/memberships/?filter[user]={inspector.pk}"))
    assert by_name == by_user == {str(inspector.memberships.get().pk)}


# --- Sorting, sparse fieldsets, includes ------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "sort", "attribute", "descending"),
    [
        ("sites", "name", "name", False),
        ("sites", "-name", "name", True),
        ("rooms", "-name", "name", True),
        ("nodes", "-alias", "alias", True),
        ("nodes", "eui64", "eui64", False),
        ("installations", "from_timestamp_s", "from_timestamp_s", False),
        ("installations", "-from_timestamp_s", "from_timestamp_s", True),
    ],
)
def test_sort_orders_the_list_by_an_attribute(api, named_inventory, two_rooms, resource, sort, attribute, descending):
    response = api.get(f"/api/v1/{resource}/?sort={sort}")
    assert response.status_code == 200, response.content
    values = [item["attributes"][attribute] for item in response.json()["data"]]
    assert len(set(values)) > 1
    assert values == sorted(values, reverse=descending)


def test_sparse_fieldset_sends_only_the_named_attributes(api, named_inventory):
    response = api.get("/api/v1/sites/?fields[Site]=name")
    assert response.status_code == 200
    sites = response.json()["data"]
    assert {site["attributes"]["name"] for site in sites} == {"Altbau", "Neubau"}
    for site in sites:
        assert set(site["attributes"]) == {"name"}
        assert not site.get("relationships")


def test_sites_include_their_operator_and_address(api, named_inventory, organization):
    response = api.get("/api/v1/sites/?include=operator,address")
    assert response.status_code == 200
    included = {(item["type"], item["id"]) for item in response.json()["included"]}
    assert included == {
        ("Organization", str(organization.pk)),
        ("Address", str(named_inventory.old.address_id)),
        ("Address", str(named_inventory.new.address_id)),
    }


# --- Pagination -------------------------------------------------------------------------


def test_pages_split_a_list_and_say_how_many_there_are(api, organization):
    for name in ("Amsel", "Buche", "Clara", "Dorf", "Elbe"):
        make_site(operator=organization, name=name)
    response = api.get("/api/v1/sites/?page[size]=2&page[number]=2")
    assert response.status_code == 200
    document = response.json()
    assert [site["attributes"]["name"] for site in document["data"]] == ["Clara", "Dorf"]
    assert document["meta"]["pagination"] == {"page": 2, "pages": 3, "count": 5}
    assert document["links"]["prev"] and document["links"]["next"]
    last = api.get(document["links"]["last"]).json()
    assert [site["attributes"]["name"] for site in last["data"]] == ["Elbe"]
    assert last["links"]["next"] is None


def test_inventory_list_comes_whole_on_the_default_page(api, organization):
    site = make_site(operator=organization)
    Room.objects.bulk_create(Room(site=site, name=f"Raum {n:03}") for n in range(150))
    response = api.get("/api/v1/rooms/")
    assert response.status_code == 200
    document = response.json()
    assert len(document["data"]) == 150
    assert document["meta"]["pagination"] == {"page": 1, "pages": 1, "count": 150}


# --- Computed attributes ------------------------------------------------------------


@pytest.fixture
def measured(installation):
    """The installation runs through January 2024; its node also reported
    before and after, which the installation must not count."""
    Installation.objects.filter(pk=installation.pk).update(to_time=JAN_2024 + timedelta(days=31))
    node = installation.node
    for moment, co2 in [
        (JAN_2024 - timedelta(days=1), 400),
        (JAN_2024 + timedelta(hours=1), 800),
        (JAN_2024 + timedelta(days=10), 1200),
        (JAN_2024 + timedelta(days=40), 600),
    ]:
        Sample.objects.create(node=node, timestamp=moment, co2_ppm=co2, temperature_celsius=21.3,
                              rel_humidity_percent=40.0)
    return installation


def test_node_counts_all_its_samples_and_shows_the_newest(api, measured):
    node = api.get(f"/api/v1/nodes/{measured.node_id}/").json()["data"]["attributes"]
    assert node["sample_count"] == 4
    latest = node["latest_sample"]
    assert latest["timestamp_s"] == _unix(JAN_2024 + timedelta(days=40))
    assert latest["co2_ppm"] == 600
    assert latest["temperature_celsius"] == "21.3"
    assert latest["rel_humidity_percent"] == 40.0
    assert latest["measurement_status"] == "M"
    assert latest["id"] == Sample.objects.latest().pk


def test_installation_counts_only_the_samples_within_its_span(api, measured):
    attributes = api.get(f"/api/v1/installations/{measured.pk}/").json()["data"]["attributes"]
    assert attributes["sample_count"] == 2
    assert attributes["latest_sample"]["timestamp_s"] == _unix(JAN_2024 + timedelta(days=10))
    assert attributes["latest_sample"]["co2_ppm"] == 1200
    listed = api.get("/api/v1/installations/").json()["data"]
    assert [item["attributes"]["sample_count"] for item in listed] == [2]


def test_a_reporting_node_shows_its_newest_sample_with_the_figures_of_its_time_series(api, node):
    # Recent samples are found among the recent months; older ones must not win.
    now = datetime.now(UTC).replace(microsecond=0)
    for moment, co2 in [
        (now - timedelta(days=400), 900), (now - timedelta(days=2), 700), (now - timedelta(hours=1), 650),
    ]:  # fmt: skip
        Sample.objects.create(
            node=node, timestamp=moment, co2_ppm=co2, temperature_celsius=21.3, rel_humidity_percent=40.2
        )
    latest = api.get(f"/api/v1/nodes/{node.pk}/").json()["data"]["attributes"]["latest_sample"]
    hour_ago = _unix(now - timedelta(hours=1))
    series = api.get(f"/api/v1/node-timeseries/{node.pk}/", {"filter[from]": hour_ago, "filter[to]": hour_ago + 1})
    assert latest == series.json()["data"]["attributes"]["samples"][0]
    assert (latest["co2_ppm"], latest["timestamp_s"], latest["temperature_celsius"]) == (650, hour_ago, "21.3")


def test_an_installation_that_ended_shows_its_last_sample_not_the_nodes_newest(api, organization, node):
    now = datetime.now(UTC).replace(microsecond=0)
    room = make_room(operator=organization)
    ended = make_installation(
        node=node, room=room, from_time=now - timedelta(days=20), to_time=now - timedelta(days=10)
    )
    for moment, co2 in [
        (now - timedelta(days=15), 810), (now - timedelta(days=12), 820), (now - timedelta(days=1), 830),
    ]:  # fmt: skip
        Sample.objects.create(node=node, timestamp=moment, co2_ppm=co2)
    attributes = api.get(f"/api/v1/installations/{ended.pk}/").json()["data"]["attributes"]
    assert attributes["latest_sample"]["co2_ppm"] == 820


def test_deleting_the_newest_sample_shows_the_one_before_even_while_its_hour_is_summarised(api, node):
    # The deleted sample's hour keeps its (stale) summary until the next refresh.
    older, newer = Sample.objects.bulk_create(
        Sample(node=node, timestamp=moment, co2_ppm=co2)
        for moment, co2 in [(JAN_2024, 500), (JAN_2024 + timedelta(days=3), 900)]
    )
    newer.delete()
    latest = api.get(f"/api/v1/nodes/{node.pk}/").json()["data"]["attributes"]["latest_sample"]
    assert (latest["id"], latest["co2_ppm"]) == (older.pk, 500)


def test_node_without_samples_has_no_latest_sample(api, node):
    attributes = api.get(f"/api/v1/nodes/{node.pk}/").json()["data"]["attributes"]
    assert attributes["sample_count"] == 0
    assert attributes["latest_sample"] is None


def test_room_sizes_are_decimal_strings(api, organization):
    room = make_room(operator=organization, size_sqm=Decimal("42.5"), height_m=Decimal("3.2"))
    attributes = api.get(f"/api/v1/rooms/{room.pk}/").json()["data"]["attributes"]
    assert (attributes["size_sqm"], attributes["height_m"]) == ("42.5", "3.2")
    created = api.post("/api/v1/rooms/", {"data": {
        "type": "Room", "attributes": {"name": "Aula", "size_sqm": "120.0", "height_m": "4.5"},
        "relationships": {"site": _rel("Site", room.site_id)},
    }})
    assert created.status_code == 201, created.content
    assert created.json()["data"]["attributes"]["size_sqm"] == "120.0"
    assert Room.objects.get(name="Aula").height_m == Decimal("4.5")


# --- Catalog --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "type_", "attribute", "value"),
    [
        ("quantities", "Quantity", "quantity", "CO2"),
        ("protocols", "Protocol", "identifier", "CLAIRCHEN"),
        ("models", "Model", "name", "Clairchen Rev. B"),
    ],
)
def test_anyone_reads_the_catalog(db, resource, type_, attribute, value):
    Quantity.objects.create(quantity="CO2", base_unit="ppm")
    make_protocol()
    make_node_model()
    response = APIClient().get(f"/api/v1/{resource}/")
    assert response.status_code == 200
    items = response.json()["data"]
    assert [(item["type"], item["attributes"][attribute]) for item in items] == [(type_, value)]
    detail = APIClient().get(f"/api/v1/{resource}/{items[0]['id']}/")
    assert detail.status_code == 200
