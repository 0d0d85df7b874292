"""Forwarding to Stadtpuls end to end: samples posted to the ingest endpoint,
the drain run by hand, and what a stand-in Stadtpuls received."""

import dataclasses
import logging
import socket
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from core.tests.factories import make_address, make_installation, make_node, make_room, make_site
from ingest.tests.conftest import T0, sample, series
from integrations import registry
from integrations.drain import drain
from integrations.models import Batch, PendingSample, Stream
from integrations.stadtpuls.forwarding import REQUIRED
from integrations.stadtpuls.models import Sensor
from integrations.stadtpuls.tests.conftest import (
    ACCESS_TOKEN,
    API_KEY,
    AUTH_TOKEN,
    LOGIN_EMAIL,
    LOGIN_PWD,
    USER_ID,
    configuration,
)

pytestmark = pytest.mark.django_db

START = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _forwarding_on(settings):
    settings.IOTDP_INTEGRATION = True
    # The failure tests watch a stream back off: whatever the environment says, it does.
    settings.FORWARDING_RETRY_S = 30


@pytest.fixture
def public(node, room):
    return make_installation(node, room, from_time=START, is_public=True)


@pytest.fixture
def ingest(gateway, django_capture_on_commit_callbacks):
    """Posts samples as the gateway does and runs what ingest does after
    committing (publishing them)."""

    def post(data):
        with django_capture_on_commit_callbacks(execute=True):
            response = gateway.post(data)
        assert response.status_code == 201, response.content
        return response

    return post


@pytest.fixture
def batches_of_two():
    original = registry.get("stadtpuls")
    registry.register(dataclasses.replace(original, batch_size=2))
    yield
    registry.register(original)


def stream_of(installation) -> Stream:
    return Stream.objects.get(integration="stadtpuls", installation=installation)


def drain_installation(installation) -> str:
    return drain(stream_of(installation).pk)


def make_due(installation) -> None:
    """Let the back-off pass, as the clock would."""
    Stream.objects.filter(pk=stream_of(installation).pk).update(next_attempt=timezone.now() - timedelta(seconds=1))


def backing_off(installation) -> bool:
    stream = stream_of(installation)
    return stream.next_attempt is not None and stream.next_attempt > timezone.now()


def backlog(installation) -> int:
    return PendingSample.objects.filter(stream=stream_of(installation)).exclude(batch__state=Batch.DEAD).count()


def dead_batches(installation) -> int:
    return Batch.objects.filter(stream=stream_of(installation), state=Batch.DEAD).count()


