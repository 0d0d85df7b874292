"""Storing validated batches exactly once. Every case runs twice on PostgreSQL:
through the one-statement PostgreSQL path and through the ORM path that
SQLite deployments take, which must behave the same."""

import uuid
from datetime import UTC, datetime

import pytest

from core.models import NodeFidelity, Sample
from core.tests.factories import make_installation, make_node, make_room
from ingest import store as store_module
from ingest.keys import ingest_key_revoke
from ingest.models import IngestKey, hash_key
from ingest.signals import PublishedSample
from ingest.store import store
from ingest.tests.conftest import T0, sample, series
from ingest.validation import IngestError, validate

pytestmark = pytest.mark.django_db

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["postgresql", "generic"])
def path(request, monkeypatch):
    """Which way ``store()`` writes: its own choice on PostgreSQL, or the ORM."""
    if request.param == "generic":
        monkeypatch.setattr(store_module, "_store_postgresql", store_module._store_generic)
    return request.param


@pytest.fixture
def key_hash(ingest_key):
    return hash_key(ingest_key[1])


def batch_of(items, single=False):
    return validate(items, single, max_future_s=300)


def refusal(batch, key_hash, publish=False) -> IngestError:
    with pytest.raises(IngestError) as caught:
        store(batch, key_hash, publish=publish)
    return caught.value


def pointers(exc: IngestError) -> list[str]:
    return [e["source"]["pointer"] for e in exc.errors]


def at(timestamp_s: int) -> datetime:
    return datetime.fromtimestamp(timestamp_s, tz=UTC)


def test_on_postgresql_store_takes_the_one_statement_path(monkeypatch, node, key_hash):
    calls = []
    monkeypatch.setattr(store_module, "_store_generic", lambda *args: calls.append(args))
    store(batch_of([sample(node)]), key_hash, publish=False)
    assert calls == []
    assert Sample.objects.count() == 1


# --- storing ----------------------------------------------------------------------------------------


def test_a_batch_is_stored(path, node, key_hash):
    result = store(batch_of(series(node, 20)), key_hash, publish=False)
    assert (result.accepted, result.duplicates) == (20, 0)
    rows = list(Sample.objects.filter(node=node).values_list("timestamp", "co2_ppm", "measurement_status"))
    assert rows == [(at(T0 + 60 * i), 600 + i, "M") for i in range(20)]


def test_a_single_sample_reports_the_stored_rows_id(path, node, key_hash):
    result = store(batch_of([sample(node, T0, 812, temperature_celsius=21.5)], single=True), key_hash, publish=False)
    row = Sample.objects.get()
    assert result.sample_id == row.pk
    assert (row.co2_ppm, row.temperature_celsius, row.rel_humidity_percent) == (812, 21.5, None)


def test_a_replayed_single_sample_reports_the_stored_rows_id(path, node, key_hash):
    first = store(batch_of([sample(node)], single=True), key_hash, publish=False)
    again = store(batch_of([sample(node)], single=True), key_hash, publish=False)
    assert (again.accepted, again.duplicates, again.sample_id) == (0, 1, first.sample_id)
    assert Sample.objects.count() == 1


def test_a_replayed_batch_is_all_duplicates(path, node, key_hash):
    store(batch_of(series(node, 10)), key_hash, publish=False)
    again = store(batch_of(series(node, 10)[::-1]), key_hash, publish=False)
    assert (again.accepted, again.duplicates) == (0, 10)
    assert Sample.objects.count() == 10


def test_a_partly_stored_batch_stores_the_rest(path, node, key_hash):
    store(batch_of(series(node, 10)[3:7]), key_hash, publish=False)
    result = store(batch_of(series(node, 10)), key_hash, publish=False)
    assert (result.accepted, result.duplicates) == (6, 4)
    assert Sample.objects.count() == 10


def test_repeats_inside_a_batch_count_as_duplicates(path, node, key_hash):
    items = series(node, 4) + series(node, 2)
    result = store(batch_of(items), key_hash, publish=False)
    assert (result.accepted, result.duplicates) == (4, 2)


def test_values_kept_as_real_are_duplicates_when_replayed(path, node, key_hash):
    item = sample(node, T0, 800, temperature_celsius=21.3, rel_humidity_percent=33.3)
    store(batch_of([item]), key_hash, publish=False)
    again = store(batch_of([item]), key_hash, publish=False)
    assert (again.accepted, again.duplicates) == (0, 1)


def test_the_same_timestamp_on_another_node_is_another_sample(path, node, key_hash):
    other = make_node(owner=node.owner)
    store(batch_of([sample(node)]), key_hash, publish=False)
    result = store(batch_of([sample(node), sample(other)]), key_hash, publish=False)
    assert (result.accepted, result.duplicates) == (1, 1)


# --- refusing ---------------------------------------------------------------------------------------


