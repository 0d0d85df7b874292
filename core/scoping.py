"""Who may see and change what: the one place that decides.

Every API view, related route and ``include`` path, and every export, gets
its objects from the functions here; nothing else filters by tenant.

- Members (owners and inspectors) of an organization see its objects;
  owners change them.
- A public installation makes itself, its room, its site (with the site's
  address) and its organization readable by everybody, logged in or not.
  Nodes, node time series, memberships and fidelity are never public.
- Staff get no hidden powers here: they use the admin.

An object outside a user's scope does not exist for that user (404); one in
scope that the user may not change is forbidden (403).
"""

from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet

from core.models import Address, FidelityEvent, Installation, Node, NodeFidelity, Room, Site
from user_manager.models import Membership, Organization, User

# --- The user's organizations ---------------------------------------------------


def member_organization_ids(user: User | AnonymousUser) -> QuerySet:
    """A subquery of the ids of organizations the user belongs to."""
    if not user.is_authenticated:
        return Organization.objects.none().values("pk")
    return Membership.objects.filter(user_id=user.pk).values("organization_id")


def owned_organization_ids(user: User | AnonymousUser) -> QuerySet:
    if not user.is_authenticated:
        return Organization.objects.none().values("pk")
    return Membership.objects.filter(user_id=user.pk, role=Membership.Role.OWNER).values(
        "organization_id"
    )


def is_member(user: User | AnonymousUser, organization_id) -> bool:
    return member_organization_ids(user).filter(organization_id=organization_id).exists()


def is_owner(user: User | AnonymousUser, organization_id) -> bool:
    return owned_organization_ids(user).filter(organization_id=organization_id).exists()


# --- What a user sees --------------------------------------------------------------

_PUBLIC_INSTALLATIONS = Installation.objects.filter(is_public=True)


def organizations(user) -> QuerySet[Organization]:
    public = _PUBLIC_INSTALLATIONS.values("room__site__operator_id")
    return Organization.objects.filter(Q(pk__in=member_organization_ids(user)) | Q(pk__in=public))


def sites(user) -> QuerySet[Site]:
    public = _PUBLIC_INSTALLATIONS.values("room__site_id")
    return Site.objects.filter(Q(operator_id__in=member_organization_ids(user)) | Q(pk__in=public))


def addresses(user) -> QuerySet[Address]:
    """Addresses of visible sites, and those the user created for a site to come."""
    of_sites = Q(pk__in=sites(user).filter(address__isnull=False).values("address_id"))
    if not user.is_authenticated:
        return Address.objects.filter(of_sites)
    return Address.objects.filter(of_sites | Q(created_by_id=user.pk))


def rooms(user) -> QuerySet[Room]:
    public = _PUBLIC_INSTALLATIONS.values("room_id")
    return Room.objects.filter(Q(site__operator_id__in=member_organization_ids(user)) | Q(pk__in=public))


def installations(user) -> QuerySet[Installation]:
    return Installation.objects.filter(
        Q(room__site__operator_id__in=member_organization_ids(user)) | Q(is_public=True)
    )


def nodes(user) -> QuerySet[Node]:
    return Node.objects.filter(owner_id__in=member_organization_ids(user))


def fidelity(user) -> QuerySet[NodeFidelity]:
    return NodeFidelity.objects.filter(node__owner_id__in=member_organization_ids(user))


def fidelity_events(user) -> QuerySet[FidelityEvent]:
    return FidelityEvent.objects.filter(node__owner_id__in=member_organization_ids(user))


def memberships(user) -> QuerySet[Membership]:
    return Membership.objects.filter(organization_id__in=member_organization_ids(user))


def users(user) -> QuerySet[User]:
    """The user and the people who share an organization with them."""
    if not user.is_authenticated:
        return User.objects.none()
    colleagues = Membership.objects.filter(organization_id__in=member_organization_ids(user)).values(
        "user_id"
    )
    return User.objects.filter(Q(pk=user.pk) | Q(pk__in=colleagues))


# --- Which organization an object belongs to (for write permissions) ----------------


def owning_organization_id(obj):
    """The organization whose owners may change ``obj``."""
    match obj:
        case Organization():
            return obj.pk
        case Site():
            return obj.operator_id
        case Room():
            return Site.objects.filter(pk=obj.site_id).values_list("operator_id", flat=True).first()
        case Installation():
            return (
                Room.objects.filter(pk=obj.room_id).values_list("site__operator_id", flat=True).first()
            )
        case Node():
            return obj.owner_id
    # Memberships, ingest keys, webhooks: whatever belongs to one organization directly.
    if hasattr(obj, "organization_id"):
        return obj.organization_id
    raise TypeError(f"No owning organization for {type(obj).__name__}")


def can_change(user, obj, *, deleting: bool = False) -> bool:
    """Whether ``user`` may change (or, with ``deleting``, delete) ``obj``."""
    match obj:
        case Address():
            # Shared by whoever's sites use it: its creator, or an owner of one.
            return obj.created_by_id == user.pk or obj.sites.filter(
                operator_id__in=owned_organization_ids(user)
            ).exists()
        case User():
            # People change only their own name.
            return obj.pk == user.pk
        case Membership() if deleting and obj.user_id == user.pk:
            # Anyone may leave an organization; owners manage the rest.
            return True
    return is_owner(user, owning_organization_id(obj))


def can_change_catalog(user) -> bool:
    """Quantities, protocols and node models are shared by every
    organization: staff keep them."""
    return bool(user and user.is_authenticated and user.is_staff)
