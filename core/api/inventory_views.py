"""Endpoints for places (addresses, sites, rooms), nodes, installations, fidelity."""

import django_filters
from django.conf import settings
from django.db.models import F, Subquery, Value
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers as drf
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from core import scoping
from core.api import serializers
from core.api.base import ScopedViewSet
from core.api.fields import visible_prefetch
from core.api.params import INCLUDE_TIMESERIES, SERIES_PARAMETERS
from core.api.renderers import CSVExport
from core.api.samples import (
    annotate_latest_sample,
    include_timeseries_requested,
)
from core.api.timeseries_views import (
    safe_filename,
    series_csv,
    series_or_400,
    series_query_or_400,
    series_schema,
)
from core.api.views import InventoryPagination
from core.hourly import EARLIEST, LATEST, SampleCount
from core.models import FidelityCheck, FidelityEvent, Installation, Node, NodeFidelity, Room, Site
from core.services import IMAGE_FORMATS, installation_set_image


class AddressViewSet(ScopedViewSet):
    """Street addresses of sites. Readable with their sites; changed by their creator or the sites' owners."""

    scope = staticmethod(scoping.addresses)
    parents = {"site_pk": (scoping.sites, "sites")}
    serializer_class = serializers.AddressSerializer
    pagination_class = InventoryPagination
    ordering_fields = ("city", "street1")

    def authorize_write(self, serializer):
        # Anyone logged in may record an address for a site to come; changing
        # one is for its creator and the owners of sites at it (may_change).
        pass

    def perform_create(self, serializer):
        self.save(serializer, created_by=self.request.user)


class SiteFilter(django_filters.FilterSet):
    organization = django_filters.NumberFilter(field_name="operator")

    class Meta:
        model = Site
        fields = ("organization",)


class SiteViewSet(ScopedViewSet):
    """Sites (buildings, campuses) operated by an organization."""

    scope = staticmethod(scoping.sites)
    parents = {"organization_pk": (scoping.organizations, "operator_id"), "room_pk": (scoping.rooms, "rooms")}
    serializer_class = serializers.SiteSerializer
    pagination_class = InventoryPagination
    filterset_class = SiteFilter
    search_fields = ("name", "description")
    ordering_fields = ("name",)

    def prepare(self, queryset):
        return queryset.select_related("address", "operator").prefetch_related(
            visible_prefetch("rooms", scoping.rooms, self.request.user)
        )

    def owning_organization_id(self, validated_data, instance=None):
        return (validated_data.get("operator") or instance.operator).pk


def _visible(scope):
    """A filter choice among what the caller may see: an invisible id is as
    unknown as a missing one."""
    return lambda request: scope(request.user)


class RoomFilter(django_filters.FilterSet):
    organization = django_filters.NumberFilter(field_name="site__operator")
    site = django_filters.ModelChoiceFilter(queryset=_visible(scoping.sites))

    class Meta:
        model = Room
        fields = ("site", "organization")


class RoomViewSet(ScopedViewSet):
    """Rooms of a site."""

    scope = staticmethod(scoping.rooms)
    parents = {"site_pk": (scoping.sites, "site_id"), "installation_pk": (scoping.installations, "installations")}
    serializer_class = serializers.RoomSerializer
    pagination_class = InventoryPagination
    filterset_class = RoomFilter
    search_fields = ("name", "description")
    ordering_fields = ("name", "max_occupancy", "size_sqm")

    def prepare(self, queryset):
        return queryset.select_related("site").prefetch_related(
            visible_prefetch("installations", scoping.installations, self.request.user)
        )

    def owning_organization_id(self, validated_data, instance=None):
        return (validated_data.get("site") or instance.site).operator_id


class IncludeTimeseries(CSVExport):
    """``include_timeseries=1`` on a detail embeds its series in the window
    of ``filter[from]``/``filter[to]`` (clipped for installations): samples,
    or with ``bucket_size`` buckets. Asked for as CSV, a detail is its series."""

    extra_query_parameters = {"retrieve": SERIES_PARAMETERS}

    def retrieve(self, request, *args, **kwargs):
        instance = self.get_object()
        context = self.get_serializer_context()
        if self.csv_requested or include_timeseries_requested(request):
            query = series_query_or_400(request).clipped(lambda window: self.timeseries_window(instance, window))
            if self.csv_requested:
                return series_csv(self.timeseries_node_id(instance), query, self.timeseries_name(instance))
            context["timeseries"] = series_or_400(self.timeseries_node_id(instance), query)
        return Response(self.get_serializer(instance, context=context).data)


class NodeFilter(django_filters.FilterSet):
    organization = django_filters.NumberFilter(field_name="owner")

    class Meta:
        model = Node
        fields = ("organization", "protocol", "model")


@extend_schema_view(
    retrieve=extend_schema(**series_schema(serializers.NodeSerializer(), parameters=[INCLUDE_TIMESERIES]))
)
class NodeViewSet(IncludeTimeseries, ScopedViewSet):
    """Sensor nodes of an organization (members only). Ids are client-supplied UUIDs."""

    scope = staticmethod(scoping.nodes)
    parents = {
        "organization_pk": (scoping.organizations, "owner_id"),
        "installation_pk": (scoping.installations, "installations"),
    }
    member_only = True
    serializer_class = serializers.NodeSerializer
    pagination_class = InventoryPagination
    filterset_class = NodeFilter
    search_fields = ("alias", "eui64")
    ordering_fields = ("alias", "eui64")

    def prepare(self, queryset):
        queryset = annotate_latest_sample(queryset, "pk").annotate(
            sample_count=SampleCount(F("pk"), Value(EARLIEST), Value(LATEST))
        )
        return queryset.select_related("protocol", "model", "owner").prefetch_related(
            visible_prefetch("installations", scoping.installations, self.request.user)
        )

    def owning_organization_id(self, validated_data, instance=None):
        return (validated_data.get("owner") or instance.owner).pk

    def timeseries_window(self, node, window):
        return window

    def timeseries_node_id(self, node):
        return node.pk

    def timeseries_name(self, node) -> str:
        return safe_filename(node.alias or str(node.pk))


