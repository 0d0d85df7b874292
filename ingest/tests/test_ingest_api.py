"""POST /ingest/v1/ingest/ as a gateway sees it: what is stored, what is
answered, and that every refusal is a JSON:API error that stores nothing."""

import json
import math
import random
import uuid
from datetime import UTC, datetime

import pytest
import time_machine
from django.test import Client

from core.limits import SAMPLE_LIMITS
from core.models import NodeFidelity, Sample
from core.tests.factories import make_node
from ingest.keys import ingest_key_create, ingest_key_revoke
from ingest.tests.conftest import INGEST_PATH, JSON_API, T0, Gateway, errors, meta, pointers, sample, series

pytestmark = pytest.mark.django_db

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def stored(node) -> list[tuple]:
    return list(
        Sample.objects.filter(node=node)
        .order_by("timestamp")
        .values_list(
            "timestamp",
            "co2_ppm",
            "temperature_celsius",
            "rel_humidity_percent",
        )
    )


def at(timestamp_s: int) -> datetime:
    return datetime.fromtimestamp(timestamp_s, tz=UTC)


def assert_refused(response, status: int, *expected_pointers: str):
    assert response.status_code == status, response.content
    found = pointers(response)
    for pointer in expected_pointers:
        assert pointer in found, (pointer, found)
    for e in errors(response):
        assert e["status"] == str(status) or status == 422


# --- what is stored and answered ---------------------------------------------------------------


def test_a_single_sample_is_stored_and_answered_as_a_sample(gateway, node):
    response = gateway.post(sample(node, T0, 812, temperature_celsius=21.5, rel_humidity_percent=40))
    assert response.status_code == 201
    assert response["Content-Type"] == JSON_API
    row = Sample.objects.get()
    assert response.json() == {
        "meta": {"accepted": 1, "duplicates": 0},
        "data": {
            "type": "Sample",
            "id": str(row.pk),
            "attributes": {
                "timestamp_s": T0,
                "co2_ppm": 812,
                "temperature_celsius": 21.5,
                "rel_humidity_percent": 40,
                "measurement_status": "M",
            },
            "relationships": {"node": {"data": {"type": "Node", "id": str(node.pk)}}},
        },
    }
    assert (
        row.node_id,
        row.timestamp,
        row.co2_ppm,
        row.temperature_celsius,
        row.rel_humidity_percent,
        row.measurement_status,
    ) == (node.pk, at(T0), 812, 21.5, 40.0, "M")


def test_temperature_and_humidity_are_optional(gateway, node):
    response = gateway.post(sample(node, T0, 500))
    assert response.status_code == 201
    attributes = response.json()["data"]["attributes"]
    assert attributes["temperature_celsius"] is None
    assert attributes["rel_humidity_percent"] is None
    assert stored(node) == [(at(T0), 500, None, None)]


def test_explicit_nulls_for_temperature_and_humidity_are_accepted(gateway, node):
    response = gateway.post(sample(node, T0, 500, temperature_celsius=None, rel_humidity_percent=None))
    assert response.status_code == 201
    assert stored(node) == [(at(T0), 500, None, None)]


def test_a_batch_is_stored_and_counted(gateway, node):
    other = make_node(owner=node.owner)
    response = gateway.post(series(node, 30) + series(other, 20))
    assert response.status_code == 201
    assert meta(response) == {"accepted": 50, "duplicates": 0}
    assert len(stored(node)) == 30
    assert len(stored(other)) == 20


def test_the_batch_answer_is_a_meta_document(gateway, node):
    response = gateway.post(series(node, 3))
    assert response["Content-Type"] == JSON_API
    assert "data" not in response.json()


def test_a_batch_of_one_is_a_batch(gateway, node):
    response = gateway.post([sample(node)])
    assert response.status_code == 201
    assert meta(response) == {"accepted": 1, "duplicates": 0}


