"""The base every resource view stands on: scoping, permissions, parameters.

A view names its scope (a function of ``core.scoping``) and, for related
routes such as ``organizations/{id}/sites/``, how the parent narrows it.
Everything else — which objects exist for the caller, who may write, which
query parameters are valid — is decided here, once.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from drf_spectacular_jsonapi.schemas.openapi import JsonApiAutoSchema
from rest_framework import permissions
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework_json_api import views

from core import scoping
from core.api.params import QueryParameterValidation, ResourceParser
from managair.errors import Conflict


class ScopedAccess(permissions.BasePermission):
    """Reads: whatever the scope holds. Writes: owners of the owning organization.

    Anonymous callers may read public objects; on member-only resources
    (``member_only``) and for every write they are asked to log in (401).
    """

    def has_permission(self, request, view):
        if request.method in permissions.SAFE_METHODS and not view.member_only:
            return True
        return bool(request.user and request.user.is_authenticated)

    def has_object_permission(self, request, view, obj):
        if request.method in permissions.SAFE_METHODS:
            return True
        return view.may_change(obj)


class ScopedViewSet(views.ModelViewSet):
    #: ``core.scoping`` function: user -> the queryset the user may see.
    scope = None
    #: Related routes: URL keyword -> (scope of the parent, field on this model).
    parents: dict = {}
    member_only = False
    permission_classes = [ScopedAccess]
    parser_classes = [ResourceParser]
    schema = JsonApiAutoSchema()
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    #: Translates model field names in validation errors to attribute names.
    error_fields: dict = {}

    def get_queryset(self):
        user = self.request.user
        queryset = type(self).scope(user)
        for kwarg, (parent_scope, field) in self.parents.items():
            if kwarg in self.kwargs:
                parent_id = self.kwargs[kwarg]
                if not _exists(parent_scope(user), parent_id):
                    raise NotFound()
                queryset = queryset.filter(**{field: parent_id})
        return self.prepare(queryset)

    def filter_queryset(self, queryset):
        # Filters narrow lists; on a single object only the parameters'
        # validity matters (a detail takes filter[from]/filter[to] for its
        # embedded time series).
        if self.action == "list":
            return super().filter_queryset(queryset)
        QueryParameterValidation().filter_queryset(self.request, queryset, self)
        return queryset

    def prepare(self, queryset):
        """Select and prefetch what the documents show (constant query count)."""
        return queryset

    def retrieve_one(self, request, *args, **kwargs):
        """A to-one related route (``sites/{id}/operator/``): the one object the
        parent points to, if the caller may see both."""
        instance = get_object_or_404(self.get_queryset())
        return Response(self.get_serializer(instance).data)

    # --- writes ------------------------------------------------------------

    def may_change(self, obj) -> bool:
        return scoping.can_change(self.request.user, obj)

    def owning_organization_id(self, validated_data: dict, instance=None):
        """The organization a created or changed object will belong to."""
        raise NotImplementedError

    def authorize_write(self, serializer) -> None:
        organization_id = self.owning_organization_id(serializer.validated_data, serializer.instance)
        if not scoping.is_owner(self.request.user, organization_id):
            raise PermissionDenied("Only owners of the organization may do this.")

    def perform_create(self, serializer):
        self.authorize_write(serializer)
        self.save(serializer)

    def perform_update(self, serializer):
        self.authorize_write(serializer)
        self.save(serializer)

    def perform_destroy(self, instance):
        destroy_or_409(instance)

    def save(self, serializer, **extra):
        """Save, turning the database's and the models' refusals into 400s."""
        try:
            with transaction.atomic():
                serializer.save(**extra)
        except DjangoValidationError as error:
            raise ValidationError(self._attribute_errors(error)) from None
        except IntegrityError as error:
            raise ValidationError({"non_field_errors": [_integrity_message(error)]}) from None

    def _attribute_errors(self, error: DjangoValidationError) -> dict:
        if not hasattr(error, "message_dict"):
            return {"non_field_errors": error.messages}
        return {
            self.error_fields.get(field, field) if field != "__all__" else "non_field_errors": messages
            for field, messages in error.message_dict.items()
        }


def destroy_or_409(instance) -> None:
    try:
        instance.delete()
    except ProtectedError:
        raise Conflict(f"This {instance._meta.verbose_name} is still in use and cannot be deleted.") from None


def _exists(queryset, pk) -> bool:
    try:
        return queryset.filter(pk=pk).exists()
    except (ValueError, DjangoValidationError):  # Not even a valid id.
        return False


def _integrity_message(error: IntegrityError) -> str:
    constraint = getattr(getattr(error.__cause__, "diag", None), "constraint_name", None)
    return {
        "installation_no_overlap_per_node": "The node is installed elsewhere during this time.",
        "installation_same_organization": "Node and room must belong to the same organization.",
    }.get(constraint, "This change conflicts with existing data.")