def iso(timestamp_s: int) -> str:
    return datetime.fromtimestamp(timestamp_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def closed_port_url() -> str:
    """A local address where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def only_sensor(installation) -> int:
    return Sensor.objects.get(installation=installation).sensor_id


# --- Login and registration ---------------------------------------------------------------


def test_first_batch_logs_in_with_api_key_email_and_password(stadtpuls, public, node, ingest):
    ingest(series(node, 2))

    drain_installation(public)

    [login] = stadtpuls.logins
    assert login.path == "/auth/v1/token?grant_type=password"
    assert login.headers["apikey"] == API_KEY
    assert login.json() == {"email": LOGIN_EMAIL, "password": LOGIN_PWD}


def test_installation_is_registered_as_a_sensor_where_its_site_is(stadtpuls, organization, ingest):
    address = make_address(city="Leipzig", latitude=Decimal("51.339695"), longitude=Decimal("12.373075"))
    room = make_room(make_site(operator=organization, name="Kulturhaus", address=address), name="Saal")
    node = make_node(owner=organization, alias="clair-7")
    installation = make_installation(node, room, from_time=START, is_public=True)
    ingest(series(node, 1))

    drain_installation(installation)

    [registration] = stadtpuls.registrations
    assert registration.headers["apikey"] == API_KEY
    assert registration.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert registration.headers["Prefer"] == "return=representation"
    body = registration.json()
    assert body["name"] == "clair-7 in Saal"
    assert isinstance(body["description"], str) and "Saal" in body["description"]
    assert body["connection_type"] == "http"
    assert body["location"] == "Leipzig"
    assert body["latitude"] == pytest.approx(51.339695)
    assert body["longitude"] == pytest.approx(12.373075)
    assert body["user_id"] == USER_ID
    assert body["category_id"] == 1
    [sensor_id] = stadtpuls.sensors
    assert only_sensor(installation) == sensor_id
    assert stadtpuls.accepted_timestamps(sensor_id) == [iso(T0)]


def test_long_alias_and_room_name_are_cut_to_a_49_character_sensor_name(stadtpuls, organization, ingest):
    room = make_room(operator=organization, name="Großer Versammlungsraum im zweiten Obergeschoss")
    node = make_node(owner=organization, alias="Luftgütesensor am Fenster zur Hofseite")
    installation = make_installation(node, room, from_time=START, is_public=True)
    ingest(series(node, 1))

    drain_installation(installation)

    [registration] = stadtpuls.registrations
    name = registration.json()["name"]
    assert len(name) == 49
    assert name.startswith("Luftgütesensor am Fenster zur Hofseite in Großer")


def test_installation_is_registered_once_for_all_its_batches(stadtpuls, public, node, ingest):
    ingest(series(node, 2, T0))
    drain_installation(public)
    ingest(series(node, 2, T0 + 3600))
    drain_installation(public)
    drain_installation(public)

    assert len(stadtpuls.logins) == 1
    assert len(stadtpuls.registrations) == 1
    sensor_id = only_sensor(public)
    assert [post.path for post in stadtpuls.record_posts] == [f"/api/v3/sensors/{sensor_id}/records"] * 2
    assert len(stadtpuls.accepted_timestamps(sensor_id)) == 4


def test_two_public_installations_become_two_sensors(stadtpuls, organization, public, node, ingest):
    other_node = make_node(owner=organization)
    other = make_installation(other_node, make_room(operator=organization), from_time=START, is_public=True)
    ingest(series(node, 2) + series(other_node, 3))

    drain_installation(public)
    drain_installation(other)

    assert len(stadtpuls.registrations) == 2
    assert only_sensor(public) != only_sensor(other)
    assert len(stadtpuls.accepted_timestamps(only_sensor(public))) == 2
    assert len(stadtpuls.accepted_timestamps(only_sensor(other))) == 3


# --- Records ------------------------------------------------------------------------------


def test_records_carry_the_auth_token_and_co2_oldest_first(stadtpuls, public, node, ingest):
    ingest([sample(node, T0 + 120, 910), sample(node, T0, 700), sample(node, T0 + 60, 805)])

    drain_installation(public)

    [post] = stadtpuls.record_posts
    assert post.headers["Authorization"] == f"Bearer {AUTH_TOKEN}"
    assert post.json() == {
        "records": [
            {"recorded_at": "2024-03-09T16:00:00Z", "measurements": [700]},
            {"recorded_at": "2024-03-09T16:01:00Z", "measurements": [805]},
            {"recorded_at": "2024-03-09T16:02:00Z", "measurements": [910]},
        ]
    }
    assert backlog(public) == 0


def test_records_go_in_batches_of_the_integrations_size(stadtpuls, public, node, ingest, batches_of_two):
    ingest(series(node, 5))

    drain_installation(public)

    sent = [[record["recorded_at"] for record in post.json()["records"]] for post in stadtpuls.record_posts]
    assert sent == [[iso(T0), iso(T0 + 60)], [iso(T0 + 120), iso(T0 + 180)], [iso(T0 + 240)]]
    assert backlog(public) == 0


def test_at_most_500_records_go_in_one_request(stadtpuls, public, node, ingest):
    ingest(series(node, 501))

    drain_installation(public)

    assert [len(post.json()["records"]) for post in stadtpuls.record_posts] == [500, 1]
    assert stadtpuls.accepted_timestamps(only_sensor(public)) == [iso(T0 + 60 * i) for i in range(501)]


# --- Failures -----------------------------------------------------------------------------


def test_platform_answering_503_gets_the_rest_later_and_nothing_twice(stadtpuls, public, node, ingest, batches_of_two):
    ingest(series(node, 5))
    stadtpuls.fail("records", 503, after=1)

    drain_installation(public)

    assert backing_off(public)
    assert backlog(public) == 3
    sensor_id = only_sensor(public)
    assert stadtpuls.accepted_timestamps(sensor_id) == [iso(T0), iso(T0 + 60)]

    stadtpuls.recover()
    drain_installation(public)  # still backing off: nothing goes out
    assert len(stadtpuls.record_posts) == 2

    make_due(public)
    drain_installation(public)

    assert stadtpuls.accepted_timestamps(sensor_id) == [iso(T0 + 60 * i) for i in range(5)]
    assert backlog(public) == 0
    assert dead_batches(public) == 0
    assert len(stadtpuls.registrations) == 1


def test_platform_not_listening_gets_the_samples_later(stadtpuls, public, node, ingest, settings):
    ingest(series(node, 3))
    settings.STADTPULS = configuration(closed_port_url())

    drain_installation(public)

    assert backing_off(public)
    assert backlog(public) == 3
    assert dead_batches(public) == 0
    assert not Sensor.objects.exists()

    settings.STADTPULS = configuration(stadtpuls.url)
    make_due(public)
    drain_installation(public)

    assert len(stadtpuls.registrations) == 1
    assert stadtpuls.accepted_timestamps(only_sensor(public)) == [iso(T0 + 60 * i) for i in range(3)]
    assert backlog(public) == 0


def test_records_endpoint_unreachable_after_registration_gets_the_backlog_later(
    stadtpuls, public, node, ingest, settings
):
    ingest(series(node, 2))
    drain_installation(public)
    ingest(series(node, 2, T0 + 3600))
    settings.STADTPULS = {**settings.STADTPULS, "RECORDS_ENDPOINT": closed_port_url() + "/api/v3/sensors"}

    drain_installation(public)

    assert backing_off(public)
    settings.STADTPULS = configuration(stadtpuls.url)
    make_due(public)
    drain_installation(public)
    sensor_id = only_sensor(public)
    assert stadtpuls.accepted_timestamps(sensor_id) == [iso(T0), iso(T0 + 60), iso(T0 + 3600), iso(T0 + 3660)]
    assert len(stadtpuls.registrations) == 1


def _sensors_answer_500(stadtpuls, settings):
    stadtpuls.fail("sensors", 500)


def _wrong_password(stadtpuls, settings):
    settings.STADTPULS = {**settings.STADTPULS, "LOGIN_PWD": "not-the-password"}


@pytest.mark.parametrize("break_registration", [_sensors_answer_500, _wrong_password], ids=["500", "wrong password"])
def test_failed_registration_backs_off_and_registers_once_after_recovery(
    stadtpuls, public, node, ingest, settings, break_registration
):
    ingest(series(node, 3))
    break_registration(stadtpuls, settings)

    drain_installation(public)

    assert backing_off(public)
    assert backlog(public) == 3
    assert dead_batches(public) == 0
    assert not Sensor.objects.exists()
    assert stadtpuls.record_posts == []

    stadtpuls.recover()
    settings.STADTPULS = configuration(stadtpuls.url)
    make_due(public)
    drain_installation(public)

    assert len(stadtpuls.sensors) == 1
    assert stadtpuls.accepted_timestamps(only_sensor(public)) == [iso(T0 + 60 * i) for i in range(3)]
    drain_installation(public)
    assert len(stadtpuls.sensors) == 1


def test_records_refused_with_400_become_a_dead_letter(stadtpuls, public, node, ingest):
    ingest(series(node, 2))
    stadtpuls.fail("records", 400, {"message": "invalid input syntax"})

    drain_installation(public)

    assert dead_batches(public) == 1
    assert not backing_off(public)
    assert stadtpuls.accepted_timestamps(only_sensor(public)) == []

    # The dead letter does not hold up what comes after it.
    stadtpuls.recover()
    ingest(series(node, 1, T0 + 3600))
    drain_installation(public)
    assert stadtpuls.accepted_timestamps(only_sensor(public)) == [iso(T0 + 3600)]
    assert dead_batches(public) == 1


def test_refused_auth_token_backs_off_instead_of_dead_lettering(stadtpuls, public, node, ingest, settings):
    ingest(series(node, 2))
    settings.STADTPULS = {**settings.STADTPULS, "AUTH_TOKEN": "an-expired-auth-token"}

    drain_installation(public)

    assert [post.headers["Authorization"] for post in stadtpuls.record_posts] == ["Bearer an-expired-auth-token"]
    assert backing_off(public)
    assert dead_batches(public) == 0
    assert backlog(public) == 2

    settings.STADTPULS = configuration(stadtpuls.url)
    make_due(public)
    drain_installation(public)
    assert stadtpuls.accepted_timestamps(only_sensor(public)) == [iso(T0), iso(T0 + 60)]


# --- Configuration ------------------------------------------------------------------------


@pytest.mark.parametrize("missing", REQUIRED)
def test_nothing_is_recorded_while_stadtpuls_is_not_configured(stadtpuls, public, node, ingest, settings, missing):
    settings.STADTPULS = {**settings.STADTPULS, missing: ""}

    ingest(series(node, 2))

    assert not Stream.objects.filter(integration="stadtpuls").exists()
    assert not PendingSample.objects.exists()


def test_configuration_removed_after_recording_keeps_the_backlog(stadtpuls, public, node, ingest, settings):
    ingest(series(node, 2))
    settings.STADTPULS = {**settings.STADTPULS, "AUTH_TOKEN": ""}

    drain_installation(public)

    assert stadtpuls.stub.requests == []
    assert backlog(public) == 2
    assert dead_batches(public) == 0

    settings.STADTPULS = configuration(stadtpuls.url)
    drain_installation(public)
    assert stadtpuls.accepted_timestamps(only_sensor(public)) == [iso(T0), iso(T0 + 60)]


# --- What is public -----------------------------------------------------------------------


def test_private_installation_is_never_forwarded(stadtpuls, organization, public, node, ingest):
    private_node = make_node(owner=organization)
    private = make_installation(private_node, make_room(operator=organization), from_time=START, is_public=False)
    ingest(series(node, 1) + series(private_node, 3))

    for stream in Stream.objects.all():
        drain(stream.pk)

    assert not Stream.objects.filter(installation=private).exists()
    assert not Sensor.objects.filter(installation=private).exists()
    assert len(stadtpuls.logins) == 1
    assert len(stadtpuls.registrations) == 1
    assert stadtpuls.accepted_timestamps(only_sensor(public)) == [iso(T0)]


def test_private_installation_alone_sends_nothing_at_all(stadtpuls, node, room, ingest):
    make_installation(node, room, from_time=START, is_public=False)
    ingest(series(node, 3))

    for stream in Stream.objects.all():
        drain(stream.pk)

    assert stadtpuls.stub.requests == []


def test_samples_outside_the_public_span_are_not_forwarded(stadtpuls, node, room, ingest):
    start = datetime.fromtimestamp(T0, UTC)
    installation = make_installation(node, room, from_time=start, to_time=start + timedelta(hours=1), is_public=True)
    ingest([sample(node, T0 - 60), sample(node, T0), sample(node, T0 + 3540), sample(node, T0 + 3600)])

    drain_installation(installation)

    assert stadtpuls.accepted_timestamps(only_sensor(installation)) == [iso(T0), iso(T0 + 3540)]


# --- Secrets ------------------------------------------------------------------------------


def test_secrets_stay_out_of_the_log_while_failures_are_logged(stadtpuls, public, node, ingest, settings, caplog):
    caplog.set_level(logging.DEBUG)
    ingest(series(node, 2))

    stadtpuls.fail("login", 400, {"error": "invalid_grant"})
    drain_installation(public)
    stadtpuls.recover()
    stadtpuls.fail("sensors", 500)
    make_due(public)
    drain_installation(public)
    stadtpuls.recover()
    settings.STADTPULS = {**settings.STADTPULS, "RECORDS_ENDPOINT": closed_port_url() + "/api/v3/sensors"}
    make_due(public)
    drain_installation(public)
    settings.STADTPULS = configuration(stadtpuls.url)
    stadtpuls.fail("records", 401)
    make_due(public)
    drain_installation(public)
    stadtpuls.fail("records", 400)
    make_due(public)
    drain_installation(public)

    failures = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(failures) == 5, caplog.text
    for secret in (API_KEY, LOGIN_PWD, AUTH_TOKEN, ACCESS_TOKEN):
        assert secret not in caplog.text
