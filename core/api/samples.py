"""Samples as the API embeds them: plain objects, not resources."""

from django.db.models import Subquery

from core.timeseries import SAMPLE_COLUMNS
from core.timestamps import to_unix


def sample_document(
    id, timestamp, co2_ppm, temperature_celsius, rel_humidity_percent, measurement_status
) -> dict:
    return {
        "id": id,
        "timestamp_s": to_unix(timestamp),
        "co2_ppm": co2_ppm,
        # Upstream served a decimal with one place, as a string.
        "temperature_celsius": None if temperature_celsius is None else f"{temperature_celsius:.1f}",
        "rel_humidity_percent": rel_humidity_percent,
        "measurement_status": measurement_status,
    }


def annotate_latest_sample(queryset, samples):
    """Annotate each row with its newest sample's columns (``latest_<column>``).

    ``samples`` filters ``Sample`` by ``OuterRef`` to the row; each column is
    one index lookup on (node, timestamp), all in the list's single query.
    """
    newest = samples.order_by("-timestamp")
    return queryset.annotate(
        **{f"latest_{column}": Subquery(newest.values(column)[:1]) for column in SAMPLE_COLUMNS}
    )


def latest_sample_document(row) -> dict | None:
    if getattr(row, "latest_id", None) is None:
        return None
    return sample_document(*(getattr(row, f"latest_{column}") for column in SAMPLE_COLUMNS))


def include_timeseries_requested(request) -> bool:
    # como-ui sends include_timeseries=1; accept the usual spellings of true.
    return request.query_params.get("include_timeseries", "").lower() in {"1", "true", "yes"}
