"""What requests may say: query parameters, sort terms, document shapes.

Kept apart from the views: the REST framework settings import it while the
views are still being imported.
"""

import re

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework_json_api.filters import OrderingFilter, QueryParameterValidationFilter
from rest_framework_json_api.parsers import JSONParser


class QueryParameterValidation(QueryParameterValidationFilter):
    query_regex = re.compile(
        r"^(sort|include|include_timeseries)$|^(?P<type>filter|fields|page)(\[[\w\.\-]+\])?$"
    )


def parameter_error(parameter: str, message: str) -> ValidationError:
    """A 400 whose error names the offending query parameter."""
    return ValidationError([{"detail": message, "source": {"parameter": parameter}, "code": "invalid", "status": "400"}])


WINDOW_PARAMETERS = [
    OpenApiParameter("filter[from]", OpenApiTypes.STR, description="Window start: Unix seconds or ISO-8601."),
    OpenApiParameter("filter[to]", OpenApiTypes.STR, description="Window end (inclusive): Unix seconds or ISO-8601."),
]
INCLUDE_TIMESERIES = OpenApiParameter(
    "include_timeseries", OpenApiTypes.BOOL, description="Embed the samples of the window as `timeseries`."
)


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
        aliases = getattr(view, "ordering_aliases", {})
        if not ordering or not aliases:
            return ordering
        return [
            ("-" if term.startswith("-") else "") + aliases.get(term.lstrip("-"), term.lstrip("-"))
            for term in ordering
        ]
