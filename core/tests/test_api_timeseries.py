"""Time series over HTTP: raw and aggregated series on every series route,
CSV exports, and who may read them."""

import csv
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.http import StreamingHttpResponse
from rest_framework.test import APIClient

from core.api.samples import sample_document
from core.models import Installation, Sample

BERLIN = ZoneInfo("Europe/Berlin")
MARCH_5 = datetime(2024, 3, 5, 10, 0, tzinfo=UTC)
BUCKET_FIELDS = {
    "bucket_start_s", "count",
    "co2_ppm_mean", "co2_ppm_min", "co2_ppm_max", "co2_ppm_median", "co2_ppm_p90",
    "temperature_celsius_mean", "temperature_celsius_min", "temperature_celsius_max",
    "rel_humidity_percent_mean", "rel_humidity_percent_min", "rel_humidity_percent_max",
}  # fmt: skip
RAW_HEADER = ["timestamp_s", "time_utc", "co2_ppm", "temperature_celsius", "rel_humidity_percent"]


def client_for(user=None) -> APIClient:
    client = APIClient(raise_request_exception=False)
    if user is not None:
        client.force_authenticate(user)
    return client


def s(moment: datetime) -> int:
    return int(moment.timestamp())


def seed_minutes(node, start: datetime, count: int, co2=lambda i: 500 + 10 * i) -> None:
    Sample.objects.bulk_create(
        Sample(
            node=node,
            timestamp=start + timedelta(minutes=i),
            co2_ppm=co2(i),
            temperature_celsius=20 + i % 3 / 2,
            rel_humidity_percent=40.5,
        )
        for i in range(count)
    )


def attributes(response) -> dict:
    assert response.status_code == 200, response.content
    return response.json()["data"]["attributes"]


def error_parameter(response) -> str:
    assert response.status_code == 400, response.content
    (error,) = response.json()["errors"]
    return error["source"]["parameter"]


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8"))))


@pytest.fixture
def public(installation):
    Installation.objects.filter(pk=installation.pk).update(is_public=True)
    installation.refresh_from_db()
    return installation


@pytest.fixture
def march(installation):
    """An hour of samples, one a minute, from 10:00 UTC on 5 March 2024."""
    seed_minutes(installation.node, MARCH_5, 60)
    return installation


ROUTES = [
    "installation series", "installation-timeseries", "node series", "node-timeseries",
    "installation detail", "node detail",
]  # fmt: skip


def fetch(user, installation, route: str, parameters: dict | None = None, **headers):
    """GET one of the routes that serve the installation's or its node's series."""
    node = installation.node_id
    path, base = {
        "installation series": (f"/api/v1/installations/{installation.pk}/timeseries/", {}),
        "installation-timeseries": (f"/api/v1/installation-timeseries/{installation.pk}/", {}),
        "node series": (f"/api/v1/nodes/{node}/timeseries/", {}),
        "node-timeseries": (f"/api/v1/node-timeseries/{node}/", {}),
        "installation detail": (f"/api/v1/installations/{installation.pk}/", {"include_timeseries": "1"}),
        "node detail": (f"/api/v1/nodes/{node}/", {"include_timeseries": "1"}),
    }[route]
    return client_for(user).get(path, {**base, **(parameters or {})}, **headers)


def series_of(response) -> list[dict]:
    data = attributes(response)
    return data["samples"] if "samples" in data else data["timeseries"]


# --- Raw and aggregated series ------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
def test_every_series_route_serves_raw_samples(march, owner, route):
    response = fetch(owner, march, route, {"filter[from]": s(MARCH_5), "filter[to]": s(MARCH_5) + 119})
    samples = series_of(response)
    assert [sample["timestamp_s"] for sample in samples] == [s(MARCH_5), s(MARCH_5) + 60]
    first = Sample.objects.get(node=march.node, timestamp=MARCH_5)
    assert samples[0] == sample_document(
        first.pk, first.timestamp, 500, first.temperature_celsius, 40.5, first.measurement_status
    )
    assert samples[0]["temperature_celsius"] == "20.0"


