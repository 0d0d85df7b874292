"""What a gateway may send: parsing and validating an ingest document.

The whole batch is checked in plain Python before anything touches the
database (a DRF serializer per sample costs more than the insert). The rules
mirror the database's: value ranges come from ``core.limits``, the one table
the check constraints are built from. What only the database knows — whether
a node exists and belongs to the key's organization, whether a sample is
already stored — is checked by ``ingest.store``.
"""

import json
import math
import struct
import time
import uuid
from dataclasses import dataclass, field

from core.limits import SAMPLE_LIMITS

#: 2000-01-01T00:00:00Z: no sensor network sent anything earlier; a smaller
#: value is a gateway that sends milliseconds, or an unset clock.
EARLIEST_TIMESTAMP_S = 946_684_800

ATTRIBUTES = ("timestamp_s", "co2_ppm", "temperature_celsius", "rel_humidity_percent")
_LIMITS = {name: SAMPLE_LIMITS[name] for name in ATTRIBUTES[1:]}


class IngestError(Exception):
    """A refused request: an HTTP status and JSON:API error objects."""

    def __init__(self, status: int, errors: list[dict], headers: dict | None = None):
        super().__init__(errors[0]["detail"] if errors else str(status))
        self.status = status
        self.errors = errors
        self.headers = headers or {}


def error(status: int, code: str, title: str, detail: str, pointer: str | None = None) -> dict:
    document = {"status": str(status), "code": code, "title": title, "detail": detail}
    if pointer is not None:
        document["source"] = {"pointer": pointer}
    return document


@dataclass(slots=True)
class Batch:
    """Validated samples as columns, ready for one array-parameter INSERT.

    ``index`` maps each row to its position in the request's ``data`` list,
    so that the store can point errors at the item they concern.
    """

    single: bool
    index: list[int] = field(default_factory=list)
    node: list[str] = field(default_factory=list)
    timestamp_s: list[int] = field(default_factory=list)
    co2_ppm: list[int] = field(default_factory=list)
    temperature_celsius: list[float | None] = field(default_factory=list)
    rel_humidity_percent: list[float | None] = field(default_factory=list)
    #: Repeats of an earlier item of the same request with the same values.
    repeated: int = 0

    def __len__(self) -> int:
        return len(self.index)

    def row(self, i: int) -> tuple:
        return (
            self.node[i],
            self.timestamp_s[i],
            self.co2_ppm[i],
            self.temperature_celsius[i],
            self.rel_humidity_percent[i],
        )


def _refuse_constant(name: str):
    # json.loads accepts NaN and Infinity, which are not JSON.
    raise ValueError(f"{name} is not a JSON number")


def parse(body: bytes, max_batch_size: int) -> tuple[list, bool]:
    """The request's items and whether it sent a single object."""
    try:
        document = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise IngestError(
            400, [error(400, "parse_error", "Malformed JSON", f"The body is not valid JSON: {exc}")]
        ) from None
    except RecursionError:
        raise IngestError(
            400, [error(400, "parse_error", "Malformed JSON", "The body is nested too deeply.")]
        ) from None
    if not isinstance(document, dict) or "data" not in document:
        raise IngestError(
            400,
            [
                error(
                    400,
                    "invalid",
                    "Not a JSON:API document",
                    'The body must be an object with "data": one Sample object or a list of them.',
                    "",
                )
            ],
        )
    data = document["data"]
    if isinstance(data, dict):
        return [data], True
    if not isinstance(data, list) or not data:
        raise IngestError(
            400,
            [
                error(
                    400,
                    "invalid",
                    "Invalid data",
                    '"data" must be a Sample object or a non-empty list of them.',
                    "/data",
                )
            ],
        )
    if len(data) > max_batch_size:
        raise IngestError(
            413,
            [
                error(
                    413,
                    "too_many_samples",
                    "Batch too large",
                    f"A request may carry at most {max_batch_size} samples; this one has {len(data)}. Split it.",
                    "/data",
                )
            ],
        )
    return data, False


def _float32(value: float | None) -> float | None:
    # What a ``real`` column keeps of the value: repeats are compared as stored.
    return None if value is None else struct.unpack("f", struct.pack("f", value))[0]


