"""Ingest keys in the admin: a new key is shown once, in a message; staff
revoke and rotate keys from the list; the hash is never on a page."""

import re

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.tests.factories import make_organization
from ingest.keys import ingest_key_create, ingest_key_revoke
from ingest.models import IngestKey, hash_key

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:ingest_ingestkey_changelist")
ADD = reverse("admin:ingest_ingestkey_add")


def _change_url(key: IngestKey) -> str:
    return reverse("admin:ingest_ingestkey_change", args=[key.pk])


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _keys_in(messages: list[str]) -> list[str]:
    return [match for message in messages for match in re.findall(r"<code>([^<]+)</code>", message)]


def _act(client, action: str, *keys: IngestKey):
    return client.post(CHANGELIST, {"action": action, "_selected_action": [key.pk for key in keys]}, follow=True)


def test_add_page_asks_only_for_organization_and_name(staff_client):
    form = staff_client.get(ADD).context["adminform"].form

    assert list(form.fields) == ["organization", "name"]


def test_added_key_is_shown_once_in_a_message(staff_client, organization):
    response = staff_client.post(ADD, {"organization": organization.pk, "name": "Gateway Dach"}, follow=True)

    assert response.status_code == 200
    key = IngestKey.objects.get()
    (plain,) = _keys_in(_messages(response))
    assert hash_key(plain) == key.key_hash
    assert plain[:8] == key.prefix
    assert (key.organization, key.name, key.revoked) == (organization, "Gateway Dach", False)
    assert plain in response.content.decode()
    assert "cannot be shown again" in response.content.decode()
    # Never again: not on the next page, the list or the key's own page.
    for url in (CHANGELIST, CHANGELIST, _change_url(key)):
        assert plain not in staff_client.get(url).content.decode()


def test_key_page_shows_no_hash_and_cannot_unrevoke(staff_client, organization):
    key, _ = ingest_key_create(organization, "Gateway Keller")
    ingest_key_revoke(key)

    page = staff_client.get(_change_url(key))
    staff_client.post(_change_url(key), {"name": "Renamed", "revoked": ""})

    assert key.key_hash not in page.content.decode()
    assert "key_hash" not in page.content.decode()
    assert "revoked" not in page.context["adminform"].form.fields
    key.refresh_from_db()
    assert (key.name, key.revoked) == ("Renamed", True)


def test_changelist_shows_keys_without_their_hash(staff_client, organization):
    key, _ = ingest_key_create(organization, "Gateway Keller")

    page = staff_client.get(CHANGELIST).content.decode()

    assert "Gateway Keller" in page and organization.name in page and key.prefix in page
    assert key.key_hash not in page


@pytest.mark.parametrize("term", ["Keller", "prefix"])
def test_changelist_finds_keys_by_name_or_prefix(staff_client, organization, term):
    wanted, _ = ingest_key_create(organization, "Gateway Keller")
    ingest_key_create(organization, "Gateway Dach")

    response = staff_client.get(CHANGELIST, {"q": wanted.prefix if term == "prefix" else term})

    assert list(response.context["cl"].result_list) == [wanted]


def test_changelist_filters_revoked_keys(staff_client, organization):
    active, _ = ingest_key_create(organization, "active")
    revoked, _ = ingest_key_create(organization, "revoked")
    ingest_key_revoke(revoked)

    response = staff_client.get(CHANGELIST, {"revoked__exact": "1"})

    assert list(response.context["cl"].result_list) == [revoked]


def test_changelist_costs_no_query_per_key(staff_client):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert staff_client.get(CHANGELIST).status_code == 200
        return len(captured)

    ingest_key_create(make_organization(), "first")
    queries()  # fills per-process caches
    with_one = queries()
    for n in range(10):
        ingest_key_create(make_organization(), f"key {n}")

    assert queries() == with_one


def test_revoke_action_revokes_the_selected_keys(staff_client, organization):
    first, _ = ingest_key_create(organization, "first")
    second, _ = ingest_key_create(organization, "second")
    kept, _ = ingest_key_create(organization, "kept")

    response = _act(staff_client, "revoke", first, second)

    assert set(IngestKey.objects.filter(revoked=True)) == {first, second}
    assert not IngestKey.objects.get(pk=kept.pk).revoked
    assert "Revoked 2 key(s)." in _messages(response)


def test_rotate_action_shows_each_new_key_once(staff_client, organization):
    first, _ = ingest_key_create(organization, "first")
    second, _ = ingest_key_create(make_organization(name="Zweite"), "second")

    response = _act(staff_client, "rotate", first, second)

    plains = _keys_in(_messages(response))
    assert len(plains) == 2
    new_keys = IngestKey.objects.filter(key_hash__in=[hash_key(plain) for plain in plains])
    assert {(key.organization.name, key.name) for key in new_keys} == {("Bar Lupe", "first"), ("Zweite", "second")}
    assert all(not key.revoked for key in new_keys)
    assert IngestKey.objects.get(pk=first.pk).revoked and IngestKey.objects.get(pk=second.pk).revoked
    for plain in plains:
        assert plain not in staff_client.get(CHANGELIST).content.decode()


def test_rotate_action_skips_revoked_keys(staff_client, organization):
    revoked, _ = ingest_key_create(organization, "old")
    ingest_key_revoke(revoked)

    response = _act(staff_client, "rotate", revoked)

    assert IngestKey.objects.count() == 1
    assert _keys_in(_messages(response)) == []
    assert any("Skipped 1 revoked key" in message for message in _messages(response))
