"""``rooms/{id}/airquality/[yyyy-mm/]``: who may ask, what comes back, and
clear 400s instead of 500s."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from rest_framework.test import APIClient

from core.models import Installation, Sample

BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS = ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"]


def client_for(user=None) -> APIClient:
    client = APIClient(raise_request_exception=False)
    if user is not None:
        client.force_authenticate(user)
    return client


def url(room, month: str | None = None) -> str:
    return f"/api/v1/rooms/{room.pk}/airquality/" + (f"{month}/" if month else "")


def seed_day(node, day: datetime, values) -> None:
    Sample.objects.bulk_create(
        Sample(node=node, timestamp=day + index * timedelta(minutes=1), co2_ppm=value)
        for index, value in enumerate(values)
    )


@pytest.fixture
def public(installation):
    Installation.objects.filter(pk=installation.pk).update(is_public=True)
    return installation


# --- Who may ask ---------------------------------------------------------------------------


def test_anybody_may_read_a_public_rooms_air_quality(public):
    response = client_for().get(url(public.room, "2024-03"))
    assert response.status_code == 200
    assert response.json()["data"]["type"] == "room-airquality"


def test_a_private_room_is_not_found_for_anonymous_callers(installation):
    assert client_for().get(url(installation.room, "2024-03")).status_code == 404


def test_a_private_room_is_not_found_for_outsiders(installation, outsider):
    assert client_for(outsider).get(url(installation.room, "2024-03")).status_code == 404


def test_inspectors_read_their_rooms_air_quality(installation, inspector):
    assert client_for(inspector).get(url(installation.room, "2024-03")).status_code == 200


def test_an_unknown_room_is_not_found(owner):
    assert client_for(owner).get("/api/v1/rooms/999999/airquality/2024-03/").status_code == 404


def test_an_invisible_room_is_not_found_even_with_a_malformed_month(installation):
    assert client_for().get(url(installation.room, "2024-13")).status_code == 404


def test_the_air_quality_is_read_only(installation, owner):
    assert client_for(owner).post(url(installation.room, "2024-03"), {}).status_code == 405


# --- What comes back ------------------------------------------------------------------------


def test_a_month_gives_its_window_days_and_medal(installation, owner):
    march_4 = datetime(2024, 3, 4, tzinfo=BERLIN)
    seed_day(installation.node, march_4, [700] * 480 + [1500] * 45 + [2100] * 15 + [700] * 900)
    response = client_for(owner).get(url(installation.room, "2024-03"))
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["id"] == str(installation.room.pk)
    attributes = data["attributes"]
    assert attributes["analysis_month"] == "2024-03"
    assert attributes["from_timestamp_s"] == int(datetime(2024, 3, 1, tzinfo=BERLIN).timestamp())
    assert attributes["to_timestamp_s"] == int(datetime(2024, 4, 1, tzinfo=BERLIN).timestamp()) - 1
    assert "airq_hist" not in attributes
    (day,) = attributes["days"]
    assert day == {
        "date": "2024-03-04",
        "sample_count": 1440,
        "covered_minutes": 1440,
        "minutes_above_1000": 60,
        "minutes_above_1400": 60,
        "minutes_above_2000": 15,
        "co2_ppm_max": 2100,
        "co2_ppm_mean": round((1380 * 700 + 45 * 1500 + 15 * 2100) / 1440, 1),
        "enough_data": True,
    }
    assert attributes["clean_air_medal"] is False  # 2100 ppm on a judged day


def test_a_clean_month_earns_the_medal(installation, owner):
    for day in range(4, 7):
        seed_day(installation.node, datetime(2024, 3, day, tzinfo=BERLIN), [650] * 1440)
    attributes = client_for(owner).get(url(installation.room, "2024-03")).json()["data"]["attributes"]
    assert attributes["clean_air_medal"] is True


@pytest.mark.parametrize("spelling", ["True", "true", "TRUE", "1", "yes"])
def test_the_histogram_comes_on_request_in_como_uis_shape(installation, owner, spelling):
    seed_day(installation.node, datetime(2024, 3, 4, 8, 30, tzinfo=BERLIN), [900])  # a Monday
    response = client_for(owner).get(url(installation.room, "2024-03"), {"include_histogram": spelling})
    histogram = response.json()["data"]["attributes"]["airq_hist"]
    assert list(histogram) == WEEKDAYS
    assert all(len(hours) == 24 for hours in histogram.values())
    assert histogram["Mo"][8] == 900
    assert histogram["Tu"][8] is None


@pytest.mark.parametrize("spelling", ["False", "0", ""])
def test_the_histogram_can_be_declined(installation, owner, spelling):
    response = client_for(owner).get(url(installation.room, "2024-03"), {"include_histogram": spelling})
    assert response.status_code == 200
    assert "airq_hist" not in response.json()["data"]["attributes"]


def test_an_empty_month_is_an_empty_answer(installation, owner):
    response = client_for(owner).get(url(installation.room, "2023-11"), {"include_histogram": "True"})
    assert response.status_code == 200
    attributes = response.json()["data"]["attributes"]
    assert attributes["days"] == []
    assert attributes["clean_air_medal"] is None
    assert attributes["airq_hist"] == {weekday: [None] * 24 for weekday in WEEKDAYS}


def test_without_a_month_the_current_local_month_is_meant(public):
    # 23:30 UTC on 31 March is already April in Berlin.
    with time_machine.travel(datetime(2024, 3, 31, 23, 30, tzinfo=UTC), tick=False):
        response = client_for().get(f"/api/v1/rooms/{public.room.pk}/airquality")
    attributes = response.json()["data"]["attributes"]
    assert attributes["analysis_month"] == "2024-04"
    assert attributes["query_timestamp_s"] == int(datetime(2024, 3, 31, 23, 30, tzinfo=UTC).timestamp())


def test_routes_work_without_the_trailing_slash(public):
    assert client_for().get(f"/api/v1/rooms/{public.room.pk}/airquality/2024-03").status_code == 200


# --- Refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("month", ["2024-13", "abcd", "2024-1", "2024-00", "1900-01", "9999-12"])
def test_a_malformed_month_is_a_400_naming_the_month(public, month):
    response = client_for().get(url(public.room, month))
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["source"]["parameter"] == "month"
    assert error["status"] == "400" and error["detail"]


def test_an_unknown_query_parameter_is_a_400(public):
    response = client_for().get(url(public.room, "2024-03"), {"filter[from]": "0"})
    assert response.status_code == 400


def test_an_unreadable_histogram_flag_is_a_400_naming_it(public):
    response = client_for().get(url(public.room, "2024-03"), {"include_histogram": "maybe"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["source"]["parameter"] == "include_histogram"


def test_sparse_fieldsets_pick_attributes(public):
    response = client_for().get(url(public.room, "2024-03"), {"fields[room-airquality]": "clean_air_medal"})
    assert response.json()["data"]["attributes"] == {"clean_air_medal": None}


@pytest.mark.parametrize("method", ["head", "options"])
def test_head_and_options_answer(public, method):
    assert getattr(client_for(), method)(url(public.room, "2024-03")).status_code == 200
