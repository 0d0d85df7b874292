"""``sample_published``: what the forwarding integrations are told, and when."""

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test import Client

from core.models import Sample
from core.tests.factories import make_installation, make_node, make_room
from ingest.signals import PublishedSample, sample_published
from ingest.tests.conftest import T0, Gateway, sample, series

pytestmark = pytest.mark.django_db

JANUARY = datetime(2024, 1, 1, tzinfo=UTC)
APRIL = datetime(2024, 4, 1, tzinfo=UTC)
JANUARY_S, APRIL_S = int(JANUARY.timestamp()), int(APRIL.timestamp())


class Receiver:
    """Connected for one test; ``on_send`` runs inside each call."""

    def __init__(self):
        # Signal.send_robust names a failing receiver by its __qualname__.
        self.__qualname__ = "Receiver"
        self.calls: list[list[PublishedSample]] = []
        self.on_send = None

    def __call__(self, sender, samples, **kwargs):
        self.calls.append(samples)
        if self.on_send:
            self.on_send(samples)

    @property
    def samples(self) -> list[PublishedSample]:
        return [s for call in self.calls for s in call]

    @property
    def timestamps(self) -> list[int]:
        return sorted(s.timestamp_s for s in self.samples)


@pytest.fixture
def receiver():
    receiver = Receiver()
    sample_published.connect(receiver, weak=False)
    yield receiver
    sample_published.disconnect(receiver)


@pytest.fixture
def integration(settings):
    settings.IOTDP_INTEGRATION = True


@pytest.fixture
def public(node, room):
    """The node's public installation from January to April 2024."""
    return make_installation(node, room, from_time=JANUARY, to_time=APRIL, is_public=True)


def test_a_new_sample_is_sent_once_and_only_after_commit(
    integration,
    receiver,
    public,
    gateway,
    node,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = gateway.post(sample(node, T0, 812, temperature_celsius=21.5, rel_humidity_percent=40))
        assert response.status_code == 201
        assert receiver.calls == []
    assert len(callbacks) == 1
    assert receiver.calls == [
        [
            PublishedSample(
                sample_id=int(response.json()["data"]["id"]),
                node_id=str(node.pk),
                installation_id=public.pk,
                timestamp_s=T0,
                co2_ppm=812,
                temperature_celsius=21.5,
                rel_humidity_percent=40.0,
            )
        ]
    ]


def test_a_batch_is_sent_as_one_signal_with_each_new_sample_once(
    integration,
    receiver,
    public,
    gateway,
    node,
    django_capture_on_commit_callbacks,
):
    items = series(node, 10)
    items.append(items[4])
    with django_capture_on_commit_callbacks(execute=True):
        gateway.post(items)
        assert receiver.calls == []
    assert len(receiver.calls) == 1
    assert receiver.timestamps == [T0 + 60 * i for i in range(10)]
    ids = dict(Sample.objects.values_list("timestamp", "pk"))
    assert {s.sample_id for s in receiver.samples} == set(ids.values())


def test_only_samples_inside_the_installations_span_are_sent(
    integration,
    receiver,
    public,
    gateway,
    node,
    django_capture_on_commit_callbacks,
):
    items = [sample(node, t) for t in (JANUARY_S - 60, JANUARY_S - 1, JANUARY_S, APRIL_S - 1, APRIL_S, APRIL_S + 60)]
    with django_capture_on_commit_callbacks(execute=True):
        assert gateway.post(items).status_code == 201
    assert receiver.timestamps == [JANUARY_S, APRIL_S - 1]
    assert Sample.objects.count() == 6


def test_samples_of_a_private_installation_are_not_sent(
    integration,
    receiver,
    installation,
    gateway,
    node,
    django_capture_on_commit_callbacks,
):
    assert installation.is_public is False
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert gateway.post(series(node, 5)).status_code == 201
    assert receiver.calls == []
    assert callbacks == []


def test_a_batch_across_nodes_sends_only_the_public_ones(
    integration,
    receiver,
    public,
    gateway,
    node,
    organization,
    django_capture_on_commit_callbacks,
):
    private_node, bare_node = make_node(owner=organization), make_node(owner=organization)
    make_installation(private_node, make_room(operator=organization), from_time=JANUARY)
    with django_capture_on_commit_callbacks(execute=True):
        gateway.post(series(private_node, 3) + series(node, 3) + series(bare_node, 3))
    assert {s.node_id for s in receiver.samples} == {str(node.pk)}
    assert len(receiver.samples) == 3


def test_replays_are_not_sent_again(integration, receiver, public, gateway, node, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        gateway.post(series(node, 3))
        gateway.post(series(node, 3))
        gateway.post(sample(node, T0))
        gateway.post(series(node, 5))
    assert len(receiver.calls) == 2
    assert receiver.timestamps == [T0 + 60 * i for i in range(5)]


@pytest.mark.parametrize("spoil", ["conflict", "invalid", "unknown_node", "wrong_type"])
def test_a_refused_batch_sends_nothing(
    integration,
    receiver,
    public,
    gateway,
    node,
    django_capture_on_commit_callbacks,
    spoil,
):
    gateway.post(sample(node, JANUARY_S, 700))
    receiver.calls.clear()
    batch = series(node, 5)
    batch.append(
        {
            "conflict": sample(node, JANUARY_S, 701),
            "invalid": sample(node, JANUARY_S + 60, 40_001),
            "unknown_node": sample("8d3f0f3c-1c5e-4c4b-9a55-6c2a4b1b2f10", T0),
            "wrong_type": {**sample(node, JANUARY_S + 60), "type": "Samples"},
        }[spoil]
    )
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert gateway.post(batch).status_code in (409, 422)
    assert callbacks == []
    assert receiver.calls == []


def test_without_the_integration_nothing_is_sent(
    settings,
    receiver,
    public,
    gateway,
    node,
    django_capture_on_commit_callbacks,
):
    settings.IOTDP_INTEGRATION = False
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert gateway.post(series(node, 3)).status_code == 201
        assert gateway.post(sample(node, T0 + 3600)).status_code == 201
    assert callbacks == []
    assert receiver.calls == []


def _committed_count(ids: list[int]) -> int:
    """How many of the samples another connection sees."""
    seen = []

    def look():
        try:
            seen.append(Sample.objects.filter(pk__in=ids).count())
        finally:
            connection.close()

    thread = threading.Thread(target=look)
    thread.start()
    thread.join(timeout=30)
    return seen[0]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("single", [True, False])
def test_the_receiver_sees_the_samples_committed(integration, receiver, public, gateway, node, single):
    visible = []
    receiver.on_send = lambda samples: visible.append(_committed_count([s.sample_id for s in samples]))
    response = gateway.post(sample(node) if single else series(node, 4))
    assert response.status_code == 201
    assert visible == [1 if single else 4]


@pytest.mark.django_db(transaction=True)
def test_a_refused_batch_sends_nothing_also_when_committing_for_real(integration, receiver, public, gateway, node):
    gateway.post(sample(node, T0, 700))
    receiver.calls.clear()
    assert gateway.post(series(node, 5, start=T0 + 60) + [sample(node, T0, 701)]).status_code == 409
    assert receiver.calls == []
    assert Sample.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_failing_receiver_does_not_fail_the_request_that_stored_the_samples(
    integration, receiver, public, node, ingest_key
):
    def fail(samples):
        raise RuntimeError("the platform is down")

    receiver.on_send = fail
    response = Gateway(Client(raise_request_exception=False), ingest_key[1]).post(series(node, 3))
    assert Sample.objects.count() == 3
    assert response.status_code == 201
