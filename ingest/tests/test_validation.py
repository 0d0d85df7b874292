"""Parsing and validating ingest documents, without a database: what a gateway
gets told about each bad item before anything is stored."""

import json
import math
import uuid

import pytest

from core.limits import SAMPLE_LIMITS
from ingest.tests.conftest import T0, sample
from ingest.validation import EARLIEST_TIMESTAMP_S, IngestError, parse, same_values, status_of, validate

NODE = str(uuid.uuid4())
OTHER_NODE = str(uuid.uuid4())
NOW = T0 + 3600
MAX_FUTURE_S = 300


def check(items, single=False):
    return validate(items, single, max_future_s=MAX_FUTURE_S, now=NOW)


def refusal(items, single=False) -> IngestError:
    with pytest.raises(IngestError) as caught:
        check(items, single)
    return caught.value


def refused_pointers(items, single=False) -> list[str]:
    return [e["source"]["pointer"] for e in refusal(items, single).errors]


def with_attributes(**attributes) -> dict:
    item = sample(NODE)
    item["attributes"].update(attributes)
    return item


def without_attribute(name: str) -> dict:
    item = sample(NODE)
    del item["attributes"][name]
    return item


def body(data) -> bytes:
    return json.dumps({"data": data}).encode()


# --- parse ----------------------------------------------------------------------------------


def test_a_single_object_is_one_item_marked_single():
    items, single = parse(body(sample(NODE)), max_batch_size=10)
    assert single is True
    assert items == [sample(NODE)]


def test_a_list_is_a_batch():
    items, single = parse(body([sample(NODE), sample(OTHER_NODE)]), max_batch_size=10)
    assert single is False
    assert len(items) == 2


def test_a_batch_of_exactly_the_maximum_size_is_parsed():
    items, _ = parse(body([sample(NODE, T0 + i) for i in range(5)]), max_batch_size=5)
    assert len(items) == 5


def test_a_batch_over_the_maximum_size_is_too_large():
    exc = _parse_refusal(body([sample(NODE, T0 + i) for i in range(6)]), max_batch_size=5)
    assert exc.status == 413
    assert exc.errors[0]["source"]["pointer"] == "/data"
    assert "at most 5" in exc.errors[0]["detail"]


@pytest.mark.parametrize("raw", [b"", b"{", b'{"data": [}', b"not json", b'{"data": {}}}', b"\xff\xfe\x00garbage"])
def test_malformed_json_is_a_parse_error(raw):
    exc = _parse_refusal(raw)
    assert exc.status == 400
    assert exc.errors[0]["code"] == "parse_error"


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_literals_are_not_json(literal):
    raw = json.dumps({"data": sample(NODE)}).replace('"co2_ppm": 800', f'"co2_ppm": {literal}').encode()
    assert literal.encode() in raw
    assert _parse_refusal(raw).status == 400


@pytest.mark.parametrize("document", [[], [{"data": {}}], "data", 42, None, {}, {"samples": []}])
def test_a_document_that_is_not_an_object_with_data_is_refused(document):
    exc = _parse_refusal(json.dumps(document).encode())
    assert exc.status == 400
    assert exc.errors[0]["source"]["pointer"] == ""


@pytest.mark.parametrize("data", [[], None, "sample", 7, True])
def test_data_must_be_an_object_or_a_non_empty_list(data):
    exc = _parse_refusal(body(data))
    assert exc.status == 400
    assert exc.errors[0]["source"]["pointer"] == "/data"


def test_deeply_nested_json_is_refused_not_crashed():
    depth = 100_000
    raw = b'{"data": ' + b"[" * depth + b"]" * depth + b"}"
    assert _parse_refusal(raw).status == 400


def _parse_refusal(raw: bytes, max_batch_size: int = 100) -> IngestError:
    with pytest.raises(IngestError) as caught:
        parse(raw, max_batch_size)
    return caught.value


# --- a valid sample -----------------------------------------------------------------------------


def test_a_valid_sample_becomes_one_row():
    batch = check([sample(NODE, T0, 812, temperature_celsius=21.3, rel_humidity_percent=40)])
    assert len(batch) == 1
    assert batch.row(0) == (NODE, T0, 812, 21.3, 40.0)
    assert batch.index == [0]
    assert batch.repeated == 0