def test_the_path_without_trailing_slash_works(gateway, node):
    response = gateway.post(sample(node), path=INGEST_PATH.rstrip("/"))
    assert response.status_code == 201
    assert len(stored(node)) == 1


def test_plain_json_is_accepted_for_gateways_that_send_no_other_type(gateway, node):
    assert gateway.post(sample(node), content_type="application/json").status_code == 201


@pytest.mark.parametrize("content_type", [f"{JSON_API}; charset=utf-8", f"{JSON_API}; ext=bulk"])
def test_json_api_with_a_permitted_parameter_is_accepted(gateway, node, content_type):
    assert gateway.post(sample(node), content_type=content_type).status_code == 201


# --- exactly once -----------------------------------------------------------------------------------


def test_a_replayed_sample_is_a_duplicate_of_the_stored_one(gateway, node):
    first = gateway.post(sample(node, T0, 800, temperature_celsius=21.3))
    again = gateway.post(sample(node, T0, 800, temperature_celsius=21.3))
    assert again.status_code == 200
    assert meta(again) == {"accepted": 0, "duplicates": 1}
    assert again.json()["data"]["id"] == first.json()["data"]["id"]
    assert len(stored(node)) == 1


def test_a_replayed_batch_is_all_duplicates(gateway, node):
    batch = series(node, 25)
    assert gateway.post(batch).status_code == 201
    again = gateway.post(batch)
    assert again.status_code == 200
    assert meta(again) == {"accepted": 0, "duplicates": 25}
    assert len(stored(node)) == 25


def test_a_replayed_batch_in_another_order_is_all_duplicates(gateway, node):
    batch = series(node, 25)
    gateway.post(batch)
    again = gateway.post(batch[::-1])
    assert (again.status_code, meta(again)) == (200, {"accepted": 0, "duplicates": 25})


def test_a_partly_stored_batch_stores_the_rest(gateway, node):
    batch = series(node, 10)
    gateway.post(batch[:4])
    response = gateway.post(batch)
    assert response.status_code == 201
    assert meta(response) == {"accepted": 6, "duplicates": 4}
    assert len(stored(node)) == 10


def test_a_stored_sample_sent_with_other_values_is_a_conflict(gateway, node):
    gateway.post(sample(node, T0, 800))
    response = gateway.post(sample(node, T0, 801))
    assert_refused(response, 409, "/data")
    assert stored(node) == [(at(T0), 800, None, None)]


def test_a_conflict_in_a_batch_names_the_item_and_stores_nothing_of_it(gateway, node):
    gateway.post(sample(node, T0, 800))
    batch = series(node, 10, start=T0 + 60)
    batch.insert(6, sample(node, T0, 900))
    response = gateway.post(batch)
    assert_refused(response, 409)
    assert pointers(response) == ["/data/6"]
    assert stored(node) == [(at(T0), 800, None, None)]


def test_adding_a_temperature_to_a_stored_sample_is_a_conflict(gateway, node):
    gateway.post(sample(node, T0, 800))
    assert gateway.post(sample(node, T0, 800, temperature_celsius=20.0)).status_code == 409


def test_a_conflict_points_at_the_item_also_after_repeated_items(gateway, node):
    gateway.post(sample(node, T0 + 600, 800))
    batch = [sample(node, T0), sample(node, T0), sample(node, T0 + 60), sample(node, T0 + 600, 801)]
    response = gateway.post(batch)
    assert (response.status_code, pointers(response)) == (409, ["/data/3"])


def test_a_repeated_item_inside_a_batch_is_counted_as_a_duplicate(gateway, node):
    batch = series(node, 5)
    batch.append(sample(node, T0 + 120, 602))  # the third item again
    response = gateway.post(batch)
    assert response.status_code == 201
    assert meta(response) == {"accepted": 5, "duplicates": 1}
    assert len(stored(node)) == 5


def test_a_repeated_item_with_other_values_inside_a_batch_is_a_conflict(gateway, node):
    batch = series(node, 5)
    batch.append(sample(node, T0 + 120, 999))
    response = gateway.post(batch)
    assert_refused(response, 409, "/data/5")
    assert stored(node) == []