def validate(items: list, single: bool, *, max_future_s: int, now: float | None = None) -> Batch:
    """Check every item; raise one ``IngestError`` listing all problems."""
    now_s = int(now if now is not None else time.time())
    latest = (now_s, now_s + max_future_s)
    batch = Batch(single=single)
    errors: list[dict] = []
    first_seen: dict[tuple[str, int], int] = {}
    node_ids: dict[str, str] = {}
    for i, item in enumerate(items):
        base = "/data" if single else f"/data/{i}"
        sample = _valid_sample(item, latest[1], node_ids)
        if sample is None:
            sample = _validate_item(item, base, latest, errors)
            if sample is None:
                continue
        key = (sample[0], sample[1])
        earlier = first_seen.get(key)
        if earlier is not None:
            if same_values(batch.row(earlier), sample):
                batch.repeated += 1
            else:
                errors.append(
                    error(
                        409,
                        "conflict",
                        "Conflicting sample",
                        f"Item {i} has the node and timestamp of item {batch.index[earlier]} with other values.",
                        base,
                    )
                )
            continue
        first_seen[key] = len(batch.index)
        batch.index.append(i)
        batch.node.append(sample[0])
        batch.timestamp_s.append(sample[1])
        batch.co2_ppm.append(sample[2])
        batch.temperature_celsius.append(sample[3])
        batch.rel_humidity_percent.append(sample[4])
    if errors:
        raise IngestError(status_of(errors), errors)
    return batch


def status_of(errors: list[dict]) -> int:
    """409 when every problem is a conflict (wrong type, differing repeat), else 422."""
    return 409 if all(e["status"] == "409" for e in errors) else 422


def same_values(stored: tuple, sample: tuple) -> bool:
    return (
        stored[2] == sample[2]
        and _float32(stored[3]) == _float32(sample[3])
        and _float32(stored[4]) == _float32(sample[4])
    )


_ATTRIBUTE_SET = frozenset(ATTRIBUTES)
_CO2, _TEMPERATURE, _HUMIDITY = (_LIMITS[name] for name in ATTRIBUTES[1:])


def _valid_sample(item, latest_s: int, node_ids: dict[str, str]) -> tuple | None:
    """The sample if ``item`` is a well-formed one, else ``None``.

    The common case, checked in as few steps as Python allows (a 10,000-sample
    batch spends more time here than in the database); anything unusual
    goes to ``_validate_item``, which is the rules' readable statement and
    says what is wrong.
    """
    try:
        attributes = item["attributes"]
        timestamp = attributes["timestamp_s"]
        co2 = attributes["co2_ppm"]
        temperature = attributes.get("temperature_celsius")
        humidity = attributes.get("rel_humidity_percent")
        node = item["relationships"]["node"]["data"]
        raw_id = node["id"]
        if (
            item["type"] != "Sample"
            or node["type"] != "Node"
            or not attributes.keys() <= _ATTRIBUTE_SET
            or type(timestamp) is not int
            or not EARLIEST_TIMESTAMP_S <= timestamp <= latest_s
            or type(co2) is not int
            or not _CO2.minimum <= co2 <= _CO2.maximum
            or (
                temperature is not None
                and (
                    type(temperature) not in (float, int)
                    or not _TEMPERATURE.minimum <= temperature <= _TEMPERATURE.maximum
                )
            )
            or (
                humidity is not None
                and (type(humidity) not in (float, int) or not _HUMIDITY.minimum <= humidity <= _HUMIDITY.maximum)
            )
        ):
            return None
        node_id = node_ids.get(raw_id)
        if node_id is None:
            node_id = node_ids[raw_id] = str(uuid.UUID(raw_id))
    except (KeyError, TypeError, AttributeError, ValueError):
        return None
    return node_id, timestamp, co2, _storable(temperature), _storable(humidity)


def _storable(value: float | int | None) -> float | None:
    # Magnitudes below a millionth are zero to any sensor, and below about
    # 1e-38 a ``real`` column refuses them (underflow) instead of storing 0.
    if value is None:
        return None
    return 0.0 if abs(value) < 1e-6 else float(value)


