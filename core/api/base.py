"""The base every resource view stands on: scoping, permissions, parameters.

A view names its scope (a function of ``core.scoping``) and, for related
routes such as ``organizations/{id}/sites/``, how the parent narrows it.
Everything else — which objects exist for the caller, who may write, which
query parameters are valid — is decided here, once.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Prefetch, ProtectedError
from drf_spectacular_jsonapi.schemas.openapi import JsonApiAutoSchema
from rest_framework import permissions
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework_json_api import views

from core import scoping
from core.api.fields import ScopedManyRelatedField
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

    #: serializer class -> the view that serves it (filled as views are defined),
    #: so that included documents are loaded as their own route loads them.
    _view_for_serializer: dict = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.scope is not None and getattr(cls, "serializer_class", None) is not None:
            ScopedViewSet._view_for_serializer.setdefault(cls.serializer_class, cls)

    def get_queryset(self):
        user = self.request.user
        queryset = type(self).scope(user)
        for kwarg, (parent_scope, field) in self.parents.items():
            if kwarg in self.kwargs:
                parent_id = self.kwargs[kwarg]
                if not _exists(parent_scope(user), parent_id):
                    raise NotFound()
                queryset = queryset.filter(**{field: parent_id})
        return self.prefetch_includes(self.prepare(queryset))

    def prefetch_includes(self, queryset):
        """Load what ``include=`` asks for in one query per included type and
        level, through the scope and ``prepare()`` of the view that serves it,
        so an included document is the one its own route would give."""
        paths = [part.strip().split(".") for part in self.request.query_params.get("include", "").split(",")]
        return self._include(queryset, self.get_serializer_class(), [path for path in paths if path[0]])

    def _include(self, queryset, serializer_class, paths: list[list[str]]):
        prefetches = {}
        for segment in dict.fromkeys(path[0] for path in paths):
            field = serializer_class._declared_fields.get(segment)
            target = getattr(serializer_class, "included_serializers", {}).get(segment)
            view_class = self._view_for_serializer.get(target)
            if field is None or view_class is None:
                continue  # DJA answers an unknown include path with a 400.
            related = view_class(request=self.request, kwargs={}, format_kwarg=None, action="list")
            related_queryset = self._include(
                related.prepare(view_class.scope(self.request.user)),
                target,
                [path[1:] for path in paths if path[0] == segment and len(path) > 1],
            )
            attribute = field.source or segment  # unbound fields have no source yet
            many = isinstance(field, ScopedManyRelatedField)
            name = f"visible_{attribute}" if many else attribute
            prefetches[name] = Prefetch(attribute, related_queryset, to_attr=name if many else None)
        return _replace_prefetches(queryset, prefetches) if prefetches else queryset

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
        return scoping.can_change(self.request.user, obj, deleting=self.request.method == "DELETE")

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


def _replace_prefetches(queryset, prefetches: dict):
    """Add ``prefetches`` in place of what ``prepare()`` loaded the same
    relations with (a select_related object is never prefetched again)."""
    kept = [
        lookup
        for lookup in queryset._prefetch_related_lookups
        if getattr(lookup, "prefetch_to", lookup) not in prefetches
    ]
    queryset = queryset.prefetch_related(None).prefetch_related(*kept, *prefetches.values())
    selected = queryset.query.select_related
    if isinstance(selected, dict):
        queryset = queryset.select_related(None)
        still_selected = [relation for relation in selected if relation not in prefetches]
        if still_selected:
            queryset = queryset.select_related(*still_selected)
    return queryset


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
