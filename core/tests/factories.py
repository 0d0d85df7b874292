"""Small factories: each makes one valid object, filling what the test does not care about."""

import itertools
from datetime import UTC, datetime

from allauth.account.models import EmailAddress

from core.models import Address, Installation, Node, NodeModel, Protocol, Room, Site
from user_manager.models import Membership, Organization, User

_counter = itertools.count(1)


def _n() -> int:
    return next(_counter)


def make_organization(name: str | None = None, **fields) -> Organization:
    return Organization.objects.create(name=name or f"Organization {_n()}", **fields)


def make_user(username: str | None = None, *, organization=None, role=Membership.Role.INSPECTOR,
              password: str = "correct horse battery staple", **fields) -> User:
    username = username or f"user{_n()}"
    fields.setdefault("email", f"{username}@example.org")
    user = User.objects.create_user(username=username, password=password, **fields)
    if user.email:
        # As after the confirmation link: with mandatory verification an
        # unverified user cannot log in.
        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    if organization is not None:
        Membership.objects.create(user=user, organization=organization, role=role)
    return user


def make_protocol(identifier: str = "CLAIRCHEN") -> Protocol:
    return Protocol.objects.get_or_create(identifier=identifier)[0]


def make_node_model(name: str = "Clairchen Rev. B") -> NodeModel:
    return NodeModel.objects.get_or_create(
        name=name, defaults={"manufacturer": "Clair Berlin", "sensor_type": "NDIR"}
    )[0]


def make_node(owner: Organization | None = None, eui64: str | None = None, **fields) -> Node:
    return Node.objects.create(
        eui64=eui64 or f"{_n():016x}",
        alias=fields.pop("alias", f"node-{_n()}"),
        protocol=fields.pop("protocol", None) or make_protocol(),
        model=fields.pop("model", None) or make_node_model(),
        owner=owner or make_organization(),
        **fields,
    )


def make_address(**fields) -> Address:
    defaults = {"street1": "Hauptstraße 1", "zip": "10827", "city": "Berlin"}
    return Address.objects.create(**{**defaults, **fields})


def make_site(operator: Organization | None = None, **fields) -> Site:
    return Site.objects.create(
        name=fields.pop("name", f"Site {_n()}"),
        operator=operator or make_organization(),
        address=fields.pop("address", None) or make_address(),
        **fields,
    )


def make_room(site: Site | None = None, *, operator: Organization | None = None, **fields) -> Room:
    return Room.objects.create(
        name=fields.pop("name", f"Room {_n()}"),
        site=site or make_site(operator=operator),
        **fields,
    )


def make_installation(node: Node, room: Room, from_time: datetime | None = None, **fields) -> Installation:
    return Installation.objects.create(
        node=node, room=room, from_time=from_time or datetime(2024, 1, 1, tzinfo=UTC), **fields
    )
