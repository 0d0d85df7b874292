"""``outbox.record`` has a one-statement path for PostgreSQL (the ingest
request pays for it) and a portable one (SQLite); both must keep the same
outbox."""

import pytest
from django_q.models import OrmQ

from core.models import Sample
from core.tests.factories import make_installation, make_node, make_room
from integrations import outbox
from integrations.models import PendingSample, Stream

pytestmark = pytest.mark.django_db

PATHS = {
    "one statement": outbox._record_in_one_statement,
    "portable": outbox._record_generic,
}


@pytest.fixture(params=list(PATHS))
def record(request, django_capture_on_commit_callbacks):
    path = PATHS[request.param]

    def record(entries):
        with django_capture_on_commit_callbacks(execute=True):
            return path("webhook", entries)

    return record


@pytest.fixture
def two_installations(organization):
    room = make_room(operator=organization)
    first = make_installation(make_node(owner=organization), room, is_public=True)
    second = make_installation(make_node(owner=organization), room, is_public=True)
    return first, second


def _samples(installation, count: int) -> list[int]:
    from datetime import UTC, datetime, timedelta

    start = datetime(2024, 3, 1, tzinfo=UTC)
    return [
        Sample.objects.create(node=installation.node, timestamp=start + timedelta(minutes=i), co2_ppm=500 + i).pk
        for i in range(count)
    ]


def _outbox() -> set[tuple[str, int, int]]:
    return set(PendingSample.objects.values_list("stream__destination", "stream__installation_id", "sample_id"))


def test_first_samples_create_one_stream_per_destination_and_installation(record, two_installations):
    first, second = two_installations
    a, b = _samples(first, 2), _samples(second, 1)
    entries = [("7", first.pk, a[0]), ("7", first.pk, a[1]), ("8", first.pk, a[0]), ("7", second.pk, b[0])]

    streams = record(entries)

    assert Stream.objects.count() == 3
    assert sorted(streams) == sorted(Stream.objects.values_list("pk", flat=True))
    assert _outbox() == set(entries)


def test_a_sample_recorded_twice_waits_once(record, two_installations):
    first, _ = two_installations
    samples = _samples(first, 3)
    record([("7", first.pk, s) for s in samples[:2]])
    record([("7", first.pk, s) for s in samples])

    assert PendingSample.objects.count() == 3
    assert Stream.objects.count() == 1


def test_a_drain_is_queued_once_while_one_waits(record, two_installations):
    first, _ = two_installations
    samples = _samples(first, 2)

    record([("7", first.pk, samples[0])])
    record([("7", first.pk, samples[1])])

    assert OrmQ.objects.count() == 1
    assert Stream.objects.get().queued is not None


def test_no_drain_is_queued_for_a_stream_backing_off(record, two_installations):
    from datetime import timedelta

    from django.utils import timezone

    first, _ = two_installations
    samples = _samples(first, 2)
    record([("7", first.pk, samples[0])])
    OrmQ.objects.all().delete()
    Stream.objects.update(queued=None, next_attempt=timezone.now() + timedelta(minutes=5))

    record([("7", first.pk, samples[1])])

    assert OrmQ.objects.count() == 0
    assert PendingSample.objects.count() == 2
