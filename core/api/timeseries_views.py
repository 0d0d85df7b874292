"""Time series of nodes (members only) and installations (public if the installation is).

``filter[from]``/``filter[to]`` choose the window (Unix seconds or ISO-8601);
installation series are clipped to the installation's span. Lists give each
series' figures; details add the series: raw samples, or with ``bucket_size``
(and ``bucket_tz``) aggregated buckets. ``Accept: text/csv`` or
``output_format=csv`` on a detail streams the same series as CSV.
"""

from dataclasses import dataclass, replace
from datetime import UTC, timedelta

from django.db.models import DateTimeField, F, Value
from django.db.models.functions import Greatest, Least
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers as drf
from rest_framework.response import Response
from rest_framework_json_api import serializers

from core import scoping, timeseries
from core.api.base import ScopedViewSet
from core.api.params import (
    SERIES_OPENAPI_PARAMETERS,
    SERIES_PARAMETERS,
    WINDOW_PARAMETERS,
    QueryParameterValidation,
    parameter_error,
)
from core.api.renderers import (
    BUCKET_HEADER,
    RAW_HEADER,
    CSVExport,
    bucket_csv_rows,
    celsius,
    raw_csv_rows,
    stream_csv,
)
from core.api.views import InventoryPagination
from core.hourly import SampleCount
from core.timestamps import to_unix


@dataclass(frozen=True)
class SeriesQuery:
    """What a request asks of a series: its window and, if aggregated, the buckets."""

    window: timeseries.Window
    bucketing: timeseries.Bucketing | None

    def clipped(self, clip) -> "SeriesQuery":
        return replace(self, window=clip(self.window))


def series_query_or_400(request) -> SeriesQuery:
    try:
        return SeriesQuery(
            timeseries.window_from_query(request.query_params), timeseries.bucketing_from_query(request.query_params)
        )
    except timeseries.WindowError as error:
        raise parameter_error(error.parameter, str(error)) from None


def window_or_400(request) -> timeseries.Window:
    try:
        return timeseries.window_from_query(request.query_params)
    except timeseries.WindowError as error:
        raise parameter_error(error.parameter, str(error)) from None


def series_or_400(node_id, query: SeriesQuery) -> list[dict]:
    """The series as the JSON documents embed it: sample or bucket objects."""
    try:
        if query.bucketing is None:
            return sample_documents(timeseries.raw_samples(node_id, query.window))
        return bucket_documents(timeseries.bucket_rows(node_id, query.window, query.bucketing))
    except timeseries.WindowError as error:
        raise parameter_error(error.parameter, str(error)) from None


def series_csv(node_id, query: SeriesQuery, name: str):
    """The series as a streamed CSV attachment named after ``name`` and the
    window. Not bounded by TIMESERIES_MAX_POINTS: exporting more than a JSON
    answer may hold is what it is for, and streaming keeps memory flat."""
    window = query.window
    filename = f"{name}_{_compact(window.start)}_{_compact(window.end - _ONE_SECOND)}"
    if query.bucketing is None:
        rows = raw_csv_rows(timeseries.iter_raw_samples(node_id, window))
        return stream_csv(RAW_HEADER, rows, f"{filename}.csv")
    rows = bucket_csv_rows(timeseries.iter_bucket_rows(node_id, window, query.bucketing))
    return stream_csv(BUCKET_HEADER, rows, f"{filename}_{query.bucketing.size}.csv")


def sample_documents(rows: list[tuple]) -> list[dict]:
    """``core.timeseries.RAW_COLUMNS`` rows as ``core.api.samples.sample_document``
    makes them, in one comprehension: 30 days are 43,200 of them."""
    return [
        {
            "id": id_,
            "timestamp_s": seconds,
            "co2_ppm": co2,
            "temperature_celsius": None if temperature is None else f"{temperature:.1f}",
            "rel_humidity_percent": humidity,
            "measurement_status": status,
        }
        for id_, seconds, co2, temperature, humidity, status in rows
    ]


