"""Changes to organizations and memberships that carry business rules.

The rule that matters most: an organization never loses its last owner,
whether by the owner leaving, being removed, or being demoted.
"""

from django.db import transaction

from user_manager.models import Membership, Organization, User


class LastOwnerError(Exception):
    """The change would leave an organization without an owner."""


@transaction.atomic
def organization_create(*, name: str, description: str = "", creator: User, **fields) -> Organization:
    """A new organization, owned by the user who creates it."""
    organization = Organization.objects.create(name=name, description=description, **fields)
    Membership.objects.create(organization=organization, user=creator, role=Membership.Role.OWNER)
    return organization


def _ensure_another_owner(membership: Membership) -> None:
    # Lock the organization's owner rows so two owners cannot demote each
    # other at the same moment and leave none.
    owners = (
        Membership.objects.select_for_update()
        .filter(organization_id=membership.organization_id, role=Membership.Role.OWNER)
        .values_list("pk", flat=True)
    )
    if membership.is_owner and not any(pk != membership.pk for pk in owners):
        raise LastOwnerError(
            "The last owner of an organization can neither leave nor be demoted; "
            "make another member an owner first."
        )


@transaction.atomic
def membership_change_role(*, membership: Membership, role: str) -> Membership:
    if role != Membership.Role.OWNER:
        _ensure_another_owner(membership)
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership) -> None:
    _ensure_another_owner(membership)
    membership.delete()
