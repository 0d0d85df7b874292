"""Gateways racing each other on a real PostgreSQL: retries and overlapping
batches arrive at the same moment, each request on its own connection. No
error may reach a client, and every sample is stored exactly once."""

import random
import threading
from datetime import UTC, datetime

import pytest
from django.db import OperationalError, connections
from django.test import Client

from core.models import NodeFidelity, Sample
from core.tests.factories import make_node
from ingest import store as store_module
from ingest.models import hash_key
from ingest.store import store
from ingest.tests.conftest import T0, Gateway, sample, series
from ingest.validation import validate

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 6


def together(work, count: int = THREADS) -> list:
    """Run ``work(i)`` in ``count`` threads released at the same moment; the
    results in thread order. An exception in a thread fails the test."""
    start = threading.Barrier(count)
    results: list = [None] * count
    failures: list = []

    def run(i):
        try:
            start.wait(timeout=30)
            results[i] = work(i)
        except BaseException as exc:  # noqa: B036 - reported to the test below
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a request hung"
    if failures:
        raise failures[0]
    return results


def posting(plain_key: str | None, documents):
    """``work`` for ``together``: thread i posts ``documents(i)``; its answer
    as (status, meta or errors)."""

    def work(i):
        response = Gateway(Client(raise_request_exception=False), plain_key).post(documents(i))
        body = response.json()
        return response.status_code, body.get("meta", body.get("errors"))

    return work


@pytest.fixture(params=["token", "none"])
def plain_key(request, ingest_key, settings):
    """The gateways' key; ``None`` on a server without authentication, where
    no key row is touched that could make racing requests wait in line."""
    if request.param == "none":
        settings.INGEST_AUTH = "none"
        return None
    return ingest_key[1]


def assert_no_errors(answers):
    statuses = [status for status, _ in answers]
    assert set(statuses) <= {200, 201}, answers


def test_the_same_sample_sent_at_once_is_stored_once(plain_key, node):
    for round_ in range(5):
        timestamp = T0 + round_
        answers = together(posting(plain_key, lambda i, timestamp=timestamp: sample(node, timestamp, 800)))
        assert_no_errors(answers)
        assert sorted(status for status, _ in answers) == [200] * (THREADS - 1) + [201]
        assert sum(m["accepted"] for _, m in answers) == 1
        assert sum(m["duplicates"] for _, m in answers) == THREADS - 1
    assert Sample.objects.filter(node=node).count() == 5


def test_the_same_batch_sent_at_once_is_stored_once(plain_key, node):
    other = make_node(owner=node.owner)
    batch = series(node, 150) + series(other, 150)
    answers = together(posting(plain_key, lambda i: batch))
    assert_no_errors(answers)
    assert sum(m["accepted"] for _, m in answers) == 300
    assert all(m["accepted"] + m["duplicates"] == 300 for _, m in answers)
    assert Sample.objects.count() == 300


def test_overlapping_batches_in_different_orders_store_each_sample_once(plain_key, organization):
    nodes = [make_node(owner=organization) for _ in range(3)]
    rng = random.Random(7)
    batches = []
    for i in range(THREADS):
        # Each batch covers a window of every node's series that overlaps its
        # neighbours' windows, in an order of its own.
        batch = [sample(node, T0 + 60 * t, 500 + t) for node in nodes for t in range(40 * i, 40 * i + 120)]
        if i % 3 == 0:
            batch.reverse()
        elif i % 3 == 1:
            rng.shuffle(batch)
        batches.append(batch)
    expected = {
        (item["relationships"]["node"]["data"]["id"], item["attributes"]["timestamp_s"])
        for batch in batches
        for item in batch
    }

    answers = together(posting(plain_key, lambda i: batches[i]))

    assert_no_errors(answers)
    assert all(m["accepted"] + m["duplicates"] == len(batches[i]) for i, (_, m) in enumerate(answers))
    assert sum(m["accepted"] for _, m in answers) == len(expected)
    stored = {(str(node_id), int(ts.timestamp())) for node_id, ts in Sample.objects.values_list("node", "timestamp")}
    assert stored == expected
    assert Sample.objects.count() == len(expected)
    assert NodeFidelity.objects.filter(node__in=nodes, last_contact__isnull=False).count() == 3


def test_many_rounds_of_small_overlapping_batches_never_fail(plain_key, organization):
    nodes = [make_node(owner=organization) for _ in range(2)]
    for round_ in range(8):
        base = T0 + 3600 * round_

        def documents(i, base=base):
            batch = [sample(node, base + 60 * t, 700) for node in nodes for t in range(i, i + 4)]
            return batch[::-1] if i % 2 else batch

        answers = together(posting(plain_key, documents))
        assert_no_errors(answers)
        assert sum(m["accepted"] for _, m in answers) == 2 * (THREADS + 3)
    assert Sample.objects.count() == 8 * 2 * (THREADS + 3)


def test_racing_samples_with_different_values_store_one_and_refuse_the_rest(plain_key, node):
    for round_, single in enumerate([True, False, True, False]):
        timestamp = T0 + round_

        def documents(i, timestamp=timestamp, single=single):
            item = sample(node, timestamp, 800 + i)
            return item if single else [item]

        answers = together(posting(plain_key, documents))
        statuses = [status for status, _ in answers]
        assert sorted(statuses) == [201] + [409] * (THREADS - 1), answers
        winner = statuses.index(201)
        assert (
            Sample.objects.get(node=node, timestamp=datetime.fromtimestamp(timestamp, tz=UTC)).co2_ppm == 800 + winner
        )
    assert Sample.objects.count() == 4


def test_the_store_itself_may_be_called_from_racing_workers(plain_key, organization):
    nodes = [make_node(owner=organization) for _ in range(2)]
    key_hash = None if plain_key is None else hash_key(plain_key)

    def work(i):
        items = [sample(node, T0 + 60 * t, 600) for node in nodes for t in range(10 * i, 10 * i + 50)]
        result = store(validate(items[::-1] if i % 2 else items, False, max_future_s=300), key_hash, publish=False)
        return result.accepted, result.duplicates

    results = together(work)
    assert all(accepted + duplicates == 100 for accepted, duplicates in results)
    assert sum(accepted for accepted, _ in results) == Sample.objects.count() == 2 * (10 * (THREADS - 1) + 50)


class _Deadlock(Exception):
    sqlstate = "40P01"


def test_a_deadlock_is_retried_and_the_batch_stored(monkeypatch, ingest_key, node):
    real = store_module._store_postgresql
    attempts = []

    def deadlocking_twice(*args):
        attempts.append(1)
        if len(attempts) < 3:
            raise OperationalError("deadlock detected") from _Deadlock()
        return real(*args)

    monkeypatch.setattr(store_module, "_store_postgresql", deadlocking_twice)
    result = store(validate(series(node, 5), False, max_future_s=300), hash_key(ingest_key[1]), publish=False)
    assert (len(attempts), result.accepted) == (3, 5)
    assert Sample.objects.count() == 5
