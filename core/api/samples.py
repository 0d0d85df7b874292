"""Samples as the API embeds them: plain objects, not resources."""

from django.db import connections
from django.db.models import F, Func, JSONField, OuterRef, Subquery, Value
from django.db.models.functions import JSONArray

from core.hourly import EARLIEST, LATEST
from core.models import Sample
from core.timeseries import SAMPLE_COLUMNS, UnixSeconds
from core.timestamps import to_unix


def sample_document(id, timestamp, co2_ppm, temperature_celsius, rel_humidity_percent, measurement_status) -> dict:
    return _document(id, to_unix(timestamp), co2_ppm, temperature_celsius, rel_humidity_percent, measurement_status)


def _document(id, seconds, co2_ppm, temperature_celsius, rel_humidity_percent, measurement_status) -> dict:
    return {
        "id": id,
        "timestamp_s": seconds,
        "co2_ppm": co2_ppm,
        # Upstream served a decimal with one place, as a string.
        "temperature_celsius": None if temperature_celsius is None else f"{temperature_celsius:.1f}",
        "rel_humidity_percent": rel_humidity_percent,
        "measurement_status": measurement_status,
    }


def annotate_latest_sample(queryset, node: str, since: str | None = None, until: str | None = None):
    """Annotate each row with its newest sample (``latest_sample``, a JSON
    array: id, Unix seconds, CO2, temperature, humidity, status): of the node
    in the row's field ``node``, within its fields ``since`` and ``until``
    when given.

    On PostgreSQL the function ``core_latest_sample`` (migration 0009) finds
    it without searching every month of the partitioned samples table, with
    statements planned once per connection; elsewhere a subquery."""
    if connections[queryset.db].vendor == "postgresql":
        window = (F(since), F(until)) if since else (Value(EARLIEST), Value(LATEST))
        latest = Func(F(node), *window, function="core_latest_sample", output_field=JSONField())
        return queryset.annotate(latest_sample=latest)
    samples = Sample.objects.filter(node_id=OuterRef(node))
    if since:
        samples = samples.filter(timestamp__gte=OuterRef(since), timestamp__lt=OuterRef(until))
    columns = JSONArray("id", UnixSeconds("timestamp"), *SAMPLE_COLUMNS[2:])
    newest = samples.order_by("-timestamp").values(sample=columns)[:1]
    return queryset.annotate(latest_sample=Subquery(newest, output_field=JSONField()))


def latest_sample_document(row) -> dict | None:
    values = getattr(row, "latest_sample", None)
    return None if values is None else _document(*values)


def include_timeseries_requested(request) -> bool:
    # como-ui sends include_timeseries=1; accept the usual spellings of true.
    return request.query_params.get("include_timeseries", "").lower() in {"1", "true", "yes"}
