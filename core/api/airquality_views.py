"""A room's air quality in a month (``rooms/{id}/airquality/[yyyy-mm/]``).

Whoever may see the room may ask; the figures come from the installations
the caller may see (``core.airquality``). Without a month, the current local
month is meant.
"""

import re

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers as drf
from rest_framework.response import Response
from rest_framework_json_api import serializers

from core import airquality, scoping
from core.api.base import ScopedViewSet
from core.api.params import QueryParameterValidation, parameter_error
from core.timestamps import to_unix

INCLUDE_HISTOGRAM = OpenApiParameter(
    "include_histogram",
    OpenApiTypes.BOOL,
    description="Add `airq_hist`: the mean CO2 per weekday (`Mo`…`Su`) and local hour (24 values, null without data).",
)
MONTH = OpenApiParameter(
    "month", OpenApiTypes.STR, OpenApiParameter.PATH, description="The local calendar month, `yyyy-mm`."
)

# como-ui sends include_histogram=True; any case of the usual spellings.
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"", "0", "false", "no", "off"}


class AirQualityParameters(QueryParameterValidation):
    query_regex = re.compile(r"^(include_histogram)$|^(?P<type>fields)(\[[\w\.\-]+\])?$")


class AirQualityDaySerializer(drf.Serializer):
    date = drf.DateField()
    sample_count = drf.IntegerField()
    covered_minutes = drf.IntegerField(help_text="Minutes the day's readings stand for.")
    minutes_above_1000 = drf.IntegerField()
    minutes_above_1400 = drf.IntegerField()
    minutes_above_2000 = drf.IntegerField()
    co2_ppm_max = drf.IntegerField()
    co2_ppm_mean = drf.FloatField(help_text="Weighted by time.")
    enough_data = drf.BooleanField(
        help_text=f"Readings cover at least {airquality.ENOUGH_DATA_SHARE:.0%} of the local day; "
        "only such days count for the clean-air medal."
    )


class RoomAirQualitySerializer(serializers.Serializer):
    id = drf.IntegerField(help_text="The room's id.")
    analysis_month = drf.CharField()
    query_timestamp_s = drf.IntegerField()
    from_timestamp_s = drf.IntegerField()
    to_timestamp_s = drf.IntegerField()
    clean_air_medal = drf.BooleanField(allow_null=True, help_text="Null when there are too few days with enough data.")
    days = AirQualityDaySerializer(many=True, help_text="Local days with data, in order.")
    airq_hist = drf.DictField(child=drf.ListField(child=drf.FloatField(allow_null=True)), required=False)

    class Meta:
        resource_name = "room-airquality"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Only when told: the schema's serializer has no context and shows it.
        if self.context.get("with_histogram") is False:
            self.fields.pop("airq_hist")


def _minutes(seconds: float) -> int:
    return round(seconds / 60)


def day_document(day: airquality.DayFigures) -> dict:
    return {
        "date": day.date,
        "sample_count": day.sample_count,
        "covered_minutes": _minutes(day.covered_s),
        "minutes_above_1000": _minutes(day.above_clean_s),
        "minutes_above_1400": _minutes(day.above_moderate_s),
        "minutes_above_2000": _minutes(day.above_bad_s),
        "co2_ppm_max": day.co2_ppm_max,
        "co2_ppm_mean": round(day.co2_ppm_mean, 1),
        "enough_data": day.enough_data,
    }


def air_quality_document(room_id, quality: airquality.AirQuality) -> dict:
    document = {
        "id": room_id,
        "analysis_month": quality.month.label,
        "query_timestamp_s": to_unix(timezone.now()),
        "from_timestamp_s": to_unix(quality.start),
        # The API's times are inclusive seconds; the month is half-open.
        "to_timestamp_s": to_unix(quality.end) - 1,
        "clean_air_medal": quality.clean_air_medal,
        "days": [day_document(day) for day in quality.days],
    }
    if quality.histogram is not None:
        document["airq_hist"] = {
            weekday: [None if mean is None else round(mean, 1) for mean in means]
            for weekday, means in quality.histogram.items()
        }
    return document


class RoomAirQualityViewSet(ScopedViewSet):
    """The current local month's air quality of a room."""

    scope = staticmethod(scoping.rooms)
    serializer_class = RoomAirQualitySerializer
    lookup_url_kwarg = "room_pk"
    http_method_names = ["get", "head", "options"]

    def filter_queryset(self, queryset):
        AirQualityParameters().filter_queryset(self.request, queryset, self)
        return queryset

    def month(self) -> airquality.Month:
        return airquality.month_of(timezone.now(), airquality.local_zone())

    def with_histogram(self) -> bool:
        value = self.request.query_params.get("include_histogram", "").strip().lower()
        if value not in _TRUE | _FALSE:
            raise parameter_error("include_histogram", "include_histogram must be true or false.")
        return value in _TRUE

    @extend_schema(operation_id="rooms_airquality_current", parameters=[INCLUDE_HISTOGRAM])
    def retrieve(self, request, *args, **kwargs):
        room = self.get_object()
        month, with_histogram = self.month(), self.with_histogram()
        quality = airquality.room_air_quality(room, month, user=request.user, with_histogram=with_histogram)
        context = {**self.get_serializer_context(), "with_histogram": with_histogram}
        return Response(self.get_serializer(air_quality_document(room.pk, quality), context=context).data)


class RoomMonthAirQualityViewSet(RoomAirQualityViewSet):
    """A room's air quality in a given local month."""

    def month(self) -> airquality.Month:
        try:
            return airquality.parse_month(self.kwargs["month"])
        except airquality.MonthError as error:
            raise parameter_error(error.parameter, str(error)) from None

    @extend_schema(operation_id="rooms_airquality_month", parameters=[MONTH, INCLUDE_HISTOGRAM])
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)