@pytest.mark.parametrize("route", ROUTES)
def test_every_series_route_serves_buckets_with_bucket_size(march, owner, route):
    response = fetch(owner, march, route, {"bucket_size": "10m"})
    buckets = series_of(response)
    assert [bucket["count"] for bucket in buckets] == [10] * 6
    first = buckets[0]
    assert set(first) == BUCKET_FIELDS
    assert first["bucket_start_s"] == s(MARCH_5)
    assert (first["co2_ppm_min"], first["co2_ppm_max"], first["co2_ppm_mean"]) == (500, 590, 545.0)
    assert (first["co2_ppm_median"], first["co2_ppm_p90"]) == (545.0, 581.0)
    # Temperatures stay decimal strings, as in samples.
    assert (first["temperature_celsius_min"], first["temperature_celsius_max"]) == ("20.0", "21.0")
    assert first["temperature_celsius_mean"] == "20.4"  # 20.45 is a little less as a float
    assert first["rel_humidity_percent_mean"] == first["rel_humidity_percent_max"] == 40.5


def test_an_aggregated_series_counts_its_samples(march, owner):
    response = client_for(owner).get(f"/api/v1/installation-timeseries/{march.pk}/", {"bucket_size": "1h"})
    data = attributes(response)
    assert data["sample_count"] == 60
    assert [bucket["count"] for bucket in data["samples"]] == [60]


def test_buckets_follow_the_requested_time_zone(march, owner):
    url = f"/api/v1/installation-timeseries/{march.pk}/"
    berlin = series_of(client_for(owner).get(url, {"bucket_size": "1d"}))
    tokyo = series_of(client_for(owner).get(url, {"bucket_size": "1d", "bucket_tz": "Asia/Tokyo"}))
    assert berlin[0]["bucket_start_s"] == s(datetime(2024, 3, 5, tzinfo=BERLIN))
    assert tokyo[0]["bucket_start_s"] == s(datetime(2024, 3, 5, tzinfo=ZoneInfo("Asia/Tokyo")))


def test_installation_series_are_clipped_to_the_installation_also_when_aggregated(installation, owner):
    # The node hung in another room until 10:30, then here.
    Installation.objects.filter(pk=installation.pk).update(from_time=MARCH_5 + timedelta(minutes=30))
    seed_minutes(installation.node, MARCH_5, 60)
    here = client_for(owner).get(f"/api/v1/installation-timeseries/{installation.pk}/", {"bucket_size": "1h"})
    node = client_for(owner).get(f"/api/v1/node-timeseries/{installation.node_id}/", {"bucket_size": "1h"})
    assert [(b["bucket_start_s"], b["count"], b["co2_ppm_min"]) for b in series_of(here)] == [(s(MARCH_5), 30, 800)]
    assert [b["count"] for b in series_of(node)] == [60]
    assert attributes(here)["from_timestamp_s"] == s(MARCH_5) + 1800


def test_include_timeseries_with_bucket_size_on_an_installation(march, owner):
    url = f"/api/v1/installations/{march.pk}"  # como-ui leaves out the slash
    data = attributes(client_for(owner).get(url, {"include_timeseries": "1", "bucket_size": "1h"}))
    assert [bucket["count"] for bucket in data["timeseries"]] == [60]
    assert data["sample_count"] == 60


def test_without_include_timeseries_a_detail_has_no_series(march, owner):
    data = attributes(client_for(owner).get(f"/api/v1/installations/{march.pk}/", {"bucket_size": "1h"}))
    assert "timeseries" not in data


# --- Refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    ("parameters", "named"),
    [
        ({"bucket_size": "2h"}, "bucket_size"),
        ({"bucket_size": "1h", "bucket_tz": "Europe/Atlantis"}, "bucket_tz"),
        ({"bucket_size": "1h", "filter[from]": "yesterday"}, "filter[from]"),
        ({"output_format": "xlsx"}, "output_format"),
    ],
)
def test_invalid_series_parameters_are_a_400_naming_them(march, owner, route, parameters, named):
    assert error_parameter(fetch(owner, march, route, parameters)) == named


def test_a_repeated_bucket_size_is_a_400(march, owner):
    url = f"/api/v1/installation-timeseries/{march.pk}/?bucket_size=1h&bucket_size=1d"
    assert error_parameter(client_for(owner).get(url)) == "bucket_size"


