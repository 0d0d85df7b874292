"""Users, organizations and memberships: the rules tenancy rests on.

Each rule is checked where it is enforced: the database refuses a direct
write, and ``full_clean()`` (forms, admin) reports it as a validation error.
"""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from core.tests.factories import make_organization, make_user
from user_manager.models import Membership, Organization, User

pytestmark = pytest.mark.django_db


# Organization


def test_organization_names_are_unique(organization):
    with pytest.raises(IntegrityError), transaction.atomic():
        Organization.objects.create(name=organization.name)
    with pytest.raises(ValidationError) as raised:
        Organization(name=organization.name).full_clean()
    assert "name" in raised.value.error_dict


@pytest.mark.parametrize("seconds", [59, 0])
def test_alive_period_shorter_than_a_minute_is_refused(seconds):
    with pytest.raises(IntegrityError, match="organization_alive_period_at_least_a_minute"), transaction.atomic():
        make_organization(alive_period_s=seconds)
    with pytest.raises(ValidationError, match="organization_alive_period_at_least_a_minute"):
        Organization(name="Bar Lupe", alive_period_s=seconds).full_clean()


def test_negative_alive_period_is_refused():
    with pytest.raises(IntegrityError), transaction.atomic():
        make_organization(alive_period_s=-60)


@pytest.mark.parametrize("seconds", [None, 60, 86_400])
def test_alive_period_of_a_minute_or_more_or_the_default_is_stored(seconds):
    organization = Organization(name="Bar Lupe", alive_period_s=seconds)
    organization.full_clean()
    organization.save()
    organization.refresh_from_db()
    assert organization.alive_period_s == seconds


# Membership


def test_user_has_one_membership_per_organization(owner, organization):
    with pytest.raises(IntegrityError, match="membership_unique_user_organization"), transaction.atomic():
        Membership.objects.create(user=owner, organization=organization, role=Membership.Role.INSPECTOR)
    with pytest.raises(ValidationError, match="already exists"):
        Membership(user=owner, organization=organization, role=Membership.Role.INSPECTOR).full_clean()
    assert owner.memberships.get().role == Membership.Role.OWNER


def test_user_may_belong_to_several_organizations(owner, other_organization):
    Membership.objects.create(user=owner, organization=other_organization, role=Membership.Role.INSPECTOR)
    assert set(owner.organizations.values_list("name", flat=True)) == {"Bar Lupe", "Schule am Park"}


def test_membership_role_must_be_owner_or_inspector(organization):
    user = make_user()
    with pytest.raises(IntegrityError, match="membership_role_valid"), transaction.atomic():
        Membership.objects.create(user=user, organization=organization, role="A")
    with pytest.raises(ValidationError) as raised:
        Membership(user=user, organization=organization, role="A").full_clean()
    assert "role" in raised.value.error_dict


def test_new_member_is_an_inspector_unless_told_otherwise(organization):
    membership = Membership.objects.create(user=make_user(), organization=organization)
    assert membership.role == Membership.Role.INSPECTOR
    assert not membership.is_owner


# User


def test_email_is_unique_regardless_of_case():
    make_user("foo", email="Foo@x.org")
    with pytest.raises(IntegrityError, match="user_email_unique_ci"), transaction.atomic():
        User.objects.create_user(username="foo2", email="foo@x.org")
    with pytest.raises(ValidationError, match="user_email_unique_ci"):
        User(username="foo3", email="FOO@X.ORG", password="!").full_clean()


def test_users_may_all_leave_their_email_empty():
    for username in ("anna", "bert", "cem"):
        User.objects.create_user(username=username, email="")
    assert User.objects.filter(email="").count() == 3


def test_different_emails_may_share_a_domain():
    make_user("anna", email="anna@x.org")
    make_user("bert", email="bert@x.org")
    assert User.objects.filter(email__endswith="@x.org").count() == 2


def test_deleting_an_organization_keeps_its_members_accounts(owner, organization):
    organization.delete()
    assert User.objects.filter(pk=owner.pk).exists()
    assert not Membership.objects.exists()