def test_temperature_and_humidity_are_optional():
    batch = check([sample(NODE), sample(NODE, T0 + 1, temperature_celsius=None, rel_humidity_percent=None)])
    assert batch.temperature_celsius == [None, None]
    assert batch.rel_humidity_percent == [None, None]


@pytest.mark.parametrize("spelling", [NODE.upper(), NODE.replace("-", ""), f"urn:uuid:{NODE}"])
def test_a_node_id_is_normalized_to_the_canonical_uuid(spelling):
    assert check([sample(spelling)]).node == [NODE]


def test_a_whole_number_written_as_float_is_an_integer_co2():
    batch = check([sample(NODE, co2_ppm=800.0)])
    assert batch.co2_ppm == [800]
    assert type(batch.co2_ppm[0]) is int


def test_an_integer_temperature_is_a_float():
    assert check([sample(NODE, temperature_celsius=21)]).temperature_celsius == [21.0]


# --- bad values -------------------------------------------------------------------------------


def test_a_missing_co2_is_refused():
    exc = refusal([without_attribute("co2_ppm")], single=True)
    assert exc.status == 422
    assert [e["source"]["pointer"] for e in exc.errors] == ["/data/attributes/co2_ppm"]


def test_a_missing_timestamp_is_refused():
    assert refused_pointers([without_attribute("timestamp_s")]) == ["/data/0/attributes/timestamp_s"]


@pytest.mark.parametrize("timestamp", [float(T0), T0 + 0.5, str(T0), "2024-03-09T16:00:00Z", True, [T0], {"s": T0}])
def test_a_timestamp_that_is_not_an_integer_is_refused(timestamp):
    exc = refusal([sample(NODE, timestamp)])
    assert exc.status == 422
    assert exc.errors[0]["source"]["pointer"] == "/data/0/attributes/timestamp_s"


def test_the_first_second_of_2000_is_accepted():
    assert check([sample(NODE, EARLIEST_TIMESTAMP_S)]).timestamp_s == [946_684_800]


