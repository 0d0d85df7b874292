"""Forwarding without and with a task cluster: ``manage.py forward_samples``
sends what waits; ``migrate`` creates the "Forward samples" schedule only
while forwarding is on; a half-configured Stadtpuls is reported at start."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule

from ingest.tests.conftest import T0, series
from integrations.drain import FORWARD, ensure_schedule
from integrations.models import PendingSample, Stream
from integrations.stadtpuls.checks import stadtpuls_configuration
from integrations.tests import test_drain as shared

pytestmark = pytest.mark.django_db

forwarding = shared.forwarding
ingest = shared.ingest
public_installation = shared.public_installation
webhook = shared.webhook


def test_forward_samples_command_delivers_what_waits(forwarding, webhook, public_installation, ingest, node):
    ingest(series(node, 3, T0))
    out = StringIO()

    call_command("forward_samples", stdout=out)

    [request] = forwarding.to("/hook")
    assert [s["timestamp_s"] for s in request.json()["samples"]] == [T0, T0 + 60, T0 + 120]
    assert PendingSample.objects.count() == 0
    assert "3 delivered" in out.getvalue()
    assert "1 stream(s) drained." in out.getvalue()


def test_forward_samples_command_leaves_a_stream_backing_off_alone(
    forwarding, webhook, public_installation, ingest, node
):
    ingest(series(node, 2, T0))
    Stream.objects.update(next_attempt=timezone.now() + timedelta(minutes=5))

    call_command("forward_samples", stdout=StringIO())

    assert forwarding.requests == []
    assert PendingSample.objects.count() == 2


def test_schedule_exists_only_while_forwarding_is_on(settings):
    settings.IOTDP_INTEGRATION = True
    ensure_schedule()
    schedule = Schedule.objects.get(name=FORWARD)
    assert (schedule.func, schedule.minutes) == ("integrations.drain.sweep", 1)

    settings.IOTDP_INTEGRATION = False
    ensure_schedule()
    assert not Schedule.objects.filter(name=FORWARD).exists()


def test_half_configured_stadtpuls_is_reported(settings):
    settings.STADTPULS = {**settings.STADTPULS, "API_KEY": "key", "RECORDS_ENDPOINT": "https://sp.example/api"}
    [warning] = stadtpuls_configuration(None)
    assert warning.id == "stadtpuls.W001"
    assert "SP_AUTH_TOKEN" in warning.msg and "SP_API_KEY" not in warning.msg


def test_unconfigured_or_fully_configured_stadtpuls_is_fine(settings):
    empty = {name: "" for name in settings.STADTPULS}
    settings.STADTPULS = empty
    assert stadtpuls_configuration(None) == []
    settings.STADTPULS = {name: "x" for name in empty}
    assert stadtpuls_configuration(None) == []