def bucket_documents(rows: list[tuple]) -> list[dict]:
    # Positional, in one pass: a year by hours is 8,760 of these.
    return [
        {
            "bucket_start_s": start_s, "count": count,
            "co2_ppm_mean": co2_mean, "co2_ppm_min": co2_min, "co2_ppm_max": co2_max,
            "co2_ppm_median": co2_median, "co2_ppm_p90": co2_p90,
            "temperature_celsius_mean": celsius(t_mean), "temperature_celsius_min": celsius(t_min),
            "temperature_celsius_max": celsius(t_max),
            "rel_humidity_percent_mean": h_mean, "rel_humidity_percent_min": h_min, "rel_humidity_percent_max": h_max,
        }
        for start_s, count, co2_mean, co2_min, co2_max, co2_median, co2_p90, t_mean, t_min, t_max, h_mean, h_min, h_max
        in rows
    ]  # fmt: skip


def sample_count(series: list[dict], query: SeriesQuery) -> int:
    return len(series) if query.bucketing is None else sum(bucket["count"] for bucket in series)


def _compact(moment) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def safe_filename(text: str) -> str:
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in text) or "series"


_ONE_SECOND = timedelta(seconds=1)


class _SeriesSerializer(serializers.Serializer):
    sample_count = drf.IntegerField()
    query_timestamp_s = drf.IntegerField()
    from_timestamp_s = drf.IntegerField()
    to_timestamp_s = drf.IntegerField()
    samples = drf.ListField(
        required=False, help_text="The window's samples in time order, or with `bucket_size` its non-empty buckets."
    )

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


def series_schema(serializer, *, parameters=()) -> dict:
    """``extend_schema`` arguments of a detail that serves a series: the
    series parameters, and CSV as a plain text body, not the JSON document.
    ``serializer`` is an instance: the JSON:API schema names its response
    after the instance's class."""
    return {
        "parameters": [*parameters, *WINDOW_PARAMETERS, *SERIES_OPENAPI_PARAMETERS],
        "responses": {200: serializer, (200, "text/csv"): OpenApiTypes.STR},
    }


class _TimeseriesViewSet(CSVExport, ScopedViewSet):
    """Series figures in lists, samples or buckets in details."""

    pagination_class = InventoryPagination
    filter_backends = [QueryParameterValidation]
    http_method_names = ["get", "head", "options"]
    extra_query_parameters = {"retrieve": SERIES_PARAMETERS}

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
        query = series_query_or_400(request).clipped(lambda window: self.window_of(obj, window))
        if self.csv_requested:
            return series_csv(self.node_id_of(obj), query, self.csv_name(obj))
        samples = series_or_400(self.node_id_of(obj), query)
        document = self.series(obj, query.window, sample_count(samples, query), samples)
        serializer = self.get_serializer(document, context={**self.get_serializer_context(), "with_samples": True})
        return Response(serializer.data)


@extend_schema_view(
    list=extend_schema(parameters=WINDOW_PARAMETERS),
    retrieve=extend_schema(**series_schema(NodeTimeseriesSerializer())),
)
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

    def csv_name(self, node) -> str:
        return safe_filename(node.alias or str(node.pk))

    def annotate_counts(self, nodes, window):
        return nodes.annotate(
            window_sample_count=SampleCount(F("pk"), Value(window.start), Value(window.end))
        )


@extend_schema_view(
    list=extend_schema(parameters=WINDOW_PARAMETERS),
    retrieve=extend_schema(**series_schema(InstallationTimeseriesSerializer())),
)
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

    def csv_name(self, installation) -> str:
        return f"installation-{installation.pk}"

    def annotate_counts(self, installations, window):
        return installations.annotate(
            window_sample_count=SampleCount(
                F("node_id"),
                Greatest(F("from_time"), Value(window.start, DateTimeField())),
                Least(F("to_time"), Value(window.end, DateTimeField())),
            )
        )
