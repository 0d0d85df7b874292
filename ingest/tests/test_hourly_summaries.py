"""Ingest marks the hours it stores samples in stale, so that hourly buckets
count them at once (core.hourly keeps the summaries)."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from core import hourly
from core.models import HourlySummary, Sample
from core.timeseries import Bucketing, Window, bucket_rows
from ingest.keys import ingest_key_create
from ingest.tests.conftest import T0, Gateway, sample

EVERYTHING = Window(datetime(2000, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC))


def summaries(node) -> dict[datetime, bool]:
    return dict(HourlySummary.objects.filter(node=node).values_list("hour", "stale"))


def counts(node) -> dict[int, int]:
    return {row[0]: row[1] for row in bucket_rows(node.pk, EVERYTHING, Bucketing("1h", ZoneInfo("UTC")))}


@pytest.mark.django_db
def test_samples_from_a_gateway_mark_their_hours_stale(node, organization):
    first_hour = datetime.fromtimestamp(T0, tz=UTC)  # T0 starts an hour
    Sample.objects.create(node=node, timestamp=first_hour, co2_ppm=600)
    hourly.refresh()
    gateway = Gateway(Client(), ingest_key_create(organization, "gateway on the roof")[1])
    response = gateway.post([sample(node, T0 + 60, 700), sample(node, T0 + 7200, 800)])
    assert response.status_code == 201, response.content
    assert summaries(node) == {first_hour: True, first_hour + timedelta(hours=2): True}
    assert counts(node) == {T0: 2, T0 + 7200: 1}


@pytest.mark.django_db
def test_samples_stored_after_an_ingest_in_the_same_transaction_still_mark_their_hours(node, organization):
    # Ingest tells the insert trigger that its own statement marked the hours;
    # that must not hold for the statements after it.
    first_hour = datetime.fromtimestamp(T0, tz=UTC)
    gateway = Gateway(Client(), ingest_key_create(organization, "gateway in the cellar")[1])
    assert gateway.post([sample(node, T0 + 60, 700)]).status_code == 201
    Sample.objects.create(node=node, timestamp=first_hour + timedelta(hours=5), co2_ppm=650)
    assert summaries(node) == {first_hour: True, first_hour + timedelta(hours=5): True}
