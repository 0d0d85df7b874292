"""Samples: the database refuses impossible measurements and duplicates.

Ingest validates before it writes, but the constraints are the last line: a
bulk import or a bug elsewhere must not store a sample no sensor can produce.
The ranges come from ``core.limits``, so changing a limit without a migration
makes these tests fail.
"""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from core.limits import SAMPLE_LIMITS
from core.models import Sample
from core.tests.factories import make_node

MOMENT = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
PLAUSIBLE = {"co2_ppm": 420, "temperature_celsius": 21.5, "rel_humidity_percent": 45.0}
NULLABLE = ["temperature_celsius", "rel_humidity_percent"]


def _step(quantity: str) -> float:
    # CO2 is stored as whole ppm; the real columns resolve far below half a unit.
    return 1 if quantity == "co2_ppm" else 0.5


def _outside(quantity: str) -> list:
    limit = SAMPLE_LIMITS[quantity]
    return [
        pytest.param(quantity, limit.minimum - _step(quantity), id=f"{quantity}-below-{limit.minimum}"),
        pytest.param(quantity, limit.maximum + _step(quantity), id=f"{quantity}-above-{limit.maximum}"),
    ]


def _edges(quantity: str) -> list:
    limit = SAMPLE_LIMITS[quantity]
    return [
        pytest.param(quantity, limit.minimum, id=f"{quantity}-at-{limit.minimum}"),
        pytest.param(quantity, limit.maximum, id=f"{quantity}-at-{limit.maximum}"),
    ]


OUTSIDE = [case for quantity in SAMPLE_LIMITS for case in _outside(quantity)]
EDGES = [case for quantity in SAMPLE_LIMITS for case in _edges(quantity)]


def _sample(node, **fields) -> Sample:
    return Sample(node=node, timestamp=fields.pop("timestamp", MOMENT), **{**PLAUSIBLE, **fields})


@pytest.mark.parametrize(("quantity", "value"), OUTSIDE)
def test_database_refuses_a_value_outside_the_sensor_range(node, quantity, value):
    with pytest.raises(IntegrityError, match=f"sample_{quantity}_range"), transaction.atomic():
        _sample(node, **{quantity: value}).save()
    assert not Sample.objects.exists()


@pytest.mark.parametrize(("quantity", "value"), OUTSIDE)
def test_full_clean_reports_a_value_outside_the_sensor_range(node, quantity, value):
    with pytest.raises(ValidationError) as raised:
        _sample(node, **{quantity: value}).full_clean()
    assert any(f"sample_{quantity}_range" in message for message in raised.value.messages)


@pytest.mark.parametrize(("quantity", "value"), EDGES)
def test_value_at_the_edge_of_the_sensor_range_is_stored(node, quantity, value):
    sample = _sample(node, **{quantity: value})
    sample.full_clean()
    sample.save()
    sample.refresh_from_db()
    assert getattr(sample, quantity) == value


@pytest.mark.parametrize("quantity", NULLABLE)
def test_sample_without_a_secondary_quantity_is_stored(node, quantity):
    # Some node models measure CO2 only.
    sample = _sample(node, **{quantity: None})
    sample.full_clean()
    sample.save()
    sample.refresh_from_db()
    assert getattr(sample, quantity) is None


def test_sample_without_co2_is_refused(node):
    with pytest.raises(IntegrityError), transaction.atomic():
        _sample(node, co2_ppm=None).save()


def test_database_refuses_an_unknown_measurement_status(node):
    with pytest.raises(IntegrityError, match="sample_measurement_status_valid"), transaction.atomic():
        _sample(node, measurement_status="X").save()


def test_full_clean_reports_an_unknown_measurement_status(node):
    with pytest.raises(ValidationError) as raised:
        _sample(node, measurement_status="X").full_clean()
    assert "measurement_status" in raised.value.error_dict


@pytest.mark.parametrize("status", [choice for choice, _ in Sample.Status.choices])
def test_every_measurement_status_is_stored(node, status):
    _sample(node, measurement_status=status).save()
    assert Sample.objects.get().measurement_status == status


def test_second_sample_of_a_node_at_the_same_moment_is_refused(node):
    _sample(node).save()
    with pytest.raises(IntegrityError, match="duplicate key value violates unique constraint"), transaction.atomic():
        _sample(node, co2_ppm=900).save()
    assert Sample.objects.get().co2_ppm == PLAUSIBLE["co2_ppm"]


def test_same_moment_written_in_another_time_zone_is_the_same_sample(node):
    _sample(node).save()
    berlin_winter = timezone(timedelta(hours=1))
    with pytest.raises(IntegrityError, match="duplicate key value violates unique constraint"), transaction.atomic():
        _sample(node, timestamp=MOMENT.astimezone(berlin_winter)).save()


def test_full_clean_reports_a_duplicate_sample(node):
    _sample(node).save()
    with pytest.raises(ValidationError, match="already exists"):
        _sample(node).full_clean()


def test_two_nodes_may_report_at_the_same_moment(node, organization):
    neighbour = make_node(owner=organization)
    _sample(node).save()
    _sample(neighbour).save()
    assert Sample.objects.filter(timestamp=MOMENT).count() == 2


def test_one_node_may_report_a_second_later(node):
    _sample(node).save()
    _sample(node, timestamp=MOMENT + timedelta(seconds=1)).save()
    assert node.samples.count() == 2
