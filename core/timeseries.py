"""Reading windows of samples: what the time-series endpoints serve.

A window is [start, end) in aware datetimes. Installation series are clipped
to the installation's own span, so a node's samples from before or after it
hung in the room never show up there.
"""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Max, Min
from django.utils import timezone

from core.models import Installation, Sample
from core.timestamps import from_unix


class WindowError(ValueError):
    """A malformed or too large window; the message says which parameter."""

    def __init__(self, message: str, parameter: str):
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    def clipped_to(self, installation: Installation) -> "Window":
        return Window(max(self.start, installation.from_time), min(self.end, installation.to_time))

    @property
    def is_empty(self) -> bool:
        return self.start >= self.end


def parse_time(raw: str | None, parameter: str) -> datetime | None:
    """Unix seconds, or ISO-8601 with a time zone."""
    if raw is None or raw.strip() == "":
        return None
    raw = raw.strip()
    try:
        return from_unix(int(raw))
    except (ValueError, OverflowError, OSError):
        pass
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise WindowError(f"{parameter} must be Unix seconds or an ISO-8601 time, not {raw!r}.", parameter) from None
    if timezone.is_naive(moment):
        raise WindowError(f"{parameter} needs a time zone (e.g. 'Z' or '+01:00').", parameter)
    return moment


def window_from_query(params, *, now: datetime | None = None) -> Window:
    """``filter[from]``/``filter[to]``; by default everything up to now."""
    now = now or timezone.now()
    start = parse_time(params.get("filter[from]"), "filter[from]") or from_unix(0)
    end = parse_time(params.get("filter[to]"), "filter[to]") or now
    if start > end:
        raise WindowError("filter[from] must not be after filter[to].", "filter[from]")
    # The API's times are inclusive seconds; the window is half-open.
    return Window(start, end.replace(microsecond=0) + _ONE_SECOND)


def _samples(node_id, window: Window):
    return Sample.objects.filter(node_id=node_id, timestamp__gte=window.start, timestamp__lt=window.end)


def summary(node_id, window: Window) -> dict:
    """Count and time span of the samples in a window (one indexed query)."""
    if window.is_empty:
        return {"sample_count": 0, "first": None, "last": None}
    figures = _samples(node_id, window).aggregate(
        sample_count=Count("pk"), first=Min("timestamp"), last=Max("timestamp")
    )
    return figures


SAMPLE_COLUMNS = ("id", "timestamp", "co2_ppm", "temperature_celsius", "rel_humidity_percent", "measurement_status")


def raw_samples(node_id, window: Window) -> list[tuple]:
    """The window's samples (``SAMPLE_COLUMNS``) in time order, at most
    TIMESERIES_MAX_POINTS of them."""
    if window.is_empty:
        return []
    limit = settings.TIMESERIES_MAX_POINTS
    rows = list(_samples(node_id, window).order_by("timestamp").values_list(*SAMPLE_COLUMNS)[: limit + 1])
    if len(rows) > limit:
        raise WindowError(
            f"The window holds more than {limit} samples; narrow filter[from]/filter[to] "
            "or ask for aggregated buckets with bucket_size.",
            "bucket_size",
        )
    return rows


_ONE_SECOND = from_unix(1) - from_unix(0)
