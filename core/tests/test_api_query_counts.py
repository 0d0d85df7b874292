"""Every list of the API costs the same few SQL statements however many rows
it shows (../shared/PERFORMANCE.md: at most 10 whatever the page size).

Each list is read once with 3 rows of everything and once with 30, as an
owner sending a token, so that authentication is counted as in production.
A page costs what the whole list costs, and the prefetching that keeps the
count constant must not trim the documents it loads for ``include``.
"""

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core.models import FidelityEvent, NodeFidelity, NodeModel, Protocol, Quantity, Sample
from core.tests.factories import (
    make_installation,
    make_node,
    make_organization,
    make_room,
    make_site,
    make_user,
)
from user_manager.models import Membership

pytestmark = pytest.mark.django_db

MOST_STATEMENTS_PER_LIST = 10
FEW, MANY = 3, 30
# Rooms, installations and nodes are spread over this many parents, so that
# every parent's related list grows too.
SPREAD = 3
START = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass
class Inventory:
    """One organization's world, grown a row of each kind at a time."""

    organization: object
    owner: object
    size: int = 0
    sites: list = field(default_factory=list)
    rooms: list = field(default_factory=list)
    nodes: list = field(default_factory=list)
    models: list = field(default_factory=list)
    protocols: list = field(default_factory=list)

    def grow_to(self, size: int) -> None:
        for n in range(self.size, size):
            self._add_one(n)
        self.size = size

    def _add_one(self, n: int) -> None:
        quantity = Quantity.objects.create(quantity=f"quantity {n}", base_unit="ppm")
        model = NodeModel.objects.create(name=f"Model {n}", manufacturer="Clair Berlin", sensor_type="NDIR")
        model.quantities.add(quantity, *Quantity.objects.all()[:SPREAD])
        self.models.append(model)
        self.protocols.append(Protocol.objects.create(identifier=f"PROTOCOL{n}"))
        # The owner belongs to one more organization; the organization has one more member.
        Membership.objects.create(user=self.owner, organization=make_organization(), role=Membership.Role.OWNER)
        # No password: hashing 30 of them would take longer than the rest of the test.
        make_user(organization=self.organization, password=None)
        self.sites.append(make_site(operator=self.organization))
        self.rooms.append(make_room(site=self.sites[n % SPREAD]))
        node = make_node(
            owner=self.organization, model=self.models[n % SPREAD], protocol=self.protocols[n % SPREAD]
        )
        self.nodes.append(node)
        NodeFidelity.objects.create(node=node, fidelity=NodeFidelity.Status.ALIVE, last_contact=START)
        FidelityEvent.objects.create(node=node, old="U", new="E", timestamp=START + timedelta(minutes=n))
        # Each installation lasts a day: one node is installed again and again.
        start = START + timedelta(days=n)
        make_installation(
            self.nodes[n % SPREAD], self.rooms[n % SPREAD], from_time=start, to_time=start + timedelta(days=1),
            is_public=n % 2 == 0,
        )
        Sample.objects.create(node=self.nodes[n % SPREAD], timestamp=start + timedelta(hours=1), co2_ppm=400 + n)
        Sample.objects.create(node=node, timestamp=start + timedelta(hours=2), co2_ppm=500 + n)


LISTS = [
    "/api/v1/organizations/",
    "/api/v1/memberships/",
    "/api/v1/users/",
    "/api/v1/addresses/",
    "/api/v1/sites/",
    "/api/v1/rooms/",
    "/api/v1/installations/",
    "/api/v1/nodes/",
    "/api/v1/quantities/",
    "/api/v1/protocols/",
    "/api/v1/models/",
    "/api/v1/fidelity/",
    "/api/v1/fidelity-events/",
    "/api/v1/organizations/{organization}/sites/",
    "/api/v1/organizations/{organization}/nodes/",
    "/api/v1/organizations/{organization}/memberships/",
    "/api/v1/organizations/{organization}/users/",
    "/api/v1/users/{owner}/memberships/",
    "/api/v1/users/{owner}/organizations/",
    "/api/v1/sites/{site}/rooms/",
    "/api/v1/rooms/{room}/installations/",
    "/api/v1/nodes/{node}/installations/",
]

