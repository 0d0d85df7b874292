"""Requests per minute per ingest key: a guard against a runaway gateway."""

import pytest
import time_machine
from django.test import Client

from core.models import Sample
from ingest import ratelimit
from ingest.keys import ingest_key_create
from ingest.tests.conftest import T0, Gateway, errors, sample

#: The start of a minute window (a multiple of 60).
MINUTE = 1_800_000_000


def test_without_a_limit_every_request_passes():
    assert all(ratelimit.retry_after("key", 0, now=MINUTE) is None for _ in range(1000))


def test_requests_up_to_the_limit_pass():
    assert [ratelimit.retry_after("key", 3, now=MINUTE + i) for i in range(3)] == [None, None, None]


def test_a_request_over_the_limit_waits_for_the_next_minute():
    for _ in range(3):
        ratelimit.retry_after("key", 3, now=MINUTE + 10)
    assert ratelimit.retry_after("key", 3, now=MINUTE + 10) == 50
    assert ratelimit.retry_after("key", 3, now=MINUTE + 45.5) == 14


def test_the_wait_is_at_least_one_second():
    for _ in range(3):
        ratelimit.retry_after("key", 3, now=MINUTE)
    assert ratelimit.retry_after("key", 3, now=MINUTE + 59.9) == 1


def test_at_the_start_of_a_minute_the_wait_is_the_whole_minute():
    for _ in range(3):
        ratelimit.retry_after("key", 3, now=MINUTE)
    assert ratelimit.retry_after("key", 3, now=MINUTE) == 60


def test_a_new_minute_starts_a_new_count():
    for _ in range(3):
        ratelimit.retry_after("key", 3, now=MINUTE + 30)
    assert ratelimit.retry_after("key", 3, now=MINUTE + 59) is not None
    assert ratelimit.retry_after("key", 3, now=MINUTE + 60) is None


def test_keys_are_counted_apart():
    for _ in range(3):
        ratelimit.retry_after("busy", 3, now=MINUTE)
    assert ratelimit.retry_after("busy", 3, now=MINUTE) is not None
    assert ratelimit.retry_after("quiet", 3, now=MINUTE) is None


def test_refused_requests_do_not_extend_the_wait():
    for _ in range(10):
        ratelimit.retry_after("key", 3, now=MINUTE)
    assert ratelimit.retry_after("key", 3, now=MINUTE + 60) is None


def test_reset_forgets_every_count():
    for _ in range(3):
        ratelimit.retry_after("key", 3, now=MINUTE)
    ratelimit.reset()
    assert ratelimit.retry_after("key", 3, now=MINUTE) is None


def test_many_different_keys_do_not_grow_the_table_without_bound():
    for i in range(ratelimit._MAX_KEYS * 2 + 10):
        ratelimit.retry_after(f"random-{i}", 3, now=MINUTE + i // 1000)
    assert len(ratelimit._windows) <= ratelimit._MAX_KEYS


def test_a_key_of_the_current_minute_keeps_its_count_when_old_keys_are_forgotten():
    for i in range(ratelimit._MAX_KEYS - 1):
        ratelimit.retry_after(f"old-{i}", 3, now=MINUTE - 60)
    for _ in range(3):
        ratelimit.retry_after("busy", 3, now=MINUTE)
    ratelimit.retry_after("newcomer", 3, now=MINUTE)
    assert ratelimit.retry_after("busy", 3, now=MINUTE) is not None


# --- through HTTP -----------------------------------------------------------------------------------


@pytest.fixture
def clock():
    with time_machine.travel(MINUTE + 10, tick=False) as traveller:
        yield traveller


@pytest.fixture
def limit(settings):
    settings.INGEST_RATE_LIMIT = 3


@pytest.mark.django_db
def test_the_fourth_request_of_a_minute_is_throttled(limit, clock, gateway, node):
    answers = [gateway.post(sample(node, T0 + i)).status_code for i in range(3)]
    response = gateway.post(sample(node, T0 + 3))
    assert answers == [201, 201, 201]
    assert response.status_code == 429
    assert response["Retry-After"] == "50"
    assert errors(response)[0]["code"] == "throttled"
    assert Sample.objects.count() == 3


@pytest.mark.django_db
def test_retry_after_holds_whole_seconds(limit, clock, gateway, node):
    clock.move_to(MINUTE + 12.7)
    for i in range(4):
        response = gateway.post(sample(node, T0 + i))
    assert response.status_code == 429
    assert response["Retry-After"].isdigit()
    assert 1 <= int(response["Retry-After"]) <= 60


@pytest.mark.django_db
def test_replays_and_refused_requests_count_too(limit, clock, gateway, node):
    gateway.post(sample(node))
    gateway.post(sample(node))
    gateway.post(sample(node, co2_ppm=-1))
    assert gateway.post(sample(node, T0 + 1)).status_code == 429


@pytest.mark.django_db
def test_after_the_minute_the_key_may_send_again(limit, clock, gateway, node):
    for i in range(4):
        gateway.post(sample(node, T0 + i))
    clock.move_to(MINUTE + 60)
    assert gateway.post(sample(node, T0 + 4)).status_code == 201


@pytest.mark.django_db
def test_another_key_is_not_throttled_by_a_busy_one(limit, clock, gateway, node, organization):
    for i in range(4):
        gateway.post(sample(node, T0 + i))
    _, plain = ingest_key_create(organization, "second gateway")
    assert Gateway(Client(), plain).post(sample(node, T0 + 10)).status_code == 201


@pytest.mark.django_db
def test_a_batch_is_one_request(limit, clock, gateway, node):
    for i in range(3):
        response = gateway.post([sample(node, T0 + 100 * i + j) for j in range(50)])
        assert response.status_code == 201
    assert Sample.objects.count() == 150


@pytest.mark.django_db
def test_a_limit_of_zero_is_no_limit(settings, clock, gateway, node):
    settings.INGEST_RATE_LIMIT = 0
    assert {gateway.post(sample(node, T0 + i)).status_code for i in range(20)} == {201}


@pytest.mark.django_db
def test_without_authentication_there_is_no_key_to_limit(limit, clock, open_gateway, node):
    assert {open_gateway.post(sample(node, T0 + i)).status_code for i in range(6)} == {201}