def test_a_value_stored_as_real_is_still_a_duplicate_when_replayed(gateway, node):
    # 21.3 is kept as 21.299999237060547; the replay must not look different.
    item = sample(node, T0, 800, temperature_celsius=21.3, rel_humidity_percent=33.3)
    gateway.post([item])
    assert meta(gateway.post([item])) == {"accepted": 0, "duplicates": 1}


# --- refusals store nothing --------------------------------------------------------------------------


def test_one_bad_item_among_many_refuses_the_whole_batch(gateway, node):
    batch = series(node, 30)
    batch[17]["attributes"]["co2_ppm"] = 40_001
    response = gateway.post(batch)
    assert_refused(response, 422)
    assert pointers(response) == ["/data/17/attributes/co2_ppm"]
    assert stored(node) == []


def test_every_bad_item_is_named(gateway, node):
    batch = series(node, 30)
    batch[2]["attributes"]["timestamp_s"] = 1.5
    batch[17]["attributes"]["co2_ppm"] = "high"
    batch[29]["relationships"]["node"]["data"]["id"] = str(uuid.uuid4())
    response = gateway.post(batch)
    assert_refused(response, 422)
    assert pointers(response) == ["/data/2/attributes/timestamp_s", "/data/17/attributes/co2_ppm"]
    assert stored(node) == []


def test_an_unknown_node_is_unprocessable(gateway, node):
    response = gateway.post(sample(uuid.uuid4()))
    assert_refused(response, 422)
    assert pointers(response) == ["/data/relationships/node/data/id"]


def test_every_item_of_an_unknown_node_is_named_and_nothing_stored(gateway, node):
    unknown = str(uuid.uuid4())
    batch = series(node, 6)
    batch[1] = sample(unknown, T0)
    batch[4] = sample(unknown, T0 + 60)
    response = gateway.post(batch)
    assert_refused(response, 422)
    assert pointers(response) == ["/data/1/relationships/node/data/id", "/data/4/relationships/node/data/id"]
    assert Sample.objects.count() == 0


def _node_as_attribute(item):
    item["attributes"]["node"] = item.pop("relationships")["node"]["data"]["id"]


def _set(path: str, value):
    def mutate(item):
        *parents, last = path.split("/")
        target = item
        for name in parents:
            target = target[name]
        target[last] = value

    return mutate


def _delete(path: str):
    def mutate(item):
        *parents, last = path.split("/")
        target = item
        for name in parents:
            target = target[name]
        del target[last]

    return mutate


BAD_ITEMS = {
    "node_as_attribute": (_node_as_attribute, 422, "/attributes/node"),
    "node_not_a_uuid": (_set("relationships/node/data/id", "kitchen"), 422, "/relationships/node/data/id"),
    "missing_node": (_delete("relationships"), 422, "/relationships/node/data"),
    "missing_co2": (_delete("attributes/co2_ppm"), 422, "/attributes/co2_ppm"),
    "missing_timestamp": (_delete("attributes/timestamp_s"), 422, "/attributes/timestamp_s"),
    "float_timestamp": (_set("attributes/timestamp_s", T0 + 0.5), 422, "/attributes/timestamp_s"),
    "whole_float_timestamp": (_set("attributes/timestamp_s", float(T0)), 422, "/attributes/timestamp_s"),
    "string_timestamp": (_set("attributes/timestamp_s", str(T0)), 422, "/attributes/timestamp_s"),
    "timestamp_before_2000": (_set("attributes/timestamp_s", 946_684_799), 422, "/attributes/timestamp_s"),
    "timestamp_in_milliseconds": (_set("attributes/timestamp_s", T0 * 1000), 422, "/attributes/timestamp_s"),
    "string_co2": (_set("attributes/co2_ppm", "800"), 422, "/attributes/co2_ppm"),
    "fractional_co2": (_set("attributes/co2_ppm", 800.5), 422, "/attributes/co2_ppm"),
    "bool_co2": (_set("attributes/co2_ppm", True), 422, "/attributes/co2_ppm"),
    "bool_temperature": (_set("attributes/temperature_celsius", False), 422, "/attributes/temperature_celsius"),
    "bool_humidity": (_set("attributes/rel_humidity_percent", True), 422, "/attributes/rel_humidity_percent"),
    "bool_timestamp": (_set("attributes/timestamp_s", True), 422, "/attributes/timestamp_s"),
    "string_temperature": (_set("attributes/temperature_celsius", "21.3"), 422, "/attributes/temperature_celsius"),
    "unknown_attribute": (_set("attributes/pm25", 3), 422, "/attributes/pm25"),
    "attributes_not_an_object": (_set("attributes", [800]), 422, "/attributes"),
    "wrong_type": (_set("type", "Samples"), 409, "/type"),
    "missing_type": (_delete("type"), 409, "/type"),
    "wrong_node_type": (_set("relationships/node/data/type", "Nodes"), 409, "/relationships/node/data/type"),
}


