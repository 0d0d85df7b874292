import json
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from core.models import Address, Installation, Node, NodeModel, Protocol, Quantity, Room, Site
from core.tests.factories import (
    make_address,
    make_installation,
    make_node,
    make_node_model,
    make_organization,
    make_protocol,
    make_room,
    make_site,
)
from managair.tests.processes import manage
from user_manager.models import Membership, Organization, User

JANUARY = datetime(2024, 1, 10, 8, tzinfo=UTC)
MARCH = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)


@pytest.fixture
def inventory(organization, owner, inspector, other_organization, outsider):
    """Two organizations with everything a backup holds, the first with odd values: decimals, an image, a closed
    installation and an address its owner created."""
    co2 = Quantity.objects.create(quantity="CO2", base_unit="ppm")
    temperature = Quantity.objects.create(quantity="temperature", base_unit="°C")
    ers = make_node_model("ERS CO2")
    ers.quantities.set([co2, temperature])
    elsys = make_protocol("ELSYS")
    address = make_address(latitude=Decimal("52.52"), longitude=Decimal("13.405"), created_by=owner)
    site = make_site(organization, name="Bar", address=address, description="Kneipe")
    room = make_room(site, name="Tresen", size_sqm=Decimal("42.5"), height_m=Decimal("3.2"), max_occupancy=40)
    node = make_node(organization, protocol=elsys, model=ers, description="über dem Tresen")
    make_installation(node, room, JANUARY, to_time=MARCH, image="installations/tresen.jpg", is_public=True)
    make_installation(node, room, MARCH, description="wieder da")

    other_node = make_node(other_organization, protocol=make_protocol("CLAIRCHEN"), model=make_node_model())
    make_installation(other_node, make_room(operator=other_organization))
    return SimpleNamespace(organization=organization, node=node, room=room, other_node=other_node)


def backup_document(*args: str) -> dict:
    out = StringIO()
    call_command("backup_inventory", *args, stdout=out, stderr=StringIO())
    return json.loads(out.getvalue())


def write_backup(tmp_path, *args: str):
    path = tmp_path / "inventory.json"
    call_command("backup_inventory", "-o", str(path), *args, stdout=StringIO())
    return path


