"""``manage.py create_organization`` and ``manage.py membership``: what they
change, and that they refuse clearly (never leaving an organization without
an owner)."""

import subprocess
import sys
from io import StringIO

import pytest
from allauth.account.models import EmailAddress
from django.core.management import call_command
from django.core.management.base import CommandError

from core.tests.factories import make_organization, make_user
from managair.tests.processes import manage
from managair.tests.test_settings import PROJECT
from user_manager.models import Membership, Organization, User

pytestmark = pytest.mark.django_db

OWNER, INSPECTOR = Membership.Role.OWNER, Membership.Role.INSPECTOR


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def role_of(user: User, organization: Organization) -> str | None:
    return Membership.objects.filter(user=user, organization=organization).values_list("role", flat=True).first()


# create_organization


@pytest.mark.parametrize("given", ["olga", "OLGA@example.org"])
def test_create_organization_makes_an_existing_user_its_owner(owner, given):
    out, _ = run("create_organization", "Kita Sonnenschein", "--owner", given, "--description", "Kita im Kiez")

    created = Organization.objects.get(name="Kita Sonnenschein")
    assert created.description == "Kita im Kiez"
    assert list(created.memberships.values_list("user__username", "role")) == [("olga", OWNER)]
    assert out == f"Created organization “Kita Sonnenschein” (id {created.pk}) owned by olga.\n"


def test_create_organization_refuses_a_name_that_is_taken(organization, owner):
    with pytest.raises(
        CommandError, match=f"An organization named “Bar Lupe” exists already \\(id {organization.pk}\\)"
    ):
        run("create_organization", "Bar Lupe", "--owner", "olga")
    assert Organization.objects.filter(name="Bar Lupe").count() == 1


def test_create_organization_refuses_an_overlong_name(owner):
    with pytest.raises(CommandError, match="name: Ensure this value has at most 50 characters"):
        run("create_organization", "x" * 51, "--owner", "olga")
    assert list(Organization.objects.values_list("name", flat=True)) == ["Bar Lupe"]


def test_create_organization_refuses_an_unknown_owner_and_creates_nothing(owner):
    with pytest.raises(CommandError, match="No user with the username or e-mail address “olg”. Did you mean “olga”"):
        run("create_organization", "Kita Sonnenschein", "--owner", "olg")
    assert not Organization.objects.filter(name="Kita Sonnenschein").exists()


def test_create_organization_creates_the_owner_without_a_password_when_asked(db):
    out, err = run(
        "create_organization", "Kita Sonnenschein", "--owner", "kim", "--create-user", "--email", "kim@Example.ORG"
    )

    kim = User.objects.get(username="kim")
    assert not kim.has_usable_password()
    assert kim.email == "kim@example.org"
    assert EmailAddress.objects.filter(user=kim, email="kim@example.org", primary=True, verified=False).exists()
    assert role_of(kim, Organization.objects.get(name="Kita Sonnenschein")) == OWNER
    assert "Created user “kim” <kim@example.org> without a password" in out
    assert kim.password not in out + err


def test_create_organization_refuses_to_create_a_user_who_exists(owner):
    with pytest.raises(CommandError, match="A user “olga” exists already; leave out --create-user"):
        run(
            "create_organization", "Kita Sonnenschein", "--owner", "olga", "--create-user", "--email", "neu@example.org"
        )
    assert not Organization.objects.filter(name="Kita Sonnenschein").exists()


def test_create_organization_refuses_to_give_a_new_user_someone_elses_address(owner):
    with pytest.raises(CommandError, match="belongs to “olga” already; give --owner olga without --create-user"):
        run(
            "create_organization", "Kita Sonnenschein", "--owner", "kim", "--create-user", "--email", "Olga@example.org"
        )
    assert not User.objects.filter(username="kim").exists()
    assert not Organization.objects.filter(name="Kita Sonnenschein").exists()


def test_create_organization_refuses_an_invalid_username_and_creates_nothing(db):
    with pytest.raises(CommandError, match="username: Enter a valid username"):
        run(
            "create_organization",
            "Kita Sonnenschein",
            "--owner",
            "kim jong",
            "--create-user",
            "--email",
            "k@example.org",
        )
    assert not User.objects.exists()
    assert not Organization.objects.exists()


def test_create_organization_keeps_no_new_user_when_the_organization_fails(db, monkeypatch):
    def organization_create(**kwargs):
        raise CommandError("the database went away")

    monkeypatch.setattr("user_manager.management.commands.create_organization.organization_create", organization_create)

    with pytest.raises(CommandError, match="went away"):
        run("create_organization", "Kita Sonnenschein", "--owner", "kim", "--create-user", "--email", "kim@example.org")
    assert not User.objects.filter(username="kim").exists()


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--create-user"], "--create-user needs --email"),
        (["--email", "kim@example.org"], "--email only goes with --create-user"),
    ],
)
def test_create_organization_pairs_create_user_with_email(owner, args, complaint):
    with pytest.raises(CommandError, match=complaint):
        run("create_organization", "Kita Sonnenschein", "--owner", "kim", *args)
    assert not Organization.objects.filter(name="Kita Sonnenschein").exists()