@pytest.mark.parametrize("case", list(BAD_ITEMS))
def test_a_bad_single_sample_is_refused_and_not_stored(gateway, node, case):
    mutate, status, suffix = BAD_ITEMS[case]
    item = sample(node, T0, 800, temperature_celsius=21.0, rel_humidity_percent=40)
    mutate(item)
    response = gateway.post(item)
    assert_refused(response, status, "/data" + suffix)
    assert Sample.objects.count() == 0


@pytest.mark.parametrize("case", list(BAD_ITEMS))
def test_a_bad_item_in_a_batch_is_named_by_its_index(gateway, node, case):
    mutate, status, suffix = BAD_ITEMS[case]
    batch = series(node, 12, start=T0 + 3600)
    item = sample(node, T0, 800, temperature_celsius=21.0, rel_humidity_percent=40)
    mutate(item)
    batch.insert(9, item)
    response = gateway.post(batch)
    assert_refused(response, status, "/data/9" + suffix)
    assert Sample.objects.count() == 0


def _edges():
    for name, limit in SAMPLE_LIMITS.items():
        yield name, limit.minimum
        yield name, limit.maximum


def _just_outside():
    for name, limit in SAMPLE_LIMITS.items():
        if name == "co2_ppm":
            yield name, limit.minimum - 1
            yield name, limit.maximum + 1
        else:
            yield name, math.nextafter(limit.minimum, -math.inf)
            yield name, math.nextafter(limit.maximum, math.inf)


@pytest.mark.parametrize(("name", "value"), list(_edges()))
def test_both_edges_of_a_quantitys_range_are_stored(gateway, node, name, value):
    item = sample(node, T0, 800, temperature_celsius=20.0, rel_humidity_percent=50.0)
    item["attributes"][name] = value
    assert gateway.post([item]).status_code == 201
    assert Sample.objects.filter(**{name: value}).count() == 1


@pytest.mark.parametrize(("name", "value"), list(_just_outside()))
def test_a_value_just_outside_a_quantitys_range_is_refused(gateway, node, name, value):
    item = sample(node, T0, 800)
    item["attributes"][name] = value
    response = gateway.post(item)
    assert_refused(response, 422, f"/data/attributes/{name}")
    assert errors(response)[0]["code"] == "out_of_range"
    assert Sample.objects.count() == 0


@pytest.mark.parametrize("name", ["temperature_celsius", "rel_humidity_percent"])
def test_a_value_too_small_for_a_real_is_not_a_server_error(gateway, node, name):
    item = sample(node, T0, 800)
    item["attributes"][name] = 1e-50
    response = gateway.post([item])
    assert response.status_code in (201, 422)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("name", list(SAMPLE_LIMITS))
