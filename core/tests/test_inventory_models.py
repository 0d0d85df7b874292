"""Nodes, sites, rooms and addresses: identity, names and plausible values.

Each rule is checked twice: the database refuses a direct write (so bulk
imports and raw updates cannot break it), and ``full_clean()`` reports it as a
validation error (so forms and the admin can say what is wrong).
"""

import hashlib
import uuid
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError

from core.models import Address, Installation, Node, NodeFidelity, NodeModel, Protocol, Room, Sample, Site
from core.tests.factories import (
    make_address,
    make_installation,
    make_node,
    make_node_model,
    make_protocol,
    make_room,
    make_site,
)
from core.timestamps import from_unix

pytestmark = pytest.mark.django_db

EUI = "70b3d5fffe1c0001"


def _unsaved_node(organization, eui64: str, **fields) -> Node:
    return Node(
        eui64=eui64,
        protocol=fields.pop("protocol", None) or make_protocol(),
        model=make_node_model(),
        owner=organization,
        **fields,
    )


# Node


def test_node_without_an_id_gets_the_id_clair_ttn_derives(organization):
    node = _unsaved_node(organization, EUI, protocol=make_protocol("CLAIRCHEN"))
    node.save()
    expected = uuid.UUID(bytes=hashlib.sha256(b"CLAIRCHEN" + bytes.fromhex(EUI)).digest()[:16])
    assert node.id == expected
    assert Node.objects.get(eui64=EUI).id == expected


def test_derived_id_depends_on_the_protocol(organization):
    clairchen = _unsaved_node(organization, EUI, protocol=make_protocol("CLAIRCHEN"))
    clairchen.save()
    ers = _unsaved_node(organization, "70b3d5fffe1c0002", protocol=make_protocol("ERSUS"))
    ers.save()
    expected = uuid.UUID(bytes=hashlib.sha256(b"ERSUS" + bytes.fromhex("70b3d5fffe1c0002")).digest()[:16])
    assert ers.id == expected != clairchen.id


def test_client_supplied_node_id_is_kept(organization):
    chosen = uuid.UUID("0f5d7a4e-9c1b-4f7e-8a55-3c2d1e0b9a87")
    node = _unsaved_node(organization, EUI, id=chosen)
    node.save()
    assert Node.objects.get(eui64=EUI).id == chosen


def test_upper_case_eui_is_stored_in_lower_case(organization):
    node = make_node(owner=organization, eui64=EUI.upper())
    node.refresh_from_db()
    assert node.eui64 == EUI


def test_upper_case_eui_derives_the_same_id_as_lower_case(organization):
    node = _unsaved_node(organization, EUI.upper(), protocol=make_protocol("CLAIRCHEN"))
    node.save()
    assert node.id == uuid.UUID(bytes=hashlib.sha256(b"CLAIRCHEN" + bytes.fromhex(EUI)).digest()[:16])


@pytest.mark.parametrize(
    "spelling", ["70-B3-D5-FF-FE-1C-00-01", "70:b3:d5:ff:fe:1c:00:01", " 70B3D5FFFE1C0001 "]
)
def test_full_clean_normalises_common_eui_spellings(organization, spelling):
    node = _unsaved_node(organization, spelling)
    node.full_clean()
    assert node.eui64 == EUI


@pytest.mark.parametrize("eui64", ["70b3d5fffe1c00zz", "70b3d5fffe1c00", ""])
def test_full_clean_reports_an_eui_that_is_not_16_hex_digits(organization, eui64):
    with pytest.raises(ValidationError) as raised:
        _unsaved_node(organization, eui64).full_clean()
    assert "eui64" in raised.value.error_dict


@pytest.mark.parametrize("eui64", ["XYZ", EUI.upper(), "70b3d5fffe1c00zz"])
def test_database_refuses_a_malformed_eui_written_directly(node, eui64):
    with pytest.raises(IntegrityError, match="node_eui64_format"), transaction.atomic():
        Node.objects.filter(pk=node.pk).update(eui64=eui64)


def test_database_refuses_a_malformed_eui_in_a_bulk_import(organization):
    # bulk_create skips save(), so nothing lowercases the EUI first.
    with pytest.raises(IntegrityError, match="node_eui64_format"), transaction.atomic():
        Node.objects.bulk_create([_unsaved_node(organization, EUI.upper(), id=uuid.uuid4())])


def test_second_node_with_the_same_eui_is_refused(organization):
    make_node(owner=organization, eui64=EUI, protocol=make_protocol("CLAIRCHEN"))
    # Another protocol gives another derived id, so only the EUI collides.
    with pytest.raises(IntegrityError, match="eui64"), transaction.atomic():
        make_node(owner=organization, eui64=EUI, protocol=make_protocol("ERSUS"))


def test_same_eui_in_another_organization_is_refused_too(organization, other_organization):
    make_node(owner=organization, eui64=EUI)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_node(owner=other_organization, eui64=EUI, id=uuid.uuid4())


def test_full_clean_reports_an_eui_taken_in_another_spelling(organization):
    make_node(owner=organization, eui64=EUI)
    duplicate = _unsaved_node(organization, "70-B3-D5-FF-FE-1C-00-01", id=uuid.uuid4())
    with pytest.raises(ValidationError) as raised:
        duplicate.full_clean()
    assert "eui64" in raised.value.error_dict


def test_database_refuses_an_unknown_fidelity_status(node):
    with pytest.raises(IntegrityError, match="nodefidelity_status_valid"), transaction.atomic():
        NodeFidelity.objects.create(node=node, fidelity="X")


# Site, room, address


