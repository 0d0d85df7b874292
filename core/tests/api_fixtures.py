"""A small two-tenant world for API tests, and a client that speaks JSON:API.

Organization A ("Alpha") has a private site and a public one: the public
installation makes its room, its site (with address) and A itself readable
by everybody, while its node stays private. A's private site, the other room
of the public site, the private installations (one of them, in the past, in
the public room) and all nodes, with their fidelity and its events, stay
members-only.
Organization B ("Beta") is private throughout.

The cast: ``owner`` and ``inspector`` of A, ``member`` (a second inspector of
A, whom rows about other people act on), ``outsider`` (owner of B only),
``staff`` (superuser, member of nothing) and ``newcomer`` (registered, member
of nothing: the person owners invite).
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from rest_framework.test import APIClient

from core.models import FidelityEvent, Installation, NodeFidelity, NodeModel, Protocol, Quantity
from core.tests.factories import (
    make_address,
    make_installation,
    make_node,
    make_node_model,
    make_organization,
    make_protocol,
    make_room,
    make_site,
    make_user,
)
from user_manager.models import Membership

OWNER, INSPECTOR = Membership.Role.OWNER, Membership.Role.INSPECTOR


@dataclass
class World:
    objects: dict

    def __getitem__(self, name):
        return self.objects[name]

    def __getattr__(self, name):
        try:
            return self.objects[name]
        except KeyError:
            raise AttributeError(name) from None

    def unpublish(self) -> None:
        """Make everything of A private again (the public installation too)."""
        Installation.objects.filter(is_public=True).update(is_public=False)


def _person(username: str, first: str, last: str, **kwargs):
    # No password: tests log in with force_authenticate, and hashing one
    # per user would dominate the runtime.
    return make_user(username, first_name=first, last_name=last, password=None, **kwargs)


def build_world() -> World:
    o = {}
    o["org_a"] = make_organization(name="Alpha")
    o["org_b"] = make_organization(name="Beta")

    o["owner"] = _person("olga", "Olga", "Oberhaus", organization=o["org_a"], role=OWNER)
    o["inspector"] = _person("ines", "Ines", "Imhof", organization=o["org_a"], role=INSPECTOR)
    o["member"] = _person("ida", "Ida", "Irgendwer", organization=o["org_a"], role=INSPECTOR)
    o["outsider"] = _person("otto", "Otto", "Outsiderson", organization=o["org_b"], role=OWNER)
    o["staff"] = _person("stella", "Stella", "Stab", is_staff=True, is_superuser=True)
    o["newcomer"] = _person("nora", "Nora", "Neuling")
    memberships = Membership.objects.filter(organization=o["org_a"])
    o["owner_membership"] = memberships.get(user=o["owner"])
    o["inspector_membership"] = memberships.get(user=o["inspector"])
    o["member_membership"] = memberships.get(user=o["member"])
    o["outsider_membership"] = Membership.objects.get(user=o["outsider"])

    o["quantity"] = Quantity.objects.create(quantity="CO2", base_unit="ppm")
    o["protocol"] = make_protocol()
    o["model"] = make_node_model()
    o["model"].quantities.add(o["quantity"])
    # Unused catalog entries: nodes PROTECT the ones in use.
    o["spare_quantity"] = Quantity.objects.create(quantity="Radon", base_unit="Bq/m3")
    o["spare_protocol"] = Protocol.objects.create(identifier="SPARE")
    o["spare_model"] = NodeModel.objects.create(name="Spare", manufacturer="Nobody", sensor_type="NDIR")

    o["addr_private"] = make_address(street1="Hinterhof 1")
    o["addr_public"] = make_address(street1="Marktplatz 1")
    o["addr_b"] = make_address(street1="Bahnhofstraße 1")
    o["site_private"] = make_site(operator=o["org_a"], name="Alpha Lager", address=o["addr_private"])
    o["site_public"] = make_site(operator=o["org_a"], name="Alpha Schule", address=o["addr_public"])
    o["site_b"] = make_site(operator=o["org_b"], name="Beta Bar", address=o["addr_b"])
    o["room_private"] = make_room(o["site_private"], name="Keller")
    o["room_public"] = make_room(o["site_public"], name="Aula")
    o["room_sibling"] = make_room(o["site_public"], name="Lehrerzimmer")
    o["room_b"] = make_room(o["site_b"], name="Tresen")
    o["room_b2"] = make_room(o["site_b"], name="Küche")

    def node(owner, eui64, alias):
        return make_node(owner=owner, eui64=eui64, alias=alias, protocol=o["protocol"], model=o["model"])

    o["node_private"] = node(o["org_a"], "a000000000000001", "alpha-keller")
    o["node_public"] = node(o["org_a"], "a000000000000002", "alpha-aula")
    o["node_b"] = node(o["org_b"], "b000000000000001", "beta-tresen")
    o["node_b2"] = node(o["org_b"], "b000000000000002", "beta-kueche")
    o["inst_private"] = make_installation(o["node_private"], o["room_private"])
    o["inst_public"] = make_installation(o["node_public"], o["room_public"], is_public=True)
    # Before that, the public room held another node, privately.
    o["inst_past"] = make_installation(
        o["node_private"], o["room_public"], from_time=datetime(2023, 1, 1, tzinfo=UTC),
        to_time=datetime(2023, 6, 1, tzinfo=UTC),
    )
    o["inst_b"] = make_installation(o["node_b"], o["room_b"])
    for name in ("node_private", "node_public", "node_b"):
        o[name.replace("node", "fidelity")] = NodeFidelity.objects.create(
            node=o[name], last_contact=datetime(2024, 6, 1, tzinfo=UTC)
        )
        # Each node went silent once; the public node's event is as private as the node.
        o[name.replace("node", "event")] = FidelityEvent.objects.create(
            node=o[name], old="E", new="M", timestamp=datetime(2024, 6, 1, 3, tzinfo=UTC)
        )
    return World(o)


def api_client(user=None) -> APIClient:
    """A client logged in as ``user`` (``None``: anonymous)."""
    client = APIClient(raise_request_exception=False)
    if user is not None:
        client.force_authenticate(user)
    return client


def ids_of(document: dict, type_: str | None = None) -> set[str]:
    """The ids in a document's primary data (or in ``included``, via ``type_``)."""
    data = document["data"]
    items = data if isinstance(data, list) else [data]
    return {item["id"] for item in items if item and (type_ is None or item["type"] == type_)}


def included(document: dict, type_: str) -> set[str]:
    return {item["id"] for item in document.get("included", []) if item["type"] == type_}