def test_nan_and_infinity_are_not_numbers(gateway, node, literal, name):
    item = sample(node, T0, 800)
    item["attributes"][name] = "PLACEHOLDER"
    body = json.dumps({"data": item})
    response = gateway.send(body.replace('"PLACEHOLDER"', literal))
    assert_refused(response, 400)
    assert Sample.objects.count() == 0


@pytest.mark.parametrize("name", list(SAMPLE_LIMITS))
def test_a_number_beyond_a_double_is_refused(gateway, node, name):
    item = sample(node, T0, 800)
    item["attributes"][name] = "PLACEHOLDER"
    body = json.dumps({"data": item})
    response = gateway.send(body.replace('"PLACEHOLDER"', "1e999"))
    assert_refused(response, 422, f"/data/attributes/{name}")


class TestTheServersClock:
    NOW = T0 + 86_400

    @pytest.fixture(autouse=True)
    def frozen(self, settings):
        settings.INGEST_MAX_FUTURE_S = 300
        with time_machine.travel(self.NOW, tick=False):
            yield

    def test_a_timestamp_up_to_the_allowed_lead_is_stored(self, gateway, node):
        assert gateway.post(sample(node, self.NOW + 300)).status_code == 201

    def test_a_timestamp_further_ahead_is_refused(self, gateway, node):
        response = gateway.post(sample(node, self.NOW + 301))
        assert_refused(response, 422, "/data/attributes/timestamp_s")
        assert Sample.objects.count() == 0

    def test_the_allowed_lead_is_a_setting(self, gateway, node, settings):
        settings.INGEST_MAX_FUTURE_S = 0
        assert gateway.post(sample(node, self.NOW)).status_code == 201
        assert gateway.post(sample(node, self.NOW + 1)).status_code == 422


# --- the request as a whole ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/xml", "application/x-www-form-urlencoded", f"{JSON_API}; version=1.1"]
)
def test_a_body_of_another_media_type_is_unsupported(gateway, node, content_type):
    response = gateway.post(sample(node), content_type=content_type)
    assert_refused(response, 415)
    assert Sample.objects.count() == 0


def test_form_data_is_unsupported(gateway, node, ingest_key):
    response = Client().post(INGEST_PATH, {"data": "x"}, HTTP_AUTHORIZATION=f"Bearer {ingest_key[1]}")
    assert_refused(response, 415)


@pytest.mark.parametrize("body", [b" ", b"{", b"{'data': {}}", b'{"data": [1, 2,]}', b"\xff\xfe", b"null x"])
def test_malformed_json_is_a_bad_request(gateway, body):
    assert_refused(gateway.send(body), 400)


@pytest.mark.parametrize(
    "document",
    [{}, {"samples": []}, {"data": []}, {"data": None}, {"data": "sample"}, {"data": 1}, [], [{"data": {}}], "data", 0],
)
def test_a_document_without_sample_data_is_a_bad_request(gateway, document):
    assert_refused(gateway.send(json.dumps(document)), 400)


def test_a_body_over_the_limit_is_too_large(gateway, node, settings):
    settings.INGEST_MAX_BODY_BYTES = 2048
    body = json.dumps({"data": series(node, 40)})
    assert len(body) > 2048
    response = gateway.send(body)
    assert_refused(response, 413)
    assert Sample.objects.count() == 0


def test_a_body_of_exactly_the_limit_is_read(gateway, node, settings):
    settings.INGEST_MAX_BODY_BYTES = 2048
    body = json.dumps({"data": series(node, 3)})
    assert gateway.send(body.ljust(2048)).status_code == 201
    assert gateway.send(body.ljust(2049)).status_code == 413


def test_a_batch_over_the_maximum_size_is_too_large(gateway, node, settings):
    settings.INGEST_MAX_BATCH_SIZE = 10
    assert gateway.post(series(node, 10)).status_code == 201
    response = gateway.post(series(node, 11, start=T0 + 3600))
    assert_refused(response, 413, "/data")
    assert len(stored(node)) == 10


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete", "options"])
def test_other_methods_are_not_allowed_and_list_nothing(gateway, node, method):
    gateway.post(sample(node))
    response = getattr(Client(), method)(INGEST_PATH, HTTP_AUTHORIZATION=f"Bearer {gateway.key}")
    assert_refused(response, 405)
    assert response["Allow"] == "POST"
    assert "data" not in response.json()


