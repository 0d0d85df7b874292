"""What requests may say: query parameters, sort terms, document shapes.

Kept apart from the views: the REST framework settings import it while the
views are still being imported.
"""

import re
from types import SimpleNamespace

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.filters import SearchFilter
from rest_framework_json_api.filters import OrderingFilter, QueryParameterValidationFilter
from rest_framework_json_api.parsers import JSONParser


class QueryParameterValidation(QueryParameterValidationFilter):
    """JSON:API's parameters, ``include_timeseries``, and those a view adds
    for some of its actions (``extra_query_parameters``: action -> names)."""

    query_regex = re.compile(
        r"^(sort|include|include_timeseries)$|^(?P<type>filter|fields|page)(\[[\w\.\-]+\])?$"
    )

    def filter_queryset(self, request, queryset, view):
        extra = getattr(view, "extra_query_parameters", {}).get(getattr(view, "action", None), ())
        if not extra:
            return super().filter_queryset(request, queryset, view)
        others = request.query_params.copy()
        for name in extra:
            if len(others.getlist(name)) > 1:
                raise parameter_error(name, f"repeated query parameter not allowed: {name}")
            others.pop(name, None)
        self.validate_query_params(SimpleNamespace(query_params=others))
        return queryset


def parameter_error(parameter: str, message: str) -> ValidationError:
    """A 400 whose error names the offending query parameter."""
    return ValidationError(
        [{"detail": message, "source": {"parameter": parameter}, "code": "invalid", "status": "400"}]
    )


WINDOW_PARAMETERS = [
    OpenApiParameter("filter[from]", OpenApiTypes.STR, description="Window start: Unix seconds or ISO-8601."),
    OpenApiParameter("filter[to]", OpenApiTypes.STR, description="Window end (inclusive): Unix seconds or ISO-8601."),
]
INCLUDE_TIMESERIES = OpenApiParameter(
    "include_timeseries",
    OpenApiTypes.BOOL,
    description="Embed the window's series as `timeseries`: samples, or buckets with `bucket_size`.",
)

# Implementation-specific parameters: JSON:API 1.1 wants a character outside
# a-z in their names. The values are core.timeseries.BUCKET_SIZES and
# DEFAULT_BUCKET_TZ (not imported: this module loads before the models).
BUCKET_SIZE, BUCKET_TZ, OUTPUT_FORMAT = "bucket_size", "bucket_tz", "output_format"
SERIES_PARAMETERS = (BUCKET_SIZE, BUCKET_TZ, OUTPUT_FORMAT)
SERIES_OPENAPI_PARAMETERS = [
    OpenApiParameter(
        BUCKET_SIZE,
        OpenApiTypes.STR,
        enum=["1m", "10m", "1h", "1d", "1w", "1mo"],
        description=(
            "Aggregate the series into buckets of 1 minute, 10 minutes, 1 hour, 1 day, 1 week (from Monday) "
            "or 1 month of local time in `bucket_tz`. The series then holds one object per non-empty bucket, "
            "in time order: `bucket_start_s`, `count`, `co2_ppm_mean`, `co2_ppm_min`, `co2_ppm_max`, "
            "`co2_ppm_median`, `co2_ppm_p90`, `temperature_celsius_mean`, `temperature_celsius_min`, "
            "`temperature_celsius_max` (strings with one decimal, like samples' temperatures), "
            "`rel_humidity_percent_mean`, `rel_humidity_percent_min`, `rel_humidity_percent_max`; means, "
            "medians and 90th percentiles are rounded to one decimal. Without it the series holds the raw "
            "samples; a window of more samples (or, aggregated, spanning more buckets) than the server's "
            "maximum answers 400 naming this parameter."
        ),
    ),
    OpenApiParameter(
        BUCKET_TZ,
        OpenApiTypes.STR,
        default="Europe/Berlin",
        description=(
            "IANA time zone the buckets follow (days start at local midnight and last 23 or 25 hours when "
            "the clocks change)."
        ),
    ),
    OpenApiParameter(
        OUTPUT_FORMAT,
        OpenApiTypes.STR,
        enum=["csv"],
        description=(
            "`csv`: answer `text/csv` as for `Accept: text/csv` (for links). CSV carries a header row; raw: "
            "`timestamp_s,time_utc,co2_ppm,temperature_celsius,rel_humidity_percent`, aggregated: the "
            "bucket fields with `bucket_start_s,bucket_start_utc` first. Times in `*_utc` are ISO-8601 "
            "with `Z`. CSV is streamed and not bounded by the maximum of points."
        ),
    ),
]


class ResourceParser(JSONParser):
    """DJA's parser, refusing documents of the wrong shape with a 400 instead
    of failing on them."""

    def parse_data(self, result, parser_context):
        data = result.get("data") if isinstance(result, dict) else None
        if isinstance(data, dict):
            for member in ("attributes", "relationships"):
                if data.get(member) is not None and not isinstance(data[member], dict):
                    raise ParseError(f"data.{member} must be an object.")
            for name, relationship in (data.get("relationships") or {}).items():
                if not isinstance(relationship, dict) or "data" not in relationship:
                    raise ParseError(f"Relationship {name!r} must be an object with a 'data' member.")
                linkage = relationship["data"]
                items = linkage if isinstance(linkage, list) else [linkage]
                if not all(item is None or isinstance(item, dict) for item in items):
                    raise ParseError(f"Relationship {name!r} must link resource identifier objects.")
        elif data is not None:
            raise ParseError("data must be a resource object.")
        return super().parse_data(result, parser_context)


class AliasedOrdering(OrderingFilter):
    """``sort`` by attribute names that differ from the model's field names
    (a view's ``ordering_aliases``: ``from_timestamp_s`` sorts by ``from_time``)."""

    def get_ordering(self, request, queryset, view):
        ordering = super().get_ordering(request, queryset, view)
        if not ordering:
            return ordering
        aliases = getattr(view, "ordering_aliases", {})
        ordering = [
            ("-" if term.startswith("-") else "") + aliases.get(term.lstrip("-"), term.lstrip("-"))
            for term in ordering
        ]
        # Rows equal in every requested term (events of one check share their
        # time) need a fixed order, or pages repeat and skip them.
        if not {"pk", "-pk"} & set(ordering):
            ordering.append("pk")
        return ordering


class Search(SearchFilter):
    """``filter[search]`` where a view names its ``search_fields``; elsewhere a
    400 like any other unknown filter (plain DRF would ignore it silently)."""

    def filter_queryset(self, request, queryset, view):
        if self.search_param in request.query_params and not getattr(view, "search_fields", None):
            raise parameter_error(self.search_param, f"invalid filter: {self.search_param}")
        return super().filter_queryset(request, queryset, view)

    def get_schema_operation_parameters(self, view):
        return super().get_schema_operation_parameters(view) if getattr(view, "search_fields", None) else []
