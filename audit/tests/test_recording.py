"""What the audit log records: every create, change and delete of an
organization's objects, with who did it and where, and never a secret."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models.signals import post_save

from audit.models import AuditEntry
from core.models import Room, Site
from core.tests.api_fixtures import api_client
from core.tests.factories import make_organization, make_room, make_site, make_user
from ingest.models import IngestKey
from integrations.webhook.models import Webhook
from user_manager.models import Membership

API = "/api/v1"


def _entries(**filters) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(**filters).order_by("id"))


def _only_entry(**filters) -> AuditEntry:
    entries = _entries(**filters)
    assert len(entries) == 1, [(e.action, e.model, e.changes) for e in entries]
    return entries[0]


def _check_deferred_constraints() -> None:
    # Tests run inside a transaction that is rolled back, so the foreign keys
    # (deferred until commit) would otherwise never be checked.
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


@pytest.fixture
def site(organization):
    return make_site(operator=organization, name="Hauptgebäude")


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


# --- Through the API ----------------------------------------------------------------------------


def test_creating_a_room_through_the_api_records_its_fields_and_the_owner(owner, organization, site):
    response = api_client(owner).post(
        f"{API}/rooms/",
        {
            "data": {
                "type": "Room",
                "attributes": {"name": "Aula", "size_sqm": "120.5", "max_occupancy": 80},
                "relationships": {"site": {"data": {"type": "Site", "id": str(site.pk)}}},
            }
        },
    )

    assert response.status_code == 201, response.content
    room = Room.objects.get(name="Aula")
    entry = _only_entry(model="core.room")
    assert (entry.action, entry.source, entry.actor, entry.actor_name) == ("create", "api", owner, "olga")
    assert entry.organization == organization
    assert (entry.object_id, entry.object_repr) == (str(room.pk), str(room))
    assert entry.changes == {
        "name": "Aula",
        "description": "",
        "size_sqm": "120.5",
        "height_m": None,
        "max_occupancy": 80,
        "site": site.pk,
    }


def test_changing_a_room_through_the_api_records_old_and_new_values_of_what_changed(owner, organization, site):
    room = make_room(site, name="Aula", description="alt")
    other_site = make_site(operator=organization, name="Neubau")
    AuditEntry.objects.all().delete()

    response = api_client(owner).patch(
        f"{API}/rooms/{room.pk}/",
        {
            "data": {
                "type": "Room",
                "id": str(room.pk),
                "attributes": {"name": "Aula", "description": "neu"},
                "relationships": {"site": {"data": {"type": "Site", "id": str(other_site.pk)}}},
            }
        },
    )

    assert response.status_code == 200, response.content
    entry = _only_entry()
    assert (entry.action, entry.model, entry.source, entry.actor) == ("update", "core.room", "api", owner)
    assert entry.changes == {"description": ["alt", "neu"], "site": [site.pk, other_site.pk]}


def test_deleting_a_room_through_the_api_records_its_last_values(owner, organization, site):
    room = make_room(site, name="Keller", description="feucht")
    room_id, room_repr = room.pk, str(room)
    AuditEntry.objects.all().delete()

    response = api_client(owner).delete(f"{API}/rooms/{room.pk}/")

    assert response.status_code == 204
    entry = _only_entry()
    assert (entry.action, entry.model, entry.source, entry.actor) == ("delete", "core.room", "api", owner)
    assert (entry.organization, entry.object_id, entry.object_repr) == (organization, str(room_id), room_repr)
    assert entry.changes["name"] == "Keller"
    assert entry.changes["description"] == "feucht"
    assert entry.changes["site"] == site.pk


def test_a_token_authenticated_change_names_the_tokens_owner(owner, organization):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=owner).key}")

    response = client.patch(
        f"{API}/organizations/{organization.pk}/",
        {"data": {"type": "Organization", "id": str(organization.pk), "attributes": {"description": "Kneipe"}}},
        format="vnd.api+json",
    )

    assert response.status_code == 200, response.content
    entry = _only_entry(model="user_manager.organization", action="update")
    assert (entry.actor, entry.source, entry.changes) == (owner, "api", {"description": ["", "Kneipe"]})


def test_changing_a_members_role_is_recorded_in_that_organization(owner, inspector, organization):
    membership = Membership.objects.get(user=inspector)
    AuditEntry.objects.all().delete()

    response = api_client(owner).patch(
        f"{API}/memberships/{membership.pk}/",
        {"data": {"type": "Membership", "id": str(membership.pk), "attributes": {"role": "O"}}},
    )

    assert response.status_code == 200, response.content
    entry = _only_entry()
    assert (entry.model, entry.action, entry.organization) == ("user_manager.membership", "update", organization)
    assert entry.changes == {"role": ["I", "O"]}


def test_founding_an_organization_records_it_and_its_first_owner(owner):
    response = api_client(owner).post(
        f"{API}/organizations/", {"data": {"type": "Organization", "attributes": {"name": "Neu"}}}
    )

    assert response.status_code == 201, response.content
    entries = _entries(organization_id=response.json()["data"]["id"])
    assert [(e.model, e.action, e.actor) for e in entries] == [
        ("user_manager.organization", "create", owner),
        ("user_manager.membership", "create", owner),
    ]
    assert entries[1].changes == {"role": "O", "user": owner.pk, "organization": entries[0].organization_id}


# --- Through the admin --------------------------------------------------------------------------


def test_adding_a_room_in_the_admin_names_the_staff_member(staff_client, staff, organization, site):
    response = staff_client.post(
        "/admin/core/room/add/", {"name": "Turnhalle", "site": site.pk, "description": "", "max_occupancy": 30}
    )

    assert response.status_code == 302, response.content[:2000]
    entry = _only_entry(model="core.room")
    assert (entry.action, entry.source, entry.actor, entry.actor_name) == ("create", "admin", staff, "stella")
    assert entry.organization == organization
    assert entry.changes["name"] == "Turnhalle"
    assert entry.changes["max_occupancy"] == 30


def test_changing_a_webhook_in_the_admin_records_what_changed(staff_client, staff, organization):
    hook = Webhook.objects.create(organization=organization, url="https://example.org/alt")
    AuditEntry.objects.all().delete()

    response = staff_client.post(
        f"/admin/webhook/webhook/{hook.pk}/change/",
        {"organization": organization.pk, "url": "https://example.org/neu", "is_active": ""},
    )

    assert response.status_code == 302, response.content[:2000]
    entry = _only_entry()
    assert (entry.model, entry.action, entry.source, entry.actor) == ("webhook.webhook", "update", "admin", staff)
    assert entry.changes == {"url": ["https://example.org/alt", "https://example.org/neu"], "is_active": [True, False]}


def test_deleting_a_site_in_the_admin_records_it_and_its_rooms(staff_client, staff, organization, site):
    room = make_room(site, name="Flur")
    AuditEntry.objects.all().delete()

    response = staff_client.post(f"/admin/core/site/{site.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Site.objects.filter(pk=site.pk).exists()
    deleted = {(e.model, e.object_id) for e in _entries(action="delete", source="admin", actor=staff)}
    assert deleted == {("core.site", str(site.pk)), ("core.room", str(room.pk))}
    assert {e.organization_id for e in _entries()} == {organization.pk}
    _check_deferred_constraints()


# --- Outside requests ---------------------------------------------------------------------------


def test_changes_outside_a_request_have_no_actor_and_source_other(organization):
    site = make_site(operator=organization, name="Lager")

    entry = _only_entry(model="core.site")
    assert (entry.action, entry.actor, entry.actor_name, entry.source) == ("create", None, "", "other")
    assert entry.object_id == str(site.pk)


def test_a_command_is_recorded_without_an_actor(organization):
    call_command("ingest_key", "create", "--organization", organization.name, "--name", "gateway", stdout=StringIO())

    entry = _only_entry(model="ingest.ingestkey")
    assert (entry.action, entry.actor, entry.source, entry.organization) == ("create", None, "other", organization)


def test_a_save_that_changes_nothing_writes_nothing(owner, organization, site):
    room = make_room(site, name="Aula", description="hell", size_sqm="20.0")
    AuditEntry.objects.all().delete()

    room.save()
    Room.objects.get(pk=room.pk).save()
    response = api_client(owner).patch(
        f"{API}/rooms/{room.pk}/",
        {"data": {"type": "Room", "id": str(room.pk), "attributes": {"description": "hell", "size_sqm": "20"}}},
    )

    assert response.status_code == 200, response.content
    assert _entries() == []


def test_a_failed_request_leaves_no_entry(owner, organization, site):
    def crash(**kwargs):
        raise RuntimeError("disk full")

    post_save.connect(crash, sender=Room, dispatch_uid="test.crash")
    try:
        response = api_client(owner).post(
            f"{API}/rooms/",
            {
                "data": {
                    "type": "Room",
                    "attributes": {"name": "Aula"},
                    "relationships": {"site": {"data": {"type": "Site", "id": str(site.pk)}}},
                }
            },
        )
    finally:
        post_save.disconnect(sender=Room, dispatch_uid="test.crash")

    assert response.status_code == 500
    assert not Room.objects.filter(name="Aula").exists()
    assert _entries(model="core.room") == []


# --- Secrets ------------------------------------------------------------------------------------


def test_keys_and_webhook_secrets_never_reach_the_log(owner, organization):
    client = api_client(owner)
    key_response = client.post(
        f"{API}/ingest-keys/",
        {
            "data": {
                "type": "IngestKey",
                "attributes": {"name": "gateway"},
                "relationships": {"organization": {"data": {"type": "Organization", "id": str(organization.pk)}}},
            }
        },
    )
    hook_response = client.post(
        f"{API}/webhooks/",
        {
            "data": {
                "type": "Webhook",
                "attributes": {"url": "https://example.org/hook"},
                "relationships": {"organization": {"data": {"type": "Organization", "id": str(organization.pk)}}},
            }
        },
    )
    assert key_response.status_code == hook_response.status_code == 201
    key_id, plain_key = key_response.json()["data"]["id"], key_response.json()["data"]["attributes"]["key"]
    hook_id, secret = hook_response.json()["data"]["id"], hook_response.json()["data"]["attributes"]["secret"]
    key_hash = IngestKey.objects.get(pk=key_id).key_hash
    assert client.patch(
        f"{API}/ingest-keys/{key_id}/",
        {"data": {"type": "IngestKey", "id": key_id, "attributes": {"name": "gateway 2", "revoked": True}}},
    ).status_code == 200
    assert client.delete(f"{API}/webhooks/{hook_id}/").status_code == 204
    assert client.delete(f"{API}/ingest-keys/{key_id}/").status_code == 204

    entries = _entries(organization=organization, source="api")
    assert {(e.model, e.action) for e in entries} == {
        (model, action) for model in ("ingest.ingestkey", "webhook.webhook") for action in ("create", "delete")
    } | {("ingest.ingestkey", "update")}
    stored = json.dumps([list(row) for row in AuditEntry.objects.values_list()], default=str)
    for value in (plain_key, key_hash, secret):
        assert value not in stored
    for entry in entries:
        assert not {"key_hash", "secret"} & set(entry.changes)


def test_passwords_of_people_are_never_recorded(organization):
    make_user("paula", organization=organization, password="very secret words")

    assert "very secret words" not in json.dumps(list(AuditEntry.objects.values_list("changes", flat=True)))
    assert all("password" not in entry.changes for entry in _entries())


# --- Deletions that take the log or the actor with them -----------------------------------------


def test_deleting_an_organization_takes_its_log_with_it(owner, organization, site):
    make_room(site)
    other = make_organization(name="Andere")
    make_site(operator=other)
    assert _entries(organization=organization)

    response = api_client(owner).delete(f"{API}/organizations/{organization.pk}/")

    assert response.status_code == 204
    assert _entries(organization_id=organization.pk) == []
    assert _entries(organization=other)
    _check_deferred_constraints()


def test_an_entry_keeps_the_actors_name_when_the_account_is_deleted(owner, organization, site):
    make_room(site, name="Aula")
    api_client(owner).patch(
        f"{API}/organizations/{organization.pk}/",
        {"data": {"type": "Organization", "id": str(organization.pk), "attributes": {"description": "x"}}},
    )
    second_owner = make_user("zweite", organization=organization, role=Membership.Role.OWNER)

    owner.delete()

    entry = _only_entry(model="user_manager.organization", action="update")
    assert (entry.actor, entry.actor_name) == (None, "olga")
    assert second_owner.pk
    _check_deferred_constraints()


def test_people_deleting_their_own_account_leave_entries_without_a_dangling_actor(rf, owner, organization):
    from audit.middleware import AuditActorMiddleware

    request = rf.post("/api/v1/auth/user/")
    request.user = owner
    AuditActorMiddleware(lambda request: request.user.delete())(request)

    entry = _only_entry(model="user_manager.membership", action="delete")
    assert (entry.actor, entry.actor_name, entry.source) == (None, "olga", "api")
    _check_deferred_constraints()