def test_get_without_trailing_slash_is_not_allowed_either(client):
    assert client.get(INGEST_PATH.rstrip("/")).status_code == 405


# --- authentication ------------------------------------------------------------------------------


def _assert_unauthenticated(response):
    assert_refused(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer ", "Token {key}", "Basic {key}", "{key}"])
def test_a_request_without_a_bearer_key_is_unauthenticated(gateway, node, authorization):
    extra = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization.format(key=gateway.key)}
    response = gateway.post(sample(node), key=None, **extra)
    _assert_unauthenticated(response)
    assert Sample.objects.count() == 0


def test_an_unknown_key_is_unauthenticated(gateway, node):
    _assert_unauthenticated(gateway.post(sample(node), key=gateway.key + "x"))
    _assert_unauthenticated(gateway.post(series(node, 3), key="not-a-key"))
    assert Sample.objects.count() == 0


def test_an_unknown_key_learns_nothing_about_a_bad_body(gateway, node):
    # 401, not the 422/400 a key holder would get: validation errors are for gateways with a key.
    _assert_unauthenticated(gateway.post(sample(node, co2_ppm=-1), key="not-a-key"))
    _assert_unauthenticated(gateway.send(b"{not json", key="not-a-key"))


def test_a_revoked_key_is_unauthenticated(gateway, ingest_key, node):
    ingest_key_revoke(ingest_key[0])
    _assert_unauthenticated(gateway.post(sample(node)))
    _assert_unauthenticated(gateway.post(series(node, 3)))
    assert Sample.objects.count() == 0


def test_the_bearer_scheme_is_case_insensitive(gateway, node):
    response = gateway.post(sample(node), key=None, HTTP_AUTHORIZATION=f"bearer {gateway.key}")
    assert response.status_code == 201


def test_a_node_of_another_organization_is_answered_like_an_unknown_node(gateway, other_organization):
    foreign = make_node(owner=other_organization)
    unknown = uuid.uuid4()
    foreign_answer = gateway.post(sample(foreign))
    unknown_answer = gateway.post(sample(unknown))
    assert foreign_answer.status_code == unknown_answer.status_code == 422
    assert foreign_answer.content.decode().replace(str(foreign.pk), "<id>") == unknown_answer.content.decode().replace(
        str(unknown), "<id>"
    )
    assert Sample.objects.count() == 0


def test_a_batch_mixing_own_and_foreign_nodes_stores_nothing(gateway, node, other_organization):
    foreign = make_node(owner=other_organization)
    batch = series(node, 5) + series(foreign, 2)
    response = gateway.post(batch)
    assert_refused(response, 422)
    assert pointers(response) == ["/data/5/relationships/node/data/id", "/data/6/relationships/node/data/id"]
    assert Sample.objects.count() == 0


def test_a_key_writes_its_organizations_nodes_only(node, other_organization):
    foreign = make_node(owner=other_organization)
    _, other_plain = ingest_key_create(other_organization, "their gateway")
    theirs = Gateway(Client(), other_plain)
    assert theirs.post(sample(foreign)).status_code == 201
    assert theirs.post(sample(node)).status_code == 422


def test_the_keys_last_use_is_recorded(gateway, ingest_key, node):
    key = ingest_key[0]
    assert key.last_used is None
    gateway.post(sample(node))
    key.refresh_from_db()
    assert key.last_used is not None


def test_a_long_unused_keys_last_use_moves_forward(gateway, ingest_key, node):
    key = ingest_key[0]
    type(key).objects.filter(pk=key.pk).update(last_used=LONG_AGO)
    gateway.post(series(node, 2))
    key.refresh_from_db()
    assert key.last_used > LONG_AGO