class ImageUploadSerializer(drf.Serializer):
    image = drf.ImageField()  # Pillow checks that it really is an image

    def validate_image(self, image):
        if image.size > settings.INSTALLATION_IMAGE_MAX_BYTES:
            raise drf.ValidationError(
                f"The image is larger than {settings.INSTALLATION_IMAGE_MAX_BYTES // 1_000_000} MB."
            )
        if getattr(image, "image", None) is None or image.image.format not in IMAGE_FORMATS:
            raise drf.ValidationError(f"The image must be one of {', '.join(sorted(IMAGE_FORMATS))}.")
        return image


class InstallationFilter(django_filters.FilterSet):
    room = django_filters.ModelChoiceFilter(queryset=_visible(scoping.rooms))
    node = django_filters.ModelChoiceFilter(queryset=_visible(scoping.nodes))
    site = django_filters.NumberFilter(field_name="room__site")
    organization = django_filters.NumberFilter(field_name="room__site__operator")

    class Meta:
        model = Installation
        fields = ("room", "node", "site", "organization", "is_public")


@extend_schema_view(
    retrieve=extend_schema(**series_schema(serializers.InstallationSerializer(), parameters=[INCLUDE_TIMESERIES]))
)
class InstallationViewSet(IncludeTimeseries, ScopedViewSet):
    """A node placed in a room for a time span; public installations are readable by everybody."""

    scope = staticmethod(scoping.installations)
    parents = {"room_pk": (scoping.rooms, "room_id"), "node_pk": (scoping.nodes, "node_id")}
    serializer_class = serializers.InstallationSerializer
    pagination_class = InventoryPagination
    filterset_class = InstallationFilter
    ordering_fields = ("from_timestamp_s", "to_timestamp_s")
    ordering_aliases = {"from_timestamp_s": "from_time", "to_timestamp_s": "to_time"}
    error_fields = {"from_time": "from_timestamp_s", "to_time": "to_timestamp_s"}

    def prepare(self, queryset):
        queryset = annotate_latest_sample(queryset, "node_id", since="from_time", until="to_time").annotate(
            sample_count=SampleCount(F("node_id"), F("from_time"), F("to_time"))
        )
        return queryset.select_related("room")

    def owning_organization_id(self, validated_data, instance=None):
        return (validated_data.get("room") or instance.room).site.operator_id

    def timeseries_window(self, installation, window):
        return window.clipped_to(installation)

    @action(detail=True, methods=["post"], url_path="image", parser_classes=[MultiPartParser])
    def image(self, request, pk=None):
        """Upload the installation's photo (multipart field ``image``)."""
        installation = self.get_object()  # 404 outside scope, 403 unless owner
        upload = ImageUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        installation_set_image(installation=installation, image=upload.validated_data["image"])
        return Response(self.get_serializer(self.get_queryset().get(pk=installation.pk)).data)

    def timeseries_node_id(self, installation):
        return installation.node_id

    def timeseries_name(self, installation) -> str:
        return f"installation-{installation.pk}"


class FidelityFilter(django_filters.FilterSet):
    organization = django_filters.NumberFilter(field_name="node__owner")
    node = django_filters.ModelChoiceFilter(queryset=_visible(scoping.nodes))

    class Meta:
        model = NodeFidelity
        fields = ("organization", "fidelity", "node")


@extend_schema_view(
    retrieve=extend_schema(parameters=[OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)])
)
class FidelityViewSet(ScopedViewSet):
    """Whether nodes still report (members only); a fidelity has its node's id."""

    scope = staticmethod(scoping.fidelity)
    member_only = True
    serializer_class = serializers.FidelitySerializer
    pagination_class = InventoryPagination
    filterset_class = FidelityFilter
    ordering_fields = ("fidelity", "last_contact_s")
    ordering_aliases = {"last_contact_s": "last_contact"}
    http_method_names = ["get", "head", "options"]

    def prepare(self, queryset):
        latest_check = FidelityCheck.objects.filter(id=1).values("checked_at")
        return (
            queryset.select_related("node")
            .annotate(last_check=Subquery(latest_check))
            .order_by("node__alias", "node_id")
        )


class FidelityEventFilter(django_filters.FilterSet):
    organization = django_filters.NumberFilter(field_name="node__owner")
    node = django_filters.ModelChoiceFilter(queryset=_visible(scoping.nodes))

    class Meta:
        model = FidelityEvent
        fields = ("organization", "node")


class FidelityEventViewSet(ScopedViewSet):
    """Changes of nodes' fidelity, newest first (members only)."""

    scope = staticmethod(scoping.fidelity_events)
    member_only = True
    serializer_class = serializers.FidelityEventSerializer
    pagination_class = InventoryPagination
    filterset_class = FidelityEventFilter
    ordering_fields = ("timestamp_s",)
    ordering_aliases = {"timestamp_s": "timestamp"}
    http_method_names = ["get", "head", "options"]

    def prepare(self, queryset):
        return queryset.select_related("node")
