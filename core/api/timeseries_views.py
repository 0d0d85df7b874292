"""Time series of nodes (members only) and installations (public if the installation is).

``filter[from]``/``filter[to]`` choose the window (Unix seconds or ISO-8601);
installation series are clipped to the installation's span. Lists give each
series' figures; details add the samples.
"""

from django.db.models import DateTimeField, OuterRef, Value
from django.db.models.functions import Greatest, Least
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers as drf
from rest_framework.response import Response
from rest_framework_json_api import serializers

from core import scoping, timeseries
from core.api.base import ScopedViewSet
from core.api.params import WINDOW_PARAMETERS, QueryParameterValidation, parameter_error
from core.api.samples import count_samples, sample_document
from core.api.views import InventoryPagination
from core.models import Sample
from core.timestamps import to_unix


def window_or_400(request) -> timeseries.Window:
    try:
        return timeseries.window_from_query(request.query_params)
    except timeseries.WindowError as error:
        raise parameter_error(error.parameter, str(error)) from None


def samples_or_400(node_id, window) -> list[dict]:
    try:
        return [sample_document(*row) for row in timeseries.raw_samples(node_id, window)]
    except timeseries.WindowError as error:
        raise parameter_error(error.parameter, str(error)) from None


class _SeriesSerializer(serializers.Serializer):
    sample_count = drf.IntegerField()
    query_timestamp_s = drf.IntegerField()
    from_timestamp_s = drf.IntegerField()
    to_timestamp_s = drf.IntegerField()
    samples = drf.ListField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.context.get("with_samples"):
            self.fields.pop("samples")


class NodeTimeseriesSerializer(_SeriesSerializer):
    id = drf.UUIDField()
    node_alias = drf.CharField()

    class Meta:
        resource_name = "Node-Timeseries"


class InstallationTimeseriesSerializer(_SeriesSerializer):
    id = drf.IntegerField()
    node_id = drf.UUIDField()
    node_alias = drf.CharField()

    class Meta:
        resource_name = "Installation-Timeseries"


@extend_schema_view(
    list=extend_schema(parameters=WINDOW_PARAMETERS), retrieve=extend_schema(parameters=WINDOW_PARAMETERS)
)
class _TimeseriesViewSet(ScopedViewSet):
    """Series figures in lists, samples in details."""

    pagination_class = InventoryPagination
    filter_backends = [QueryParameterValidation]
    http_method_names = ["get", "head", "options"]

    def series(self, obj, window: timeseries.Window, sample_count: int, samples=None) -> dict:
        document = {
            "id": obj.pk,
            "sample_count": sample_count,
            "query_timestamp_s": to_unix(timezone.now()),
            "from_timestamp_s": to_unix(window.start),
            "to_timestamp_s": to_unix(window.end) - 1,
            **self.identify(obj),
        }
        if samples is not None:
            document["samples"] = samples
        return document

    def list(self, request, *args, **kwargs):
        window = window_or_400(request)
        page = self.paginate_queryset(self.annotate_counts(self.filter_queryset(self.get_queryset()), window))
        documents = [self.series(obj, self.window_of(obj, window), obj.window_sample_count) for obj in page]
        serializer = self.get_serializer(documents, many=True)
        return self.get_paginated_response(serializer.data)

    def retrieve(self, request, *args, **kwargs):
        obj = self.get_object()
        window = self.window_of(obj, window_or_400(request))
        samples = samples_or_400(self.node_id_of(obj), window)
        document = self.series(obj, window, len(samples), samples)
        serializer = self.get_serializer(document, context={**self.get_serializer_context(), "with_samples": True})
        return Response(serializer.data)


class NodeTimeseriesViewSet(_TimeseriesViewSet):
    """A node's samples in a window (members only)."""

    scope = staticmethod(scoping.nodes)
    member_only = True
    serializer_class = NodeTimeseriesSerializer
    lookup_url_kwarg = "pk"

    def get_object(self):
        self.kwargs.setdefault("pk", self.kwargs.get("node_pk"))
        return super().get_object()

    def get_queryset(self):
        return self.scope(self.request.user).order_by("alias", "pk")

    def identify(self, node) -> dict:
        return {"node_alias": node.alias}

    def node_id_of(self, node):
        return node.pk

    def window_of(self, node, window):
        return window

    def annotate_counts(self, nodes, window):
        counted = Sample.objects.filter(
            node_id=OuterRef("pk"), timestamp__gte=window.start, timestamp__lt=window.end
        )
        return nodes.annotate(window_sample_count=count_samples(counted))


class InstallationTimeseriesViewSet(_TimeseriesViewSet):
    """An installation's samples in a window, clipped to the installation's span."""

    scope = staticmethod(scoping.installations)
    serializer_class = InstallationTimeseriesSerializer

    def get_object(self):
        self.kwargs.setdefault("pk", self.kwargs.get("installation_pk"))
        return super().get_object()

    def get_queryset(self):
        return self.scope(self.request.user).select_related("node").order_by("-from_time", "pk")

    def identify(self, installation) -> dict:
        return {"node_id": installation.node_id, "node_alias": installation.node.alias}

    def node_id_of(self, installation):
        return installation.node_id

    def window_of(self, installation, window):
        return window.clipped_to(installation)

    def annotate_counts(self, installations, window):
        counted = Sample.objects.filter(
            node_id=OuterRef("node_id"),
            timestamp__gte=Greatest(OuterRef("from_time"), Value(window.start, DateTimeField())),
            timestamp__lt=Least(OuterRef("to_time"), Value(window.end, DateTimeField())),
        )
        return installations.annotate(window_sample_count=count_samples(counted))