def test_without_authentication_no_key_is_needed_and_any_node_is_writable(open_gateway, node, other_organization):
    foreign = make_node(owner=other_organization)
    assert open_gateway.post(sample(node)).status_code == 201
    assert open_gateway.post(series(foreign, 3)).status_code == 201
    assert Sample.objects.count() == 4


def test_without_authentication_an_authorization_header_is_ignored(open_gateway, node):
    response = open_gateway.post(sample(node), key="whatever")
    assert response.status_code == 201


def test_without_authentication_an_unknown_node_is_still_unprocessable(open_gateway):
    assert_refused(open_gateway.post(sample(uuid.uuid4())), 422, "/data/relationships/node/data/id")


# --- last contact -------------------------------------------------------------------------------


def test_accepted_samples_set_the_nodes_last_contact(gateway, node):
    assert not NodeFidelity.objects.filter(node=node).exists()
    gateway.post(sample(node))
    assert NodeFidelity.objects.get(node=node).last_contact is not None


def test_accepted_samples_move_the_last_contact_forward_and_keep_the_fidelity(gateway, node):
    NodeFidelity.objects.create(node=node, fidelity=NodeFidelity.Status.MISSING, last_contact=LONG_AGO)
    gateway.post(series(node, 3))
    fidelity = NodeFidelity.objects.get(node=node)
    assert fidelity.last_contact > LONG_AGO
    assert fidelity.fidelity == NodeFidelity.Status.MISSING


def test_a_batch_moves_the_last_contact_of_each_of_its_nodes(gateway, node):
    other = make_node(owner=node.owner)
    gateway.post(series(node, 3) + series(other, 3))
    assert NodeFidelity.objects.filter(node__in=[node, other], last_contact__isnull=False).count() == 2


@pytest.mark.parametrize("spoil", ["conflict", "invalid", "foreign_node"])
def test_a_refused_batch_does_not_move_the_last_contact(gateway, node, other_organization, spoil):
    NodeFidelity.objects.create(node=node, last_contact=LONG_AGO)
    gateway.post(sample(node, T0 - 60, 700))
    NodeFidelity.objects.filter(node=node).update(last_contact=LONG_AGO)
    batch = series(node, 5)
    if spoil == "conflict":
        batch.append(sample(node, T0 - 60, 701))
    elif spoil == "invalid":
        batch.append(sample(node, T0 - 60, -1))
    else:
        batch.append(sample(make_node(owner=other_organization)))
    assert gateway.post(batch).status_code in (409, 422)
    assert NodeFidelity.objects.get(node=node).last_contact == LONG_AGO
    assert len(stored(node)) == 1


# --- never a server error ----------------------------------------------------------------------------


def _with(path: str, value):
    def build(node):
        item = sample(node, T0, 800, temperature_celsius=21.0, rel_humidity_percent=40.0)
        _set(path, value)(item)
        return json.dumps({"data": item})

    return build