@pytest.mark.parametrize(
    "url", ["/api/v1/installation-timeseries/", "/api/v1/node-timeseries/", "/api/v1/installations/", "/api/v1/sites/"]
)
def test_lists_and_other_resources_know_no_bucket_size(march, owner, url):
    response = client_for(owner).get(url, {"bucket_size": "1h"})
    assert response.status_code == 400
    assert "bucket_size" in response.json()["errors"][0]["detail"]


def test_too_many_raw_samples_are_a_400_naming_bucket_size(march, owner, settings):
    settings.TIMESERIES_MAX_POINTS = 59
    url = f"/api/v1/installations/{march.pk}/timeseries/"
    assert error_parameter(client_for(owner).get(url)) == "bucket_size"
    settings.TIMESERIES_MAX_POINTS = 60
    assert attributes(client_for(owner).get(url))["sample_count"] == 60


def test_too_many_buckets_are_a_400_naming_bucket_size(march, owner, settings):
    settings.TIMESERIES_MAX_POINTS = 59
    url = f"/api/v1/installations/{march.pk}/timeseries/"
    assert error_parameter(client_for(owner).get(url, {"bucket_size": "1m"})) == "bucket_size"
    assert attributes(client_for(owner).get(url, {"bucket_size": "10m"}))["sample_count"] == 60


# --- CSV ----------------------------------------------------------------------------------


def test_raw_csv_has_a_header_and_unix_and_iso_times(march, owner):
    url = f"/api/v1/installations/{march.pk}/timeseries/"
    # The window's ends in the file name are UTC, however they were given.
    window = {"filter[from]": "2024-03-05T11:00:00+01:00", "filter[to]": s(MARCH_5) + 60}
    response = client_for(owner).get(url, window, HTTP_ACCEPT="text/csv")
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="installation-{march.pk}_20240305T100000Z_20240305T100100Z.csv"'
    )
    assert csv_rows(response) == [
        RAW_HEADER,
        [str(s(MARCH_5)), "2024-03-05T10:00:00Z", "500", "20.0", "40.5"],
        [str(s(MARCH_5) + 60), "2024-03-05T10:01:00Z", "510", "20.5", "40.5"],
    ]