LISTS_WITH_INCLUDES = [
    "/api/v1/installations/?include=room,node",
    "/api/v1/sites/?include=operator,address,rooms",
    "/api/v1/nodes/?include=installations,model",
    "/api/v1/rooms/?include=site,installations",
    "/api/v1/memberships/?include=user,organization",
    "/api/v1/models/?include=quantities",
    "/api/v1/fidelity/?include=node",
    "/api/v1/fidelity-events/?include=node",
    "/api/v1/organizations/?include=sites",
]


@pytest.fixture
def inventory(organization, owner):
    return Inventory(organization=organization, owner=owner)


@pytest.fixture
def owner_client(owner):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=owner).key}")
    return client


def _read(client, url: str) -> tuple[list[str], dict]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return [query["sql"] for query in queries.captured_queries], response.json()


def _most_repeated(statements: list[str]) -> str:
    """The statements that run once per row, with their literals blanked out."""
    shapes = Counter(re.sub(r"\b\d+\b|'[^']*'", "?", sql) for sql in statements)
    return "\n".join(f"{times} x {shape[:400]}" for shape, times in shapes.most_common(3) if times > 1)


def _rows(document: dict) -> int:
    return len(document["data"]) + len(document.get("included", []))


def _statements_for_few_and_many(client, inventory, url_template: str):
    inventory.grow_to(FEW)
    url = url_template.format(
        organization=inventory.organization.pk,
        owner=inventory.owner.pk,
        site=inventory.sites[0].pk,
        room=inventory.rooms[0].pk,
        node=inventory.nodes[0].pk,
    )
    few, few_document = _read(client, url)
    inventory.grow_to(MANY)
    many, many_document = _read(client, url)
    # Otherwise the comparison would prove nothing.
    assert _rows(many_document) > _rows(few_document)
    return few, many


@pytest.mark.parametrize("url", LISTS + LISTS_WITH_INCLUDES)
def test_list_costs_the_same_statements_for_30_rows_as_for_3(owner_client, inventory, url):
    few, many = _statements_for_few_and_many(owner_client, inventory, url)
    few_count, many_count = len(few), len(many)
    assert many_count == few_count, (
        f"{few_count} statements for {FEW} rows, {many_count} for {MANY}; most repeated:\n{_most_repeated(many)}"
    )
    # Each included type loads itself as its own route does (a query, plus
    # its relationships' prefetches): the bar is PERFORMANCE.md's for plain
    # lists, a few more for every type an include adds.
    included_types = len(url.split("include=")[1].split(",")) if "include=" in url else 0
    assert many_count <= MOST_STATEMENTS_PER_LIST + 2 * included_types, "\n".join(many)


@pytest.mark.parametrize("url", ["/api/v1/nodes/?page[size]=1", "/api/v1/installations/?page[size]=1"])
def test_paged_list_costs_the_same_statements_as_a_whole_one(owner_client, inventory, url):
    inventory.grow_to(MANY)
    paged, paged_document = _read(owner_client, url)
    whole, whole_document = _read(owner_client, url.split("?")[0])
    assert len(paged_document["data"]) == 1 < len(whole_document["data"])
    paged_count, whole_count = len(paged), len(whole)
    assert paged_count == whole_count, f"most repeated:\n{_most_repeated(whole)}"


ROUTES = {
    "Organization": "organizations", "Membership": "memberships", "User": "users", "Address": "addresses",
    "Site": "sites", "Room": "rooms", "Installation": "installations", "Node": "nodes",
    "Model": "models", "Quantity": "quantities",
}


def _shown(document: dict) -> dict:
    # The moment of the query differs between two requests by design.
    attributes = {k: v for k, v in document.get("attributes", {}).items() if k != "query_timestamp_s"}
    relationships = {k: v.get("data") for k, v in document.get("relationships", {}).items()}
    return {"attributes": attributes, "relationships": relationships}


@pytest.mark.parametrize("url", LISTS_WITH_INCLUDES)
def test_included_documents_show_what_their_own_route_shows(owner_client, inventory, url):
    # Prefetching for a constant statement count must not trim what an
    # included document shows (a node's sample count, its installations).
    inventory.grow_to(FEW)
    _, document = _read(owner_client, url)
    assert document["included"]
    for included in document["included"]:
        _, own = _read(owner_client, f"/api/v1/{ROUTES[included['type']]}/{included['id']}/")
        assert _shown(included) == _shown(own["data"]), f"{included['type']} {included['id']}"