def restore(path, *args: str) -> str:
    out = StringIO()
    call_command("restore_inventory", str(path), *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def wipe_inventory() -> None:
    Organization.objects.all().delete()  # and with it sites, rooms, nodes, installations, memberships
    Address.objects.all().delete()
    User.objects.all().delete()
    NodeModel.objects.all().delete()
    Protocol.objects.all().delete()
    Quantity.objects.all().delete()


def table_sizes() -> dict[str, int]:
    tables = (Organization, Membership, User, Address, Site, Room, Node, Installation, NodeModel, Protocol, Quantity)
    return {model.__name__: model.objects.count() for model in tables}


@pytest.mark.django_db
def test_restoring_into_an_empty_inventory_brings_back_every_object_as_it_was(inventory, tmp_path):
    path = write_backup(tmp_path)
    before = json.loads(path.read_text())
    assert len(before["objects"]["installations"]) == 3
    wipe_inventory()

    output = restore(path)

    assert backup_document()["objects"] == before["objects"]
    assert "installations: 3 created, 0 unchanged" in output
    assert Installation.objects.get(from_time=JANUARY).image.name == "installations/tresen.jpg"
    assert Node.objects.filter(pk=inventory.node.pk, owner_id=inventory.organization.pk).exists()
    restored = User.objects.get(username="olga")
    assert not restored.has_usable_password()
    assert "3 users were created without a usable password" in output


@pytest.mark.django_db
def test_the_backup_holds_no_secrets_and_no_samples(inventory, tmp_path):
    text = write_backup(tmp_path).read_text()

    password_hash = User.objects.get(username="olga").password.split("$")[-1]
    assert password_hash not in text and "password" not in text
    assert set(json.loads(text)["objects"]) == {
        "quantities", "protocols", "node_models", "users", "organizations", "memberships",
        "addresses", "sites", "rooms", "nodes", "installations",
    }  # fmt: skip


@pytest.mark.django_db
def test_restoring_the_same_backup_again_changes_nothing(inventory, tmp_path):
    path = write_backup(tmp_path)
    wipe_inventory()
    restore(path)
    sizes = table_sizes()

    output = restore(path)

    assert table_sizes() == sizes
    assert "nodes: 0 created, 2 unchanged" in output
    assert "Nothing to restore" in output


@pytest.mark.django_db
def test_restoring_a_backup_of_the_live_database_changes_nothing(inventory, tmp_path):
    path = write_backup(tmp_path)
    sizes = table_sizes()

    output = restore(path)

    assert table_sizes() == sizes
    assert "organizations: 0 created, 2 unchanged" in output


@pytest.mark.django_db
def test_objects_that_differ_from_the_database_refuse_the_whole_restore(inventory, tmp_path):
    path = write_backup(tmp_path)
    inventory.node.delete()  # the restore would bring it back...
    Organization.objects.filter(pk=inventory.organization.pk).update(name="Bar Lupa")
    Protocol.objects.filter(identifier="ELSYS").update(num_uplink_msgs=3)
    User.objects.filter(username="ines").update(email="ines@elsewhere.example")

    with pytest.raises(CommandError) as refused:
        restore(path)

    message = str(refused.value)
    assert message.startswith("Nothing was restored: 3 objects in ")
    assert 'protocols[1] (identifier "ELSYS"): differs from the object in the database: num_uplink_msgs is 1 in ' \
        "the backup but 3 in the database" in message  # fmt: skip
    assert f'(id {inventory.organization.pk}): differs from the object in the database: name is "Bar Lupe" in ' \
        'the backup but "Bar Lupa" in the database' in message  # fmt: skip
    assert 'email is "ines@example.org" in the backup but "ines@elsewhere.example" in the database' in message
    assert not Node.objects.filter(pk=inventory.node.pk).exists()  # ...but writes nothing


@pytest.mark.django_db
def test_a_new_object_clashing_with_another_ones_name_refuses_the_restore(inventory, tmp_path):
    path = write_backup(tmp_path)
    wipe_inventory()
    make_organization("Bar Lupe")

    with pytest.raises(CommandError, match="name: Organization with this Name already exists"):
        restore(path)

    assert not Node.objects.exists()


@pytest.mark.django_db
def test_a_bad_reference_is_reported_once_not_again_for_everything_behind_it(inventory, tmp_path):
    path = write_backup(tmp_path)
    document = json.loads(path.read_text())
    [bad] = [entry for entry in document["objects"]["nodes"] if entry["id"] == str(inventory.node.pk)]
    bad["owner"] = 999999
    path.write_text(json.dumps(document))
    wipe_inventory()

    with pytest.raises(CommandError) as refused:
        restore(path)

    problems = str(refused.value).splitlines()[1:]
    assert problems == [
        f'  - nodes[{document["objects"]["nodes"].index(bad)}] (id "{inventory.node.pk}"): owner: organizations '
        "999999 is neither in the backup nor in the database"
    ]
    assert not Organization.objects.exists()


@pytest.mark.django_db
def test_a_dry_run_reports_what_it_would_create_and_writes_nothing(inventory, tmp_path):
    path = write_backup(tmp_path)
    wipe_inventory()

    output = restore(path, "--dry-run")

    assert "nodes: 2 to create, 0 unchanged" in output
    assert "Dry run: nothing was written." in output
    assert not Node.objects.exists() and not User.objects.exists()


@pytest.mark.django_db
def test_a_backup_of_one_organization_holds_its_objects_and_the_catalog_they_use(inventory, tmp_path):
    objects = backup_document("--organization", str(inventory.organization.pk))["objects"]

    assert [entry["name"] for entry in objects["organizations"]] == ["Bar Lupe"]
    assert [entry["user"] for entry in objects["memberships"]] == ["ines", "olga"]
    assert [entry["username"] for entry in objects["users"]] == ["ines", "olga"]
    assert [entry["id"] for entry in objects["nodes"]] == [str(inventory.node.pk)]
    assert [entry["id"] for entry in objects["rooms"]] == [inventory.room.pk]
    assert len(objects["installations"]) == 2
    assert [entry["identifier"] for entry in objects["protocols"]] == ["ELSYS"]
    assert [entry["name"] for entry in objects["node_models"]] == ["ERS CO2"]
    assert [entry["quantity"] for entry in objects["quantities"]] == ["CO2", "temperature"]
    assert [entry["latitude"] for entry in objects["addresses"]] == ["52.52"]


@pytest.mark.django_db
def test_a_backup_of_an_unknown_organization_is_refused(inventory):
    with pytest.raises(CommandError, match="No organization with the id 999999."):
        backup_document("--organization", str(inventory.organization.pk), "--organization", "999999")


@pytest.mark.django_db
def test_objects_created_after_a_restore_into_a_fresh_database_get_ids_of_their_own(inventory, tmp_path):
    path = write_backup(tmp_path)
    kept = [Organization, Address, Site, Room, Installation]
    restored = {model: set(model.objects.values_list("pk", flat=True)) for model in kept}
    wipe_inventory()
    # As in a fresh database, the sequences have not reached the backup's ids yet.
    with connection.cursor() as cursor:
        for model in kept:
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s, false)",
                [model._meta.db_table, min(restored[model])],
            )
    restore(path)

    organization = make_organization()
    site = make_site(organization)
    installation = make_installation(make_node(organization), make_room(site))

    assert organization.pk not in restored[Organization]
    assert site.pk not in restored[Site] and site.address.pk not in restored[Address]
    assert installation.pk not in restored[Installation] and installation.room.pk not in restored[Room]


@pytest.mark.django_db
def test_a_malformed_backup_fails_with_a_message_and_no_traceback(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "managair-inventory", "version": 1, "objects": {"nodes": [')

    run = manage("restore_inventory", str(broken))

    assert run.returncode == 1
    assert run.stderr == f"CommandError: {broken} is not valid JSON: Expecting value at line 1, column 70.\n"


@pytest.mark.django_db(transaction=True)
def test_a_backup_piped_into_a_restore_of_the_same_database_changes_nothing(inventory):
    backed_up = manage("backup_inventory", "-o", "-")
    assert backed_up.returncode == 0, backed_up.stderr
    assert backed_up.stderr.startswith("Backed up 2 quantities, 2 protocols, 2 node_models, 3 users,")

    restored = manage("restore_inventory", "-", stdin=backed_up.stdout)

    assert restored.returncode == 0, restored.stderr
    assert "Nothing to restore" in restored.stdout
    assert json.loads(backed_up.stdout)["objects"] == backup_document()["objects"]