@pytest.mark.parametrize("timestamp", [EARLIEST_TIMESTAMP_S - 1, 0, -1, (T0 - 1) // 1000])
def test_a_timestamp_before_2000_is_refused(timestamp):
    exc = refusal([sample(NODE, timestamp)])
    assert exc.status == 422
    assert exc.errors[0]["code"] == "implausible"


def test_a_timestamp_in_milliseconds_is_refused_as_the_far_future():
    exc = refusal([sample(NODE, T0 * 1000)])
    assert exc.status == 422
    assert exc.errors[0]["source"]["pointer"] == "/data/0/attributes/timestamp_s"


def test_a_timestamp_up_to_the_allowed_lead_is_accepted():
    assert check([sample(NODE, NOW + MAX_FUTURE_S)]).timestamp_s == [NOW + MAX_FUTURE_S]


def test_a_timestamp_further_ahead_than_allowed_is_refused():
    exc = refusal([sample(NODE, NOW + MAX_FUTURE_S + 1)])
    assert exc.status == 422
    assert "ahead" in exc.errors[0]["detail"]


def test_without_a_lead_a_timestamp_of_now_is_the_latest_accepted():
    assert validate([sample(NODE, NOW)], False, max_future_s=0, now=NOW).timestamp_s == [NOW]
    with pytest.raises(IngestError):
        validate([sample(NODE, NOW + 1)], False, max_future_s=0, now=NOW)


def _edges(name):
    limit = SAMPLE_LIMITS[name]
    return [(name, limit.minimum), (name, limit.maximum)]


def _just_outside(name):
    limit = SAMPLE_LIMITS[name]
    if name == "co2_ppm":  # whole numbers only
        return [(name, limit.minimum - 1), (name, limit.maximum + 1)]
    return [(name, math.nextafter(limit.minimum, -math.inf)), (name, math.nextafter(limit.maximum, math.inf))]


@pytest.mark.parametrize(("name", "value"), [e for name in SAMPLE_LIMITS for e in _edges(name)])
def test_both_edges_of_a_quantitys_range_are_accepted(name, value):
    batch = check([with_attributes(**{name: value})])
    assert getattr(batch, name) == [value]


@pytest.mark.parametrize(("name", "value"), [e for name in SAMPLE_LIMITS for e in _just_outside(name)])
def test_a_value_just_outside_a_quantitys_range_is_refused(name, value):
    exc = refusal([with_attributes(**{name: value})])
    assert exc.status == 422
    assert exc.errors[0]["code"] == "out_of_range"
    assert exc.errors[0]["source"]["pointer"] == f"/data/0/attributes/{name}"


@pytest.mark.parametrize("name", list(SAMPLE_LIMITS))
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_a_non_finite_value_is_refused(name, value):
    exc = refusal([with_attributes(**{name: value})])
    assert exc.status == 422
    assert exc.errors[0]["source"]["pointer"] == f"/data/0/attributes/{name}"


def test_a_number_too_large_for_a_double_is_refused():
    # Python's json reads 1e400 as infinity; it is a legal JSON number.
    raw = json.dumps({"data": [sample(NODE)]}).replace('"co2_ppm": 800', '"co2_ppm": 1e400')
    items, _ = parse(raw.encode(), 10)
    assert refusal(items).status == 422


@pytest.mark.parametrize("name", list(SAMPLE_LIMITS))
@pytest.mark.parametrize("value", [True, False, "800", [800], {"value": 800}])
def test_a_value_that_is_not_a_number_is_refused(name, value):
    exc = refusal([with_attributes(**{name: value})])
    assert exc.status == 422
    assert exc.errors[0]["code"] == "invalid"


def test_a_fractional_co2_is_refused():
    assert refusal([sample(NODE, co2_ppm=800.5)]).errors[0]["code"] == "invalid"


def test_a_node_given_as_attribute_is_explained():
    item = sample(NODE)
    del item["relationships"]
    item["attributes"]["node"] = NODE
    exc = refusal([item], single=True)
    assert exc.status == 422
    by_pointer = {e["source"]["pointer"]: e for e in exc.errors}
    assert "relationship" in by_pointer["/data/attributes/node"]["detail"]
    assert "/data/relationships/node/data" in by_pointer


def test_an_unknown_attribute_is_refused():
    assert refused_pointers([with_attributes(co2=800)]) == ["/data/0/attributes/co2"]


@pytest.mark.parametrize("node_id", ["", "node-7", "1234", 42, None, ["x"]])
def test_a_node_id_that_is_no_uuid_is_an_unknown_node(node_id):
    exc = refusal([sample(node_id)])
    assert exc.status == 422
    assert exc.errors[0]["code"] == "not_found"
    assert exc.errors[0]["source"]["pointer"] == "/data/0/relationships/node/data/id"


@pytest.mark.parametrize("relationships", [None, {}, {"node": {}}, {"node": {"data": None}}, "node", [NODE]])
def test_a_sample_without_a_node_is_refused(relationships):
    item = sample(NODE)
    item["relationships"] = relationships
    exc = refusal([item])
    assert exc.status == 422
    assert exc.errors[0]["source"]["pointer"] == "/data/0/relationships/node/data"


@pytest.mark.parametrize("node", ["x", None, [], 7])
def test_a_node_relationship_that_is_not_an_object_is_refused(node):
    item = sample(NODE)
    item["relationships"] = {"node": node}
    assert refusal([item]).status == 422


@pytest.mark.parametrize("type_", ["Samples", "sample", "Node", None, 1])
def test_a_wrong_type_is_a_conflict(type_):
    item = sample(NODE)
    item["type"] = type_
    exc = refusal([item], single=True)
    assert exc.status == 409
    assert [e["source"]["pointer"] for e in exc.errors] == ["/data/type"]


def test_a_missing_type_is_a_conflict():
    item = sample(NODE)
    del item["type"]
    assert refusal([item]).status == 409


@pytest.mark.parametrize("type_", ["Nodes", "Sample", None])
def test_a_wrong_node_type_is_a_conflict(type_):
    item = sample(NODE)
    item["relationships"]["node"]["data"]["type"] = type_
    exc = refusal([item])
    assert exc.status == 409
    assert exc.errors[0]["source"]["pointer"] == "/data/0/relationships/node/data/type"


@pytest.mark.parametrize("item", [None, 1, "sample", [1, 2]])
def test_an_item_that_is_not_an_object_is_refused(item):
    exc = refusal([sample(NODE), item])
    assert exc.status == 422
    assert exc.errors[0]["source"]["pointer"] == "/data/1"


@pytest.mark.parametrize("attributes", [None, [], "co2", 800])
def test_attributes_that_are_not_an_object_are_refused(attributes):
    item = sample(NODE)
    item["attributes"] = attributes
    assert "/data/0/attributes" in refused_pointers([item])


# --- a whole batch ------------------------------------------------------------------------------


def test_every_bad_item_of_a_batch_is_named():
    items = [sample(NODE, T0 + i) for i in range(20)]
    items[3]["attributes"]["timestamp_s"] = "yesterday"
    items[17]["attributes"]["co2_ppm"] = -5
    items[19]["attributes"]["rel_humidity_percent"] = 101
    exc = refusal(items)
    assert exc.status == 422
    assert [e["source"]["pointer"] for e in exc.errors] == [
        "/data/3/attributes/timestamp_s",
        "/data/17/attributes/co2_ppm",
        "/data/19/attributes/rel_humidity_percent",
    ]


def test_every_problem_of_one_item_is_named():
    item = sample("no-node", 5, -1, temperature_celsius=99)
    assert set(refused_pointers([item], single=True)) == {
        "/data/attributes/timestamp_s",
        "/data/attributes/co2_ppm",
        "/data/attributes/temperature_celsius",
        "/data/relationships/node/data/id",
    }


def test_errors_are_json_api_error_objects():
    for e in refusal([sample(NODE, co2_ppm=-1), {"type": "Samples"}]).errors:
        assert set(e) == {"status", "code", "title", "detail", "source"}
        assert e["status"] in {"409", "422"}


def test_a_repeated_item_with_the_same_values_is_counted_once():
    items = [
        sample(NODE, T0, 800, temperature_celsius=21.3),
        sample(NODE, T0 + 60),
        sample(NODE, T0, 800, temperature_celsius=21.3),
    ]
    batch = check(items)
    assert len(batch) == 2
    assert batch.repeated == 1
    assert batch.index == [0, 1]


def test_a_repeat_that_differs_only_beyond_what_is_stored_is_the_same_sample():
    items = [sample(NODE, temperature_celsius=21.3), sample(NODE, temperature_celsius=21.300000001)]
    assert check(items).repeated == 1


def test_a_repeated_item_with_other_values_is_a_conflict_naming_it():
    items = [sample(NODE, T0, 800), sample(OTHER_NODE, T0, 800), sample(NODE, T0, 801)]
    exc = refusal(items)
    assert exc.status == 409
    assert [e["source"]["pointer"] for e in exc.errors] == ["/data/2"]
    assert "item 0" in exc.errors[0]["detail"]


def test_a_conflict_after_an_unusual_but_valid_item_names_the_conflicting_item():
    # Item 0 is valid but spelled unusually (co2 as 800.0).
    items = [sample(NODE, T0 - 60, 800.0), sample(NODE, T0, 800), sample(NODE, T0, 801)]
    assert refused_pointers(items) == ["/data/2"]


def test_a_repeat_adding_a_temperature_is_a_conflict():
    assert refusal([sample(NODE), sample(NODE, temperature_celsius=20)]).status == 409


def test_the_same_timestamp_on_two_nodes_is_two_samples():
    assert len(check([sample(NODE), sample(OTHER_NODE)])) == 2


def test_rows_remember_their_position_after_a_repeat():
    items = [sample(NODE, T0), sample(NODE, T0), sample(NODE, T0 + 1)]
    assert check(items).index == [0, 2]


def test_a_conflict_together_with_an_invalid_item_is_unprocessable():
    items = [sample(NODE), sample(NODE, co2_ppm=900), sample(NODE, T0 + 1, co2_ppm=-1)]
    exc = refusal(items)
    assert exc.status == 422
    assert [e["status"] for e in exc.errors] == ["409", "422"]


def test_the_status_is_a_conflict_only_when_every_error_is_one():
    assert status_of([{"status": "409"}, {"status": "409"}]) == 409
    assert status_of([{"status": "409"}, {"status": "422"}]) == 422


def test_values_are_compared_as_the_database_stores_them():
    assert same_values((NODE, T0, 800, 21.3, None), (NODE, T0, 800, 21.300000001, None))
    assert not same_values((NODE, T0, 800, 21.3, None), (NODE, T0, 800, 21.4, None))
    assert not same_values((NODE, T0, 800, None, 40.0), (NODE, T0, 800, 0.0, 40.0))
    assert not same_values((NODE, T0, 800, None, None), (NODE, T0, 801, None, None))