def test_aggregated_csv_puts_the_bucket_start_first(march, owner):
    url = f"/api/v1/installation-timeseries/{march.pk}/"
    response = client_for(owner).get(url, {"bucket_size": "1h", "output_format": "csv"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].endswith('_1h.csv"')
    header, row = csv_rows(response)
    assert header[:3] == ["bucket_start_s", "bucket_start_utc", "count"]
    assert set(header[2:]) == BUCKET_FIELDS - {"bucket_start_s"}
    figures = dict(zip(header, row, strict=True))
    assert figures["bucket_start_s"] == str(s(MARCH_5))
    assert figures["bucket_start_utc"] == "2024-03-05T10:00:00Z"
    assert (figures["count"], figures["co2_ppm_min"], figures["co2_ppm_max"]) == ("60", "500", "1090")
    assert (figures["co2_ppm_median"], figures["temperature_celsius_max"]) == ("795.0", "21.0")


def test_csv_of_a_day_in_berlin_starts_at_local_midnight(march, owner):
    url = f"/api/v1/installation-timeseries/{march.pk}/"
    _, row = csv_rows(client_for(owner).get(url, {"bucket_size": "1d"}, HTTP_ACCEPT="text/csv"))
    assert row[:3] == [str(s(datetime(2024, 3, 5, tzinfo=BERLIN))), "2024-03-04T23:00:00Z", "60"]


def test_csv_is_not_bounded_by_the_maximum_of_points(march, owner, settings):
    settings.TIMESERIES_MAX_POINTS = 10
    url = f"/api/v1/nodes/{march.node_id}/timeseries/"
    assert error_parameter(client_for(owner).get(url)) == "bucket_size"
    assert len(csv_rows(client_for(owner).get(url, HTTP_ACCEPT="text/csv"))) == 1 + 60
    assert len(csv_rows(client_for(owner).get(url, {"bucket_size": "1m", "output_format": "csv"}))) == 1 + 60


def test_a_detail_asked_for_as_csv_is_its_series(march, owner):
    march.node.alias = "Aula/Fenster 1"
    march.node.save()
    response = client_for(owner).get(f"/api/v1/nodes/{march.node_id}/", HTTP_ACCEPT="text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="Aula_Fenster_1_')
    rows = csv_rows(response)
    assert rows[0] == RAW_HEADER and len(rows) == 61


def test_an_empty_window_is_a_header_only_csv(march, owner):
    url = f"/api/v1/installation-timeseries/{march.pk}/"
    assert csv_rows(client_for(owner).get(url, {"filter[to]": "2000-01-01T00:00:00Z"}, HTTP_ACCEPT="text/csv")) == [
        RAW_HEADER
    ]


@pytest.mark.parametrize("url", ["/api/v1/installation-timeseries/", "/api/v1/node-timeseries/"])
def test_lists_are_not_served_as_csv(march, owner, url):
    assert client_for(owner).get(url, HTTP_ACCEPT="text/csv").status_code == 406
    assert client_for(owner).get(url, {"output_format": "csv"}).status_code == 406


def test_other_routes_still_refuse_csv(march, owner):
    assert client_for(owner).get("/api/v1/sites/", HTTP_ACCEPT="text/csv").status_code == 406
    assert client_for(owner).get(f"/api/v1/rooms/{march.room_id}/", HTTP_ACCEPT="text/csv").status_code == 406
    assert client_for(owner).get("/api/v1/sites/", {"output_format": "csv"}).status_code == 400


def test_errors_of_csv_requests_are_json_api(march, owner):
    url = f"/api/v1/installation-timeseries/{march.pk}/"
    response = client_for(owner).get(url, {"filter[to]": "soon"}, HTTP_ACCEPT="text/csv")
    assert response["Content-Type"] == "application/vnd.api+json"
    assert error_parameter(response) == "filter[to]"


def test_json_api_clients_still_get_json_api(march, owner):
    url = f"/api/v1/installation-timeseries/{march.pk}/"
    response = client_for(owner).get(url, HTTP_ACCEPT="application/vnd.api+json")
    assert response["Content-Type"] == "application/vnd.api+json"
    response = client_for(owner).get(url, HTTP_ACCEPT="*/*")
    assert response["Content-Type"] == "application/vnd.api+json"


# --- Who may read -------------------------------------------------------------------------


def test_anybody_may_export_a_public_installations_series(public):
    seed_minutes(public.node, MARCH_5, 3)
    response = client_for().get(f"/api/v1/installation-timeseries/{public.pk}/", HTTP_ACCEPT="text/csv")
    assert len(csv_rows(response)) == 4
    response = client_for().get(f"/api/v1/installations/{public.pk}/timeseries/", {"bucket_size": "1h"})
    assert [bucket["count"] for bucket in series_of(response)] == [3]


def test_a_public_installation_shows_only_its_own_span_of_the_node(public):
    seed_minutes(public.node, datetime(2023, 12, 31, tzinfo=UTC), 3)  # before it was installed
    response = client_for().get(f"/api/v1/installation-timeseries/{public.pk}/", HTTP_ACCEPT="text/csv")
    assert csv_rows(response) == [RAW_HEADER]


@pytest.mark.parametrize("accept", ["text/csv", "application/vnd.api+json"])
def test_a_private_installations_series_is_not_found_for_strangers(march, outsider, accept):
    for user in (None, outsider):
        for url in (f"/api/v1/installation-timeseries/{march.pk}/", f"/api/v1/installations/{march.pk}/timeseries/"):
            assert client_for(user).get(url, HTTP_ACCEPT=accept).status_code == 404


@pytest.mark.parametrize("accept", ["text/csv", "application/vnd.api+json"])
def test_node_series_are_for_members_only(public, inspector, outsider, accept):
    for url in (f"/api/v1/node-timeseries/{public.node_id}/", f"/api/v1/nodes/{public.node_id}/timeseries/"):
        assert client_for().get(url, HTTP_ACCEPT=accept).status_code == 401
        assert client_for(outsider).get(url, HTTP_ACCEPT=accept).status_code == 404
        assert client_for(inspector).get(url, HTTP_ACCEPT=accept).status_code == 200
