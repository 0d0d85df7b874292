"""Which query parameters the API knows; anything else is a 400.

Kept apart from the views: the REST framework settings import it while the
views are still being imported.
"""

import re

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework_json_api.filters import QueryParameterValidationFilter


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
