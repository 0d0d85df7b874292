"""The ingest endpoint: HTTP wired to validation and the store.

A plain Django view, not DRF: this is the hottest path of the system, and a
framework request, parser, serializer and renderer per sample cost more than
storing it (see ../shared/PERFORMANCE.md).
"""

import json

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from ingest import ratelimit
from ingest.models import hash_key
from ingest.signals import sample_published
from ingest.store import Stored, key_is_usable, store, unauthorized
from ingest.validation import Batch, IngestError, error, parse, validate

JSON_API = "application/vnd.api+json"
#: JSON:API's media type, and plain JSON for gateways that send no other.
_ACCEPTED_TYPES = {JSON_API, "application/json"}


@csrf_exempt
def ingest(request):
    """POST one Sample or a list of up to INGEST_MAX_BATCH_SIZE samples."""
    if request.method != "POST":
        response = _errors(
            IngestError(
                405,
                [
                    error(
                        405,
                        "method_not_allowed",
                        "Method not allowed",
                        "The ingest path takes POST only.",
                    )
                ],
            )
        )
        response["Allow"] = "POST"
        return response
    try:
        key_hash = _authenticate(request)
        if key_hash is not None:
            _limit_rate(key_hash)
        batch = _batch(request, key_hash)
        publish = settings.IOTDP_INTEGRATION and sample_published.has_listeners()
        stored = store(batch, key_hash, publish=publish)
    except IngestError as exc:
        return _errors(exc)
    return _answer(batch, stored)


def _batch(request, key_hash: str | None) -> Batch:
    try:
        body = _read_body(request)
        items, single = parse(body, settings.INGEST_MAX_BATCH_SIZE)
        del body
        return validate(items, single, max_future_s=settings.INGEST_MAX_FUTURE_S)
    except IngestError:
        # The key is checked with the samples, in the store's one statement;
        # a refused request must still not tell a stranger more than 401.
        if key_hash is not None and not key_is_usable(key_hash):
            raise unauthorized() from None
        raise


def _authenticate(request) -> str | None:
    """The hash of the request's ingest key; ``None`` without authentication."""
    if settings.INGEST_AUTH == "none":
        return None
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise IngestError(
            401,
            [
                error(
                    401,
                    "not_authenticated",
                    "Ingest key required",
                    "Send the gateway's ingest key as 'Authorization: Bearer <key>'.",
                )
            ],
            {"WWW-Authenticate": 'Bearer realm="ingest"'},
        )
    return hash_key(key)


def _limit_rate(key_hash: str) -> None:
    wait = ratelimit.retry_after(key_hash, settings.INGEST_RATE_LIMIT)
    if wait is not None:
        raise IngestError(
            429,
            [
                error(
                    429,
                    "throttled",
                    "Too many requests",
                    f"This ingest key may send {settings.INGEST_RATE_LIMIT} requests a minute; retry in {wait} s, "
                    "or send samples in batches.",
                )
            ],
            {"Retry-After": str(wait)},
        )


def _read_body(request) -> bytes:
    if request.content_type not in _ACCEPTED_TYPES or (
        request.content_type == JSON_API and set(request.content_params) - {"ext", "profile", "charset"}
    ):
        raise IngestError(
            415,
            [
                error(
                    415,
                    "unsupported_media_type",
                    "Unsupported media type",
                    f"Send the samples as {JSON_API}, not {request.content_type or 'an untyped body'}.",
                )
            ],
        )
    limit = settings.INGEST_MAX_BODY_BYTES
    too_large = IngestError(
        413,
        [
            error(
                413,
                "too_large",
                "Request too large",
                f"The body may hold at most {limit} bytes; send fewer samples per request.",
            )
        ],
    )
    try:
        if int(request.META.get("CONTENT_LENGTH") or 0) > limit:
            raise too_large
    except ValueError:
        pass
    # Read the stream directly: request.body would refuse anything above
    # DATA_UPLOAD_MAX_MEMORY_SIZE, a limit meant for forms.
    body = request.read(limit + 1)
    if len(body) > limit:
        raise too_large
    return body


def _answer(batch: Batch, stored: Stored) -> HttpResponse:
    meta = {"accepted": stored.accepted, "duplicates": stored.duplicates}
    document: dict = {"meta": meta}
    if batch.single:
        node, timestamp_s, co2, temperature, humidity = batch.row(0)
        document["data"] = {
            "type": "Sample",
            "id": str(stored.sample_id),
            "attributes": {
                "timestamp_s": timestamp_s,
                "co2_ppm": co2,
                "temperature_celsius": temperature,
                "rel_humidity_percent": humidity,
                "measurement_status": "M",
            },
            "relationships": {"node": {"data": {"type": "Node", "id": node}}},
        }
    # 201 when something new was stored; a pure repeat changes nothing.
    return _json(document, 201 if stored.accepted else 200)


def _errors(exc: IngestError) -> HttpResponse:
    response = _json({"errors": exc.errors}, exc.status)
    for name, value in exc.headers.items():
        response[name] = value
    return response


def _json(document: dict, status: int) -> HttpResponse:
    return HttpResponse(json.dumps(document, separators=(",", ":")), status=status, content_type=JSON_API)