def test_other_values_for_a_stored_sample_are_a_conflict_and_nothing_is_stored(path, node, key_hash):
    store(batch_of([sample(node, T0, 800)]), key_hash, publish=False)
    items = series(node, 8, start=T0 + 60)
    items.insert(5, sample(node, T0, 801))
    exc = refusal(batch_of(items), key_hash)
    assert exc.status == 409
    assert pointers(exc) == ["/data/5"]
    assert list(Sample.objects.values_list("co2_ppm", flat=True)) == [800]


def test_a_conflict_points_at_the_request_item_not_the_row(path, node, key_hash):
    store(batch_of([sample(node, T0 + 600, 800)]), key_hash, publish=False)
    items = [sample(node, T0), sample(node, T0), sample(node, T0 + 60), sample(node, T0 + 600, 801)]
    assert pointers(refusal(batch_of(items), key_hash)) == ["/data/3"]


def test_every_conflicting_item_is_named(path, node, key_hash):
    store(batch_of(series(node, 5)), key_hash, publish=False)
    items = series(node, 5)
    items[1]["attributes"]["co2_ppm"] += 1
    items[3]["attributes"]["temperature_celsius"] = 20.0
    assert pointers(refusal(batch_of(items), key_hash)) == ["/data/1", "/data/3"]


def test_a_single_conflicting_sample_points_at_data(path, node, key_hash):
    store(batch_of([sample(node, T0, 800, rel_humidity_percent=40)]), key_hash, publish=False)
    exc = refusal(batch_of([sample(node, T0, 800, rel_humidity_percent=41)], single=True), key_hash)
    assert (exc.status, pointers(exc)) == (409, ["/data"])


def test_a_missing_value_is_not_the_same_as_a_stored_one(path, node, key_hash):
    store(batch_of([sample(node, T0, 800, temperature_celsius=20.0)]), key_hash, publish=False)
    assert refusal(batch_of([sample(node, T0, 800)]), key_hash).status == 409


def test_an_unknown_node_refuses_the_batch(path, node, key_hash):
    unknown = str(uuid.uuid4())
    items = series(node, 4) + [sample(unknown)]
    exc = refusal(batch_of(items), key_hash)
    assert exc.status == 422
    assert pointers(exc) == ["/data/4/relationships/node/data/id"]
    assert Sample.objects.count() == 0


def test_a_node_of_another_organization_is_refused_like_an_unknown_one(path, node, key_hash, other_organization):
    foreign = make_node(owner=other_organization)
    unknown = uuid.uuid4()
    foreign_exc = refusal(batch_of(series(node, 2) + [sample(foreign)]), key_hash)
    unknown_exc = refusal(batch_of(series(node, 2) + [sample(unknown)]), key_hash)
    assert foreign_exc.status == unknown_exc.status == 422
    assert [{**e, "detail": e["detail"].replace(str(foreign.pk), "?")} for e in foreign_exc.errors] == [
        {**e, "detail": e["detail"].replace(str(unknown), "?")} for e in unknown_exc.errors
    ]
    assert Sample.objects.count() == 0


def test_without_a_key_any_organizations_node_is_written(path, other_organization):
    foreign = make_node(owner=other_organization)
    assert store(batch_of([sample(foreign)]), None, publish=False).accepted == 1


def test_without_a_key_an_unknown_node_is_still_refused(path, node):
    assert refusal(batch_of([sample(node), sample(uuid.uuid4())]), None).status == 422


@pytest.mark.parametrize("single", [True, False])
def test_an_unknown_key_is_refused(path, node, single):
    exc = refusal(batch_of([sample(node)], single=single), hash_key("guessed"))
    assert exc.status == 401
    assert exc.headers["WWW-Authenticate"].startswith("Bearer")
    assert Sample.objects.count() == 0


@pytest.mark.parametrize("single", [True, False])
def test_a_revoked_key_is_refused(path, node, ingest_key, key_hash, single):
    ingest_key_revoke(ingest_key[0])
    assert refusal(batch_of([sample(node)], single=single), key_hash).status == 401
    assert Sample.objects.count() == 0


def test_the_keys_last_use_is_recorded(path, node, ingest_key, key_hash):
    IngestKey.objects.filter(pk=ingest_key[0].pk).update(last_used=LONG_AGO)
    store(batch_of([sample(node)]), key_hash, publish=False)
    assert IngestKey.objects.get(pk=ingest_key[0].pk).last_used > LONG_AGO


# --- last contact -------------------------------------------------------------------------------------


def test_stored_samples_move_each_nodes_last_contact_and_keep_its_fidelity(path, node, key_hash):
    other = make_node(owner=node.owner)
    NodeFidelity.objects.create(node=node, fidelity=NodeFidelity.Status.DEAD, last_contact=LONG_AGO)
    store(batch_of(series(node, 3) + series(other, 2)), key_hash, publish=False)
    fidelity = NodeFidelity.objects.get(node=node)
    assert fidelity.last_contact > LONG_AGO
    assert fidelity.fidelity == NodeFidelity.Status.DEAD
    assert NodeFidelity.objects.get(node=other).last_contact is not None


