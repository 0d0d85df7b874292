"""The resource endpoints of ``/api/v1/``: HTTP wired to scopes and services."""

import django_filters
from django.db.models import Q
from drf_spectacular_jsonapi.schemas.openapi import JsonApiAutoSchema
from rest_framework import permissions
from rest_framework.exceptions import PermissionDenied
from rest_framework_json_api import views
from rest_framework_json_api.pagination import JsonApiPageNumberPagination

from core import scoping
from core.api import serializers
from core.api.base import ScopedViewSet, destroy_or_409
from core.api.fields import visible_prefetch
from core.api.params import ResourceParser
from core.models import NodeModel, Protocol, Quantity
from managair.errors import Conflict
from user_manager import services as membership_services
from user_manager.models import Membership, User


class InventoryPagination(JsonApiPageNumberPagination):
    # Clients load inventory lists whole (upstream had no pages).
    max_page_size = 1000



# --- Catalog ------------------------------------------------------------------------


class StaffWritesOnly(permissions.BasePermission):
    def has_permission(self, request, view):
        return request.method in permissions.SAFE_METHODS or scoping.can_change_catalog(request.user)


class CatalogViewSet(views.ModelViewSet):
    """Shared by every organization: everybody reads, staff write."""

    permission_classes = [StaffWritesOnly]
    parser_classes = [ResourceParser]
    schema = JsonApiAutoSchema()

    def perform_destroy(self, instance):
        destroy_or_409(instance)
    pagination_class = InventoryPagination
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]


class QuantityViewSet(CatalogViewSet):
    """Measured quantities (catalog: everybody reads, staff write)."""

    queryset = Quantity.objects.all()
    serializer_class = serializers.QuantitySerializer
    ordering_fields = ("quantity",)


class ProtocolViewSet(CatalogViewSet):
    """Node uplink protocols (catalog: everybody reads, staff write)."""

    queryset = Protocol.objects.all()
    serializer_class = serializers.ProtocolSerializer
    ordering_fields = ("identifier",)


class NodeModelViewSet(CatalogViewSet):
    """Kinds of sensor nodes (catalog: everybody reads, staff write)."""

    queryset = NodeModel.objects.prefetch_related("quantities")
    serializer_class = serializers.NodeModelSerializer
    ordering_fields = ("name", "manufacturer")


# --- Organizations and people ------------------------------------------------------


class OrganizationViewSet(ScopedViewSet):
    """Organizations: their members see them, owners change them; whoever creates one owns it."""

    scope = staticmethod(scoping.organizations)
    parents = {
        "user_pk": (scoping.users, "memberships__user"),
        "site_pk": (scoping.sites, "sites"),
        "node_pk": (scoping.nodes, "nodes"),
        "membership_pk": (scoping.memberships, "memberships"),
    }
    serializer_class = serializers.OrganizationSerializer
    pagination_class = InventoryPagination
    search_fields = ("name", "description")
    ordering_fields = ("name",)

    def prepare(self, queryset):
        user = self.request.user
        return queryset.prefetch_related(
            visible_prefetch("users", scoping.users, user),
            visible_prefetch("memberships", scoping.memberships, user),
            visible_prefetch("sites", scoping.sites, user),
            visible_prefetch("nodes", scoping.nodes, user),
        )

    def perform_create(self, serializer):
        # Whoever founds an organization owns it.
        serializer.instance = membership_services.organization_create(
            creator=self.request.user, **serializer.validated_data
        )

    def owning_organization_id(self, validated_data, instance=None):
        return instance.pk


class MembershipFilter(django_filters.FilterSet):
    username = django_filters.CharFilter(field_name="user__username")
    # Plain ids: an organization or user one cannot see gives an empty list,
    # exactly as one that does not exist.
    organization = django_filters.NumberFilter(field_name="organization")
    user = django_filters.NumberFilter(field_name="user")

    class Meta:
        model = Membership
        fields = ("organization", "user", "role")


class MembershipViewSet(ScopedViewSet):
    """Who belongs to an organization, as owner (O) or inspector (I)."""

    scope = staticmethod(scoping.memberships)
    parents = {
        "organization_pk": (scoping.organizations, "organization_id"),
        "user_pk": (scoping.users, "user_id"),
    }
    member_only = True
    serializer_class = serializers.MembershipSerializer
    pagination_class = InventoryPagination
    filterset_class = MembershipFilter
    ordering_fields = ("role", "user_name")
    ordering_aliases = {"user_name": "user__username"}

    def prepare(self, queryset):
        return queryset.select_related("user", "organization")

    def owning_organization_id(self, validated_data, instance=None):
        return (validated_data.get("organization") or instance.organization).pk

    def perform_update(self, serializer):
        self.authorize_write(serializer)
        role = serializer.validated_data.get("role", serializer.instance.role)
        try:
            membership_services.membership_change_role(membership=serializer.instance, role=role)
        except membership_services.LastOwnerError as error:
            raise Conflict(str(error)) from None

    def perform_destroy(self, membership):
        try:
            membership_services.membership_remove(membership=membership)
        except membership_services.LastOwnerError as error:
            raise Conflict(str(error)) from None


class UserFilter(django_filters.FilterSet):
    organization = django_filters.NumberFilter(field_name="memberships__organization")

    class Meta:
        model = User
        fields = ("username",)


class UserViewSet(ScopedViewSet):
    """The caller and the people who share an organization with them."""

    scope = staticmethod(scoping.users)
    parents = {
        "organization_pk": (scoping.organizations, "memberships__organization_id"),
        "membership_pk": (scoping.memberships, "memberships"),
    }
    member_only = True
    serializer_class = serializers.UserSerializer
    pagination_class = InventoryPagination
    filterset_class = UserFilter
    ordering_fields = ("username", "email")
    # Searched by filter_queryset below; the backend narrows the colleagues
    # to the same fields first.
    search_fields = ("username", "email", "first_name", "last_name")
    http_method_names = ["get", "patch", "head", "options"]

    def filter_queryset(self, queryset):
        # filter[search] finds the people one shares an organization with by
        # name or address, and anyone by their exact e-mail address, so that
        # owners can invite them. It reveals nobody else.
        term = self.request.query_params.get("filter[search]", "").strip()
        queryset = super().filter_queryset(queryset)
        if not term:
            return queryset
        matches = Q(username__icontains=term) | Q(email__icontains=term)
        matches |= Q(first_name__icontains=term) | Q(last_name__icontains=term)
        found = Q(pk__in=queryset.filter(matches).values("pk"))
        if "@" in term:
            found |= Q(pk__in=User.objects.filter(email__iexact=term, is_active=True).values("pk"))
        return self.prepare(User.objects.filter(found))

    def prepare(self, queryset):
        user = self.request.user
        return queryset.distinct().order_by("username").prefetch_related(
            visible_prefetch("organizations", scoping.organizations, user),
            visible_prefetch("memberships", scoping.memberships, user),
        )

    def authorize_write(self, serializer):
        if not scoping.can_change(self.request.user, serializer.instance):
            raise PermissionDenied("Users change only their own name.")
