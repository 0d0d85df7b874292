"""Shared by the ingest tests: samples as a gateway writes them, a gateway that
posts them with its organization's ingest key, and readers of the answers.

The helpers are plain functions so that test modules can import them; the
fixtures build on them.
"""

import json
import uuid

import pytest
from django.test import Client

from ingest import ratelimit
from ingest.keys import ingest_key_create

INGEST_PATH = "/ingest/v1/ingest/"
JSON_API = "application/vnd.api+json"
#: 2024-03-09: after the fixture installation's start (2024-01-01), before the
#: test's own clock, so that every default sample is plausible and published.
T0 = 1_710_000_000


def sample(node, timestamp_s: int = T0, co2_ppm=800, **attributes) -> dict:
    """One Sample object as clair-ttn sends it; ``node`` is a Node or its id."""
    node_id = str(node.pk) if hasattr(node, "pk") else str(node) if isinstance(node, uuid.UUID) else node
    return {
        "type": "Sample",
        "attributes": {"timestamp_s": timestamp_s, "co2_ppm": co2_ppm, **attributes},
        "relationships": {"node": {"data": {"type": "Node", "id": node_id}}},
    }


def series(node, count: int, start: int = T0, step: int = 60, co2_ppm: int = 600) -> list[dict]:
    """``count`` samples of ``node``, one every ``step`` seconds."""
    return [sample(node, start + i * step, co2_ppm + i) for i in range(count)]


def errors(response) -> list[dict]:
    assert response["Content-Type"] == JSON_API, response["Content-Type"]
    return response.json()["errors"]


def pointers(response) -> list[str]:
    return [e.get("source", {}).get("pointer") for e in errors(response)]


def meta(response) -> dict:
    return response.json()["meta"]


class Gateway:
    """Posts to the ingest path the way a gateway does; ``key`` is the plain
    ingest key sent as a bearer token (``None``: no Authorization header)."""

    def __init__(self, client: Client, key: str | None):
        self.client = client
        self.key = key

    def post(self, data, **kwargs):
        """POST ``{"data": data}``: a Sample object or a list of them."""
        return self.send(json.dumps({"data": data}), **kwargs)

    def send(self, body, *, content_type: str = JSON_API, path: str = INGEST_PATH, key="default", **extra):
        key = self.key if key == "default" else key
        if key is not None:
            extra.setdefault("HTTP_AUTHORIZATION", f"Bearer {key}")
        return self.client.post(path, body, content_type=content_type, **extra)


@pytest.fixture
def ingest_key(organization):
    """A usable key of ``organization``: (IngestKey, plain key)."""
    return ingest_key_create(organization, "gateway on the roof")


@pytest.fixture
def gateway(ingest_key):
    return Gateway(Client(), ingest_key[1])


@pytest.fixture
def open_gateway(settings):
    """A gateway of an ingest server without authentication."""
    settings.INGEST_AUTH = "none"
    return Gateway(Client(), None)


@pytest.fixture(autouse=True)
def _fresh_rate_limit():
    # The counters live in the process and would carry over between tests.
    ratelimit.reset()
    yield
    ratelimit.reset()
