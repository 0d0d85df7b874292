"""``manage.py ingest_key``: create, list, rotate, revoke, and clear errors."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from core.tests.factories import make_organization
from ingest.keys import ingest_key_create, ingest_key_revoke
from ingest.models import IngestKey, hash_key

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("ingest_key", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.parametrize("by", ["name", "id"])
def test_create_prints_the_key_alone_on_stdout(organization, by):
    given = organization.name if by == "name" else str(organization.pk)

    out, err = run("create", "--organization", given, "--name", "Gateway Dach")

    key = IngestKey.objects.get()
    plain = out.strip()
    assert out == plain + "\n"
    assert hash_key(plain) == key.key_hash
    assert (key.organization, key.name, key.prefix) == (organization, "Gateway Dach", plain[:8])
    assert "cannot be shown again" in err
    assert plain not in err


def test_create_refuses_an_unknown_organization(organization):
    with pytest.raises(CommandError, match="No organization with the id or name “Nirgendwo”"):
        run("create", "--organization", "Nirgendwo", "--name", "x")
    assert not IngestKey.objects.exists()


def test_create_suggests_an_organization_spelt_differently(organization):
    with pytest.raises(CommandError, match=f"Did you mean “Bar Lupe” \\(id {organization.pk}\\)"):
        run("create", "--organization", "bar lupe", "--name", "x")


def test_create_refuses_a_number_that_is_one_organizations_id_and_anothers_name(organization):
    make_organization(name=str(organization.pk))

    with pytest.raises(CommandError, match="ambiguous"):
        run("create", "--organization", str(organization.pk), "--name", "x")
    assert not IngestKey.objects.exists()


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_create_refuses_an_empty_or_overlong_name(organization, name):
    with pytest.raises(CommandError, match="--name"):
        run("create", "--organization", organization.name, "--name", name)
    assert not IngestKey.objects.exists()


def test_create_needs_organization_and_name(organization):
    with pytest.raises(CommandError, match="--name"):
        run("create", "--organization", organization.name)


def test_list_shows_every_key_but_never_the_key(organization, other_organization):
    active, plain = ingest_key_create(organization, "Gateway Dach")
    revoked, _ = ingest_key_create(other_organization, "Gateway Alt")
    ingest_key_revoke(revoked)

    out, _ = run("list")

    header, *rows = out.splitlines()
    assert header.split() == ["id", "organization", "name", "prefix", "created", "last", "used", "revoked"]
    assert len(rows) == 2
    assert any(row.startswith(str(active.pk)) and "Bar Lupe" in row and active.prefix in row for row in rows)
    assert any("Schule am Park" in row and row.rstrip().endswith("yes") for row in rows)
    assert all("never" in row for row in rows)
    assert plain not in out and active.key_hash not in out


def test_list_narrows_to_one_organization(organization, other_organization):
    ingest_key_create(organization, "Gateway Dach")
    ingest_key_create(other_organization, "Gateway Alt")

    out, _ = run("list", "--organization", other_organization.name)

    assert "Gateway Alt" in out and "Gateway Dach" not in out


def test_list_says_when_there_are_no_keys(db):
    assert run("list")[0] == "No ingest keys.\n"


def test_rotate_revokes_the_key_and_prints_its_replacement(organization):
    old, old_plain = ingest_key_create(organization, "Gateway Dach")

    out, err = run("rotate", str(old.pk))

    plain = out.strip()
    new = IngestKey.objects.get(key_hash=hash_key(plain))
    assert (new.organization, new.name, new.revoked) == (organization, "Gateway Dach", False)
    assert IngestKey.objects.get(pk=old.pk).revoked
    assert plain != old_plain
    assert f"key {new.pk}" in err and "cannot be shown again" in err


def test_rotate_refuses_a_revoked_key(organization):
    key, _ = ingest_key_create(organization, "Gateway Dach")
    ingest_key_revoke(key)

    with pytest.raises(CommandError, match="revoked"):
        run("rotate", str(key.pk))
    assert IngestKey.objects.count() == 1


def test_revoke_revokes_the_key(organization):
    key, _ = ingest_key_create(organization, "Gateway Dach")

    out, _ = run("revoke", str(key.pk))

    assert IngestKey.objects.get(pk=key.pk).revoked
    assert f"Revoked key {key.pk}" in out


def test_revoking_twice_says_so(organization):
    key, _ = ingest_key_create(organization, "Gateway Dach")
    ingest_key_revoke(key)

    out, _ = run("revoke", str(key.pk))

    assert "revoked already" in out


@pytest.mark.parametrize("action", ["rotate", "revoke"])
def test_unknown_key_is_an_error(db, action):
    with pytest.raises(CommandError, match="No ingest key with id 999"):
        run(action, "999")


@pytest.mark.parametrize("action", ["rotate", "revoke"])
def test_key_id_must_be_a_number(db, action):
    with pytest.raises(CommandError, match="invalid int value"):
        run(action, "abc")


def test_an_action_is_required(db):
    with pytest.raises(CommandError, match="required"):
        run()


@pytest.mark.parametrize("action", ["create", "list", "rotate", "revoke"])
def test_every_action_explains_itself(action, capsys):
    with pytest.raises(SystemExit):
        call_command("ingest_key", action, "--help")
    assert "usage: " in capsys.readouterr().out