GARBAGE = [
    pytest.param(lambda node: '{"data": {"type": "Sample"}}', id="bare_sample"),
    pytest.param(lambda node: '{"data": {"type": "Sample", "attributes": null, "relationships": null}}', id="nulls"),
    pytest.param(lambda node: '{"data": [null]}', id="list_of_null"),
    pytest.param(lambda node: '{"data": [[]]}', id="list_of_list"),
    pytest.param(lambda node: '{"data": {}}', id="empty_object"),
    pytest.param(lambda node: "[]", id="top_level_list"),
    pytest.param(lambda node: '"data"', id="top_level_string"),
    pytest.param(_with("attributes/timestamp_s", 2**63), id="timestamp_beyond_int8"),
    pytest.param(_with("attributes/timestamp_s", -(2**63) - 1), id="timestamp_below_int8"),
    pytest.param(_with("attributes/co2_ppm", 10**300), id="huge_co2"),
    pytest.param(_with("attributes/co2_ppm", 2**31), id="co2_beyond_int4"),
    pytest.param(_with("attributes/temperature_celsius", 10**300), id="huge_integer_temperature"),
    pytest.param(_with("attributes/temperature_celsius", 1e308), id="huge_float_temperature"),
    pytest.param(_with("attributes/rel_humidity_percent", -0.0), id="negative_zero_humidity"),
    pytest.param(_with("attributes/ü", 1), id="unicode_attribute"),
    pytest.param(_with("relationships/node/data/id", {"a": 1}), id="object_node_id"),
    pytest.param(_with("relationships/node/data/id", "f" * 10_000), id="long_node_id"),
    pytest.param(_with("relationships/node/data", [{"type": "Node"}]), id="list_node_data"),
    pytest.param(_with("relationships/node/data", {"type": "Node"}), id="node_without_id"),
    pytest.param(_with("id", "123"), id="client_generated_id"),
    pytest.param(_with("relationships/node", "x"), id="string_node"),
    pytest.param(_with("relationships/node", None), id="null_node"),
    pytest.param(_with("attributes/rel_humidity_percent", 1e-300), id="tiny_humidity"),
    pytest.param(_with("attributes/temperature_celsius", -1e-50), id="tiny_temperature"),
    pytest.param(lambda node: '{"data": ' + "[" * 50_000 + "]" * 50_000 + "}", id="deep_nesting"),
]


@pytest.mark.parametrize("build", GARBAGE)
def test_garbage_is_answered_with_a_client_error_never_a_server_error(ingest_key, node, build):
    response = Gateway(Client(raise_request_exception=False), ingest_key[1]).send(build(node))
    assert response.status_code < 500
    if response.status_code >= 400:
        assert errors(response)


def test_a_document_with_other_top_level_members_is_accepted(gateway, node):
    body = json.dumps({"data": sample(node), "meta": {"gateway": "roof"}, "jsonapi": {"version": "1.1"}})
    assert gateway.send(body).status_code == 201


NASTY_VALUES = [
    None,
    True,
    False,
    0,
    -1,
    1,
    2**31,
    2**63,
    -(2**63) - 1,
    2**64,
    10**300,
    0.5,
    -0.0,
    1e-300,
    1e300,
    "",
    "0",
    "NaN",
    "\x00",
    "ü" * 3,
    "a" * 5000,
    [],
    [None],
    {},
    {"type": "Node"},
    {"data": None},
    str(uuid.UUID(int=0)),
]


def _nasty(rng: random.Random, depth: int = 0):
    if depth < 2 and rng.random() < 0.2:
        if rng.random() < 0.5:
            return [_nasty(rng, depth + 1) for _ in range(rng.randint(0, 3))]
        return {
            rng.choice(["type", "id", "data", "node", "attributes", "x"]): _nasty(rng, depth + 1)
            for _ in range(rng.randint(0, 3))
        }
    return rng.choice(NASTY_VALUES)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


def _mutated(document, rng: random.Random):
    document = json.loads(json.dumps(document))
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(list(_paths(document)))
        if not path:
            document = _nasty(rng)
            continue
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        if rng.random() < 0.2 and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = _nasty(rng)
    return document


@pytest.mark.django_db(transaction=True)
def test_random_garbage_is_answered_with_a_client_error_never_a_server_error(ingest_key, node):
    gateway = Gateway(Client(raise_request_exception=False), ingest_key[1])
    rng = random.Random(20240309)
    valid = [
        {"data": sample(node, T0, 800, temperature_celsius=21.0, rel_humidity_percent=40.0)},
        {"data": series(node, 3)},
    ]
    server_errors = []
    for i in range(400):
        document = _mutated(valid[i % 2], rng)
        response = gateway.send(json.dumps(document))
        if response.status_code >= 500:
            server_errors.append(document)
        elif response.status_code >= 400:
            assert errors(response), document
    assert server_errors == [], f"{len(server_errors)} answered 500, e.g. {json.dumps(server_errors[0])[:500]}"