def _validate_item(item, base: str, latest: tuple[int, int], errors: list[dict]) -> tuple | None:
    if not isinstance(item, dict):
        errors.append(error(422, "invalid", "Invalid sample", "A sample must be a JSON object.", base))
        return None
    if item.get("type") != "Sample":
        errors.append(
            error(
                409,
                "type_conflict",
                "Wrong type",
                f'The type must be "Sample", not {item.get("type")!r}.',
                f"{base}/type",
            )
        )
        return None
    count = len(errors)
    attributes = item.get("attributes")
    if not isinstance(attributes, dict):
        errors.append(error(422, "required", "Missing attributes", "A sample needs attributes.", f"{base}/attributes"))
        attributes = {}
    for name in attributes.keys() - set(ATTRIBUTES):
        if name in ("node", "node_id"):
            detail = "The node is a relationship: relationships.node.data = {type: Node, id: <uuid>}."
        else:
            detail = f"Unknown attribute {name!r}; a sample has {', '.join(ATTRIBUTES)}."
        errors.append(error(422, "unknown_attribute", "Unknown attribute", detail, f"{base}/attributes/{name}"))
    timestamp = _timestamp(attributes.get("timestamp_s"), f"{base}/attributes/timestamp_s", latest, errors)
    co2 = _co2(attributes.get("co2_ppm"), f"{base}/attributes/co2_ppm", errors)
    temperature = _optional_number(attributes, "temperature_celsius", base, errors)
    humidity = _optional_number(attributes, "rel_humidity_percent", base, errors)
    node = _node(item.get("relationships"), base, errors)
    if len(errors) > count:
        return None
    return node, timestamp, co2, temperature, humidity


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _timestamp(value, pointer: str, latest: tuple[int, int], errors: list[dict]) -> int | None:
    now_s, latest_s = latest
    if value is None:
        errors.append(error(422, "required", "Missing timestamp", "timestamp_s (Unix seconds) is required.", pointer))
    elif not isinstance(value, int) or isinstance(value, bool):
        errors.append(
            error(
                422,
                "invalid",
                "Invalid timestamp",
                "timestamp_s must be an integer (Unix seconds).",
                pointer,
            )
        )
    elif value < EARLIEST_TIMESTAMP_S:
        errors.append(
            error(
                422,
                "implausible",
                "Implausible timestamp",
                f"timestamp_s {value} lies before 2000-01-01; it must be Unix seconds (not milliseconds).",
                pointer,
            )
        )
    elif value > latest_s:
        errors.append(
            error(
                422,
                "implausible",
                "Timestamp in the future",
                f"timestamp_s {value} lies {value - now_s} s ahead of the server's clock "
                f"(at most {latest_s - now_s} s are accepted); check the gateway's clock.",
                pointer,
            )
        )
    else:
        return value
    return None


def _co2(value, pointer: str, errors: list[dict]) -> int | None:
    if value is None:
        errors.append(error(422, "required", "Missing CO2", "co2_ppm is required.", pointer))
        return None
    if not _is_number(value) or (isinstance(value, float) and not value.is_integer()):
        errors.append(error(422, "invalid", "Invalid CO2", "co2_ppm must be a whole number.", pointer))
        return None
    if not _in_range("co2_ppm", value, pointer, errors):
        return None
    return int(value)


def _optional_number(attributes: dict, name: str, base: str, errors: list[dict]) -> float | None:
    value = attributes.get(name)
    if value is None:
        return None
    pointer = f"{base}/attributes/{name}"
    if not _is_number(value):
        errors.append(error(422, "invalid", f"Invalid {name}", f"{name} must be a number or null.", pointer))
        return None
    if not _in_range(name, value, pointer, errors):
        return None
    return _storable(value)


def _in_range(name: str, value, pointer: str, errors: list[dict]) -> bool:
    limit = _LIMITS[name]
    if limit.minimum <= value <= limit.maximum and math.isfinite(value):
        return True
    errors.append(
        error(
            422,
            "out_of_range",
            f"{name} out of range",
            f"{name} {value} lies outside {limit.minimum:g}…{limit.maximum:g} {limit.unit}, "
            "the range the sensors can measure.",
            pointer,
        )
    )
    return False


def _node(relationships, base: str, errors: list[dict]) -> str | None:
    pointer = f"{base}/relationships/node/data"
    node = relationships.get("node") if isinstance(relationships, dict) else None
    data = node.get("data") if isinstance(node, dict) else None
    if not isinstance(data, dict) or "id" not in data:
        errors.append(
            error(
                422,
                "required",
                "Missing node",
                "A sample needs relationships.node.data = {type: Node, id: <uuid>}.",
                pointer,
            )
        )
        return None
    if data.get("type") != "Node":
        errors.append(
            error(
                409,
                "type_conflict",
                "Wrong type",
                f'The node\'s type must be "Node", not {data.get("type")!r}.',
                f"{pointer}/type",
            )
        )
        return None
    try:
        return str(uuid.UUID(data["id"]))
    except (TypeError, ValueError, AttributeError):
        errors.append(
            error(
                422,
                "not_found",
                "Unknown node",
                f"No node has the id {data['id']!r}.",
                f"{pointer}/id",
            )
        )
        return None
