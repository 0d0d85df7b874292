"""A stand-in for Stadtpuls (its Supabase back end) on a real HTTP server.

It checks credentials the way Stadtpuls does, so a test breaks the
configuration rather than the server to see a refused login or token:
wrong API key or password → 400 at login, wrong access token → 401 at
registration, wrong auth token → 401 for records. ``fail`` makes a route
answer an error regardless; ``recover`` ends that.
"""

import itertools
import json
from collections import defaultdict
from urllib.parse import parse_qs, urlsplit

import pytest

from integrations.tests import http_stub

LOGIN_PATH = "/auth/v1/token"
SENSORS_PATH = "/rest/v1/sensors"
RECORDS_PATH = "/api/v3/sensors"

LOGIN_EMAIL = "forwarding@managair.example.org"
API_KEY = "sp-api-key-9f27c1d04be3"
LOGIN_PWD = "sp-login-password-5e81a7"
AUTH_TOKEN = "sp-auth-token-c40d29b6e7"
ACCESS_TOKEN = "sp-session-access-token-71aa3f"
USER_ID = "5c1d7e3a-2b8f-4c6e-9a0d-3f4b5e6a7c8d"


class StandIn:
    """Answers login, sensor registration and records; keeps every request
    per route (``logins``, ``registrations``, ``record_posts``), the sensors
    it created (``sensors``: id → registration body) and the records it
    accepted per sensor id (``records``)."""

    def __init__(self, stub: http_stub.Stub):
        self.stub = stub
        self.url = stub.url
        self.logins: list[http_stub.Request] = []
        self.registrations: list[http_stub.Request] = []
        self.record_posts: list[http_stub.Request] = []
        self.sensors: dict[int, dict] = {}
        self.records: dict[int, list[dict]] = defaultdict(list)
        self._ids = itertools.count(101)
        self._failures: dict[str, tuple[int, dict, object, int]] = {}
        stub.answer = self._answer

    def fail(self, route: str, status: int, body=None, *, headers: dict | None = None, after: int = 0) -> None:
        """Answer ``status`` on ``route`` ("login", "sensors", "records")
        once ``after`` more requests there have been answered normally."""
        self._failures[route] = (status, headers or {}, body if body is not None else {"message": "failing"}, after)

    def recover(self) -> None:
        self._failures.clear()

    def accepted_timestamps(self, sensor_id: int) -> list[str]:
        return [record["recorded_at"] for record in self.records[sensor_id]]

    def _answer(self, request: http_stub.Request):
        path = urlsplit(request.path).path
        if path == LOGIN_PATH:
            self.logins.append(request)
            return self._failure("login") or self._log_in(request)
        if path == SENSORS_PATH:
            self.registrations.append(request)
            return self._failure("sensors") or self._register(request)
        if path.startswith(RECORDS_PATH + "/") and path.endswith("/records"):
            self.record_posts.append(request)
            return self._failure("records") or self._take_records(request, path)
        return 404, {}, {"message": "no such route"}

    def _failure(self, route: str):
        if route not in self._failures:
            return None
        status, headers, body, after = self._failures[route]
        if after > 0:
            self._failures[route] = (status, headers, body, after - 1)
            return None
        return status, headers, body

    def _log_in(self, request):
        query = parse_qs(urlsplit(request.path).query)
        credentials = json.loads(request.body or b"{}")
        if (
            query.get("grant_type") != ["password"]
            or request.headers.get("apikey") != API_KEY
            or credentials != {"email": LOGIN_EMAIL, "password": LOGIN_PWD}
        ):
            return 400, {}, {"error": "invalid_grant", "error_description": "Invalid login credentials"}
        return 200, {}, {"access_token": ACCESS_TOKEN, "token_type": "bearer", "user": {"id": USER_ID}}

    def _register(self, request):
        if request.headers.get("apikey") != API_KEY or request.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
            return 401, {}, {"message": "JWT invalid"}
        sensor_id = next(self._ids)
        self.sensors[sensor_id] = request.json()
        return 201, {}, [{"id": sensor_id, **request.json()}]

    def _take_records(self, request, path: str):
        if request.headers.get("Authorization") != f"Bearer {AUTH_TOKEN}":
            return 401, {}, {"message": "Invalid token"}
        sensor_id = int(path[len(RECORDS_PATH) + 1 : -len("/records")])
        if sensor_id not in self.sensors:
            return 404, {}, {"message": "no such sensor"}
        self.records[sensor_id] += request.json()["records"]
        return 201, {}, b""


def configuration(url: str) -> dict:
    """``settings.STADTPULS`` for a Stadtpuls at ``url``, every key set."""
    return {
        "SUPABASE_URL": url,
        "LOGIN_ENDPOINT": url + LOGIN_PATH,
        "SENSOR_ENDPOINT": url + SENSORS_PATH,
        "RECORDS_ENDPOINT": url + RECORDS_PATH,
        "LOGIN_EMAIL": LOGIN_EMAIL,
        "API_KEY": API_KEY,
        "LOGIN_PWD": LOGIN_PWD,
        "AUTH_TOKEN": AUTH_TOKEN,
    }


@pytest.fixture
def stadtpuls(settings):
    """The stand-in, with ``settings.STADTPULS`` pointing at it."""
    stub, server = http_stub.start()
    settings.STADTPULS = configuration(stub.url)
    yield StandIn(stub)
    http_stub.stop(stub, server)