def test_a_refused_batch_leaves_the_last_contact(path, node, key_hash):
    store(batch_of([sample(node, T0 - 60, 700)]), key_hash, publish=False)
    NodeFidelity.objects.filter(node=node).update(last_contact=LONG_AGO)
    refusal(batch_of(series(node, 5) + [sample(node, T0 - 60, 701)]), key_hash)
    assert NodeFidelity.objects.get(node=node).last_contact == LONG_AGO


# --- what is published ----------------------------------------------------------------------------------

# 2024-01-01 and 2024-04-01.
JANUARY = datetime(2024, 1, 1, tzinfo=UTC)
APRIL = datetime(2024, 4, 1, tzinfo=UTC)
JANUARY_S, APRIL_S = int(JANUARY.timestamp()), int(APRIL.timestamp())


def published_rows(result) -> list[tuple]:
    return sorted((p.node_id, p.timestamp_s, p.installation_id) for p in result.published)


def test_samples_inside_a_public_installations_span_are_published(path, node, room, key_hash):
    public = make_installation(node, room, from_time=JANUARY, to_time=APRIL, is_public=True)
    items = [
        sample(node, JANUARY_S - 1),
        sample(node, JANUARY_S, 801, temperature_celsius=20.5),
        sample(node, APRIL_S - 1),
        sample(node, APRIL_S),
    ]
    result = store(batch_of(items), key_hash, publish=True)
    assert published_rows(result) == [
        (str(node.pk), JANUARY_S, public.pk),
        (str(node.pk), APRIL_S - 1, public.pk),
    ]
    first = min(result.published, key=lambda p: p.timestamp_s)
    row = Sample.objects.get(node=node, timestamp=JANUARY)
    assert first == PublishedSample(
        sample_id=row.pk,
        node_id=str(node.pk),
        installation_id=public.pk,
        timestamp_s=JANUARY_S,
        co2_ppm=801,
        temperature_celsius=20.5,
        rel_humidity_percent=None,
    )


def test_samples_of_a_private_installation_are_not_published(path, node, room, key_hash):
    make_installation(node, room, from_time=JANUARY, is_public=False)
    assert store(batch_of(series(node, 5)), key_hash, publish=True).published == []


def test_a_node_without_installation_publishes_nothing(path, node, key_hash):
    assert store(batch_of(series(node, 5)), key_hash, publish=True).published == []


def test_duplicates_are_not_published_again(path, node, room, key_hash):
    make_installation(node, room, from_time=JANUARY, is_public=True)
    store(batch_of(series(node, 3)), key_hash, publish=True)
    result = store(batch_of(series(node, 5)), key_hash, publish=True)
    assert [p.timestamp_s for p in sorted(result.published, key=lambda p: p.timestamp_s)] == [T0 + 180, T0 + 240]
    assert store(batch_of(series(node, 5)), key_hash, publish=True).published == []


def test_nothing_is_published_unless_asked(path, node, room, key_hash):
    make_installation(node, room, from_time=JANUARY, is_public=True)
    assert store(batch_of(series(node, 5)), key_hash, publish=False).published == []


def test_each_sample_is_published_with_the_installation_it_fell_into(path, organization, key_hash):
    # Two nodes, each moved once between rooms: four installations, and the
    # samples of one batch interleaved across all of them.
    nodes = [make_node(owner=organization) for _ in range(2)]
    rooms = [make_room(operator=organization) for _ in range(2)]
    installations = {}
    for n, node in enumerate(nodes):
        installations[node.pk, 0] = make_installation(node, rooms[n], from_time=JANUARY, to_time=APRIL, is_public=True)
        installations[node.pk, 1] = make_installation(node, rooms[1 - n], from_time=APRIL, is_public=True)
    items = []
    for i in range(40):
        node = nodes[i % 2]
        timestamp = (JANUARY_S if i % 4 < 2 else APRIL_S) + 3600 * i
        items.append(sample(node, timestamp, 500 + i))
    result = store(batch_of(items), key_hash, publish=True)
    assert len(result.published) == 40
    rows = {(str(s.node_id), int(s.timestamp.timestamp())): s.pk for s in Sample.objects.all()}
    for p in result.published:
        span = 0 if p.timestamp_s < APRIL_S else 1
        assert p.installation_id == installations[uuid.UUID(p.node_id), span].pk
        assert p.sample_id == rows[p.node_id, p.timestamp_s]
        assert p.co2_ppm == 500 + next(
            i
            for i, item in enumerate(items)
            if item["attributes"]["timestamp_s"] == p.timestamp_s
            and item["relationships"]["node"]["data"]["id"] == p.node_id
        )