def test_site_names_are_unique_within_an_organization(organization):
    make_site(operator=organization, name="Hauptgebäude")
    with pytest.raises(IntegrityError, match="site_unique_name_per_operator"), transaction.atomic():
        make_site(operator=organization, name="Hauptgebäude")


def test_full_clean_reports_a_site_name_taken_in_the_organization(organization):
    make_site(operator=organization, name="Hauptgebäude")
    duplicate = Site(operator=organization, name="Hauptgebäude", address=make_address())
    with pytest.raises(ValidationError, match="already exists"):
        duplicate.full_clean()


def test_two_organizations_may_name_a_site_alike(organization, other_organization):
    make_site(operator=organization, name="Hauptgebäude")
    make_site(operator=other_organization, name="Hauptgebäude")
    assert Site.objects.filter(name="Hauptgebäude").count() == 2


def test_room_names_are_unique_within_a_site(organization):
    site = make_site(operator=organization)
    make_room(site, name="Aula")
    with pytest.raises(IntegrityError, match="room_unique_name_per_site"), transaction.atomic():
        make_room(site, name="Aula")


def test_full_clean_reports_a_room_name_taken_in_the_site(room):
    with pytest.raises(ValidationError, match="already exists"):
        Room(site=room.site, name=room.name).full_clean()


def test_two_sites_may_have_a_room_of_the_same_name(organization):
    make_room(operator=organization, name="Aula")
    make_room(operator=organization, name="Aula")
    assert Room.objects.filter(name="Aula").count() == 2


@pytest.mark.parametrize("dimension", ["size_sqm", "height_m"])
@pytest.mark.parametrize("value", [Decimal("0"), Decimal("-2.5")])
def test_room_dimensions_must_be_positive(organization, dimension, value):
    constraint = {"size_sqm": "room_size_positive", "height_m": "room_height_positive"}[dimension]
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        make_room(operator=organization, **{dimension: value})
    with pytest.raises(ValidationError, match=constraint):
        Room(site=make_site(operator=organization), name="Aula", **{dimension: value}).full_clean()


def test_room_dimensions_may_be_unknown_or_small(organization):
    make_room(operator=organization, size_sqm=None, height_m=None)
    make_room(operator=organization, size_sqm=Decimal("0.1"), height_m=Decimal("0.1"))
    assert Room.objects.count() == 2


@pytest.mark.parametrize(
    ("coordinate", "value"),
    [("latitude", "90.5"), ("latitude", "-90.5"), ("longitude", "180.5"), ("longitude", "-180.5")],
)
def test_address_outside_the_globe_is_refused(coordinate, value):
    with pytest.raises(IntegrityError, match=f"address_{coordinate}_range"), transaction.atomic():
        make_address(**{coordinate: Decimal(value)})
    with pytest.raises(ValidationError, match=f"address_{coordinate}_range"):
        Address(street1="Hauptstraße 1", zip="10827", city="Berlin", **{coordinate: Decimal(value)}).full_clean()


def test_address_at_the_poles_and_the_date_line_is_stored():
    extremes = [(Decimal("90"), Decimal("180")), (Decimal("-90"), Decimal("-180")), (None, None)]
    for latitude, longitude in extremes:
        make_address(latitude=latitude, longitude=longitude).full_clean()
    assert Address.objects.count() == 3


# Deletion


def _populate(organization) -> Installation:
    node = make_node(owner=organization)
    installation = make_installation(node, make_room(operator=organization))
    Sample.objects.create(node=node, timestamp=from_unix(1_704_067_200), co2_ppm=500)
    NodeFidelity.objects.create(node=node)
    return installation


def test_deleting_an_organization_removes_its_inventory_and_samples(organization, other_organization):
    _populate(organization)
    kept = _populate(other_organization)
    organization.delete()
    assert set(Node.objects.all()) == {kept.node}
    assert set(Site.objects.all()) == {kept.room.site}
    assert set(Room.objects.all()) == {kept.room}
    assert set(Installation.objects.all()) == {kept}
    assert set(Sample.objects.values_list("node_id", flat=True)) == {kept.node_id}
    assert set(NodeFidelity.objects.values_list("node_id", flat=True)) == {kept.node_id}


def test_deleting_an_organization_keeps_the_shared_catalog_and_addresses(organization):
    installation = _populate(organization)
    address = installation.room.site.address
    organization.delete()
    assert Protocol.objects.filter(identifier="CLAIRCHEN").exists()
    assert NodeModel.objects.exists()
    assert Address.objects.filter(pk=address.pk).exists()


@pytest.mark.parametrize("catalog_entry", ["protocol", "model"])
def test_catalog_entry_in_use_cannot_be_deleted(node, catalog_entry):
    entry = getattr(node, catalog_entry)
    with pytest.raises(ProtectedError):
        entry.delete()
    assert type(entry).objects.filter(pk=entry.pk).exists()


def test_unused_catalog_entries_can_be_deleted():
    make_protocol("ERSUS").delete()
    make_node_model("ERS CO2").delete()
    assert not Protocol.objects.filter(identifier="ERSUS").exists()
    assert not NodeModel.objects.filter(name="ERS CO2").exists()


def test_database_refuses_to_delete_a_protocol_in_use_behind_the_orms_back(node):
    # Django's foreign keys are deferred on PostgreSQL: force the check now.
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM core_protocol WHERE id = %s", [node.protocol_id])
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_address_of_a_site_cannot_be_deleted(organization):
    site = make_site(operator=organization)
    with pytest.raises(ProtectedError):
        site.address.delete()
    assert Address.objects.filter(pk=site.address_id).exists()


def test_unused_address_can_be_deleted():
    make_address().delete()
    assert not Address.objects.exists()

