"""CSV exports of time series: content negotiation and the streamed answer.

A series route (``CSVExport`` views) answers ``Accept: text/csv``, or
``output_format=csv`` for links in browsers, with ``text/csv`` streamed row by
row from a server-side cursor, so a year of samples passes through the worker
a few thousand rows at a time. Other routes do not offer ``text/csv`` at all:
there an ``Accept: text/csv`` gets the 406 it always got. Errors stay JSON:API
documents whatever was asked for.
"""

import csv
import io
import time
from collections.abc import Iterable, Iterator

from django.http import StreamingHttpResponse
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework_json_api.renderers import JSONRenderer

from core.api.params import OUTPUT_FORMAT, parameter_error

RAW_HEADER = ("timestamp_s", "time_utc", "co2_ppm", "temperature_celsius", "rel_humidity_percent")
BUCKET_HEADER = (
    "bucket_start_s", "bucket_start_utc", "count",
    "co2_ppm_mean", "co2_ppm_min", "co2_ppm_max", "co2_ppm_median", "co2_ppm_p90",
    "temperature_celsius_mean", "temperature_celsius_min", "temperature_celsius_max",
    "rel_humidity_percent_mean", "rel_humidity_percent_min", "rel_humidity_percent_max",
)  # fmt: skip


class CSVRenderer(BaseRenderer):
    """Makes ``text/csv`` negotiable; the views stream the body themselves."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        raise NotImplementedError("CSV answers are streamed by the view (see stream_csv).")


class SeriesNegotiation(DefaultContentNegotiation):
    """``output_format=csv`` chooses CSV whatever the Accept header says."""

    def select_renderer(self, request, renderers, format_suffix=None):
        requested = request.query_params.get(OUTPUT_FORMAT)
        if requested is None:
            return super().select_renderer(request, renderers, format_suffix)
        if requested != "csv":
            raise parameter_error(OUTPUT_FORMAT, f"{OUTPUT_FORMAT} must be 'csv', not {requested!r}.")
        for renderer in renderers:
            if renderer.format == "csv":
                return renderer, renderer.media_type
        raise NotAcceptable("CSV is served for one series at a time: ask for it by id.")


class CSVExport:
    """A view mixin offering ``text/csv`` on the actions in ``csv_actions``;
    the action checks ``csv_requested`` and returns ``stream_csv(...)``."""

    content_negotiation_class = SeriesNegotiation
    csv_actions = ("retrieve",)

    def get_renderers(self):
        renderers = super().get_renderers()
        method = getattr(getattr(self, "request", None), "method", None)
        if getattr(self, "action", None) in self.csv_actions and method in ("GET", "HEAD"):
            renderers.append(CSVRenderer())
        return renderers

    @property
    def csv_requested(self) -> bool:
        renderer = getattr(self.request, "accepted_renderer", None)
        return renderer is not None and renderer.format == "csv"

    def handle_exception(self, exc):
        # A client that asked for CSV still gets an error it can read.
        if self.csv_requested:
            self.request.accepted_renderer = JSONRenderer()
            self.request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)


def stream_csv(header: tuple[str, ...], rows: Iterable[tuple], filename: str) -> StreamingHttpResponse:
    """A ``text/csv`` attachment of a header line and ``rows``, encoded a few
    thousand rows at a time as the client reads; ``rows`` is consumed only
    then, so the database cursor behind it is read lazily too."""
    response = StreamingHttpResponse(_chunks(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _chunks(header, rows: Iterable[tuple], rows_per_chunk: int = 2000) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == rows_per_chunk:
            writer.writerows(batch)
            batch.clear()
            yield _drain(buffer)
    writer.writerows(batch)
    yield _drain(buffer)


def _drain(buffer: io.StringIO) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text.encode()


def utc_iso(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def celsius(value: float | None) -> str | None:
    # Upstream served temperatures as decimals with one place, as strings.
    return None if value is None else f"{value:.1f}"


def raw_csv_rows(rows: Iterable[tuple]) -> Iterator[tuple]:
    """``core.timeseries.RAW_COLUMNS`` rows as ``RAW_HEADER`` columns."""
    for _id, seconds, co2, temperature, humidity, _status in rows:
        yield seconds, utc_iso(seconds), co2, celsius(temperature), humidity


def bucket_csv_rows(rows: Iterable[tuple]) -> Iterator[tuple]:
    """``core.timeseries.BUCKET_COLUMNS`` rows as ``BUCKET_HEADER`` columns."""
    for seconds, count, co2_mean, co2_min, co2_max, co2_median, co2_p90, t_mean, t_min, t_max, *humidity in rows:
        yield (
            seconds, utc_iso(seconds), count, co2_mean, co2_min, co2_max, co2_median, co2_p90,
            celsius(t_mean), celsius(t_min), celsius(t_max), *humidity,
        )  # fmt: skip