@pytest.mark.django_db(transaction=True)
def test_create_organization_exits_with_the_reason_on_stderr_in_a_real_process():
    make_user("olga")
    make_organization(name="Bar Lupe")

    result = manage("create_organization", "Bar Lupe", "--owner", "olga")

    assert result.returncode == 1
    assert "CommandError: An organization named “Bar Lupe” exists already" in result.stderr
    assert "Traceback" not in result.stderr
    assert Organization.objects.count() == 1
    assert not Membership.objects.exists()


# membership


@pytest.mark.parametrize("by", ["name", "id"])
def test_membership_add_makes_a_user_a_member(organization, outsider, by):
    given = organization.name if by == "name" else str(organization.pk)

    out, _ = run("membership", "add", given, "otto@example.org", "--role", "inspector")

    assert role_of(outsider, organization) == INSPECTOR
    assert out == "Added otto to “Bar Lupe” as inspector.\n"


def test_membership_add_changes_the_role_of_a_member(organization, owner, inspector):
    out, _ = run("membership", "add", "Bar Lupe", "ines", "--role", "owner")

    assert role_of(inspector, organization) == OWNER
    assert out == "ines was inspector of “Bar Lupe” and is owner now.\n"


def test_membership_add_demotes_an_owner_when_another_one_remains(organization, owner, inspector):
    run("membership", "add", "Bar Lupe", "ines", "--role", "owner")

    run("membership", "add", "Bar Lupe", "olga", "--role", "inspector")

    assert (role_of(owner, organization), role_of(inspector, organization)) == (INSPECTOR, OWNER)


def test_membership_add_with_the_same_role_changes_nothing(organization, owner):
    out, _ = run("membership", "add", "Bar Lupe", "olga", "--role", "owner")

    assert role_of(owner, organization) == OWNER
    assert out == "olga is owner of “Bar Lupe” already; nothing changed.\n"


def test_membership_add_never_demotes_the_last_owner(organization, owner, inspector):
    with pytest.raises(CommandError, match="The last owner of an organization can neither leave nor be demoted"):
        run("membership", "add", "Bar Lupe", "olga", "--role", "inspector")
    assert role_of(owner, organization) == OWNER


def test_membership_add_needs_a_role(organization, outsider):
    # Without a default, adding an owner again can never demote them by accident.
    with pytest.raises(CommandError, match="--role"):
        run("membership", "add", "Bar Lupe", "otto")
    assert role_of(outsider, organization) is None


def test_membership_remove_removes_a_member(organization, owner, inspector):
    out, _ = run("membership", "remove", "Bar Lupe", "ines")

    assert role_of(inspector, organization) is None
    assert out == "Removed ines from “Bar Lupe”.\n"
    assert User.objects.filter(username="ines").exists()


def test_membership_remove_never_removes_the_last_owner(organization, owner, inspector):
    with pytest.raises(CommandError, match="The last owner of an organization can neither leave nor be demoted"):
        run("membership", "remove", "Bar Lupe", "olga")
    assert role_of(owner, organization) == OWNER


def test_membership_remove_refuses_a_user_who_is_no_member(organization, owner, outsider):
    with pytest.raises(CommandError, match="otto is not a member of “Bar Lupe”"):
        run("membership", "remove", "Bar Lupe", "otto")
    assert role_of(outsider, outsider.organizations.get()) == OWNER


@pytest.mark.parametrize(
    ("organization_given", "user_given", "complaint"),
    [
        ("Bar Lupa", "ines", "No organization with the id or name “Bar Lupa”"),
        ("bar", "ines", "Did you mean “Bar Lupe”"),
        ("Bar Lupe", "nobody@example.org", "No user with the username or e-mail address “nobody@example.org”"),
    ],
)
def test_membership_names_what_it_cannot_find(organization, inspector, organization_given, user_given, complaint):
    with pytest.raises(CommandError, match=complaint):
        run("membership", "remove", organization_given, user_given)
    assert role_of(inspector, organization) == INSPECTOR


def test_membership_refuses_a_name_that_could_mean_two_users(organization, inspector):
    make_user("ines@example.org", email="other@example.org", organization=organization)

    with pytest.raises(CommandError, match="ambiguous"):
        run("membership", "remove", "Bar Lupe", "ines@example.org")
    assert Membership.objects.filter(organization=organization).count() == 2


@pytest.mark.django_db(transaction=True)
def test_membership_exits_with_the_last_owner_rule_on_stderr_in_a_real_process():
    organization = make_organization(name="Bar Lupe")
    olga = make_user("olga", organization=organization, role=OWNER)

    result = manage("membership", "remove", "Bar Lupe", "olga")

    assert result.returncode == 1
    assert "CommandError: The last owner of an organization can neither leave nor be demoted" in result.stderr
    assert "Traceback" not in result.stderr
    assert role_of(olga, organization) == OWNER


def test_membership_add_help_says_it_changes_the_role_of_a_member():
    result = subprocess.run(
        [sys.executable, "manage.py", "membership", "add", "--help"], cwd=PROJECT, capture_output=True, text=True
    )

    assert result.returncode == 0
    assert "If USER is a member already, their role changes" in " ".join(result.stdout.split())
