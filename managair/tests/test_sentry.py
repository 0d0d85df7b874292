"""Error reports reach Sentry only when asked for, and never carry passwords,
tokens or who sent the request. A real server process reports to a real
HTTP endpoint standing in for Sentry."""

import gzip
import subprocess
import sys

import pytest

from integrations.tests import http_stub
from managair.tests.test_settings import PROJECT, controlled_environment

# On an empty SQLite file the log-in view fails with "no such table": a real 500.
FAILING_LOGIN = """
import django, sentry_sdk
django.setup()
from django.test import Client
client = Client(HTTP_HOST="localhost", raise_request_exception=False)
client.cookies["sessionid"] = "session-cookie-value"
answer = client.post(
    "/api/v1/auth/login/?next=query-value", {"username": "lupe@example.org", "password": "hunter2-password"},
    content_type="application/json", HTTP_AUTHORIZATION="Token token-value-0123",
)
print("ANSWER", answer.status_code)
sentry_sdk.flush(timeout=10)
"""


@pytest.fixture
def sentry():
    stub, server = http_stub.start()
    yield stub
    http_stub.stop(stub, server)


def report_a_failing_request(tmp_path, **variables) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-c", FAILING_LOGIN], cwd=PROJECT, capture_output=True, text=True, timeout=60,
        env=controlled_environment(tmp_path, DEBUG="1", **variables),
    )
    assert "ANSWER 500" in result.stdout, result.stdout + result.stderr
    return result


def received(stub) -> str:
    bodies = []
    for request in stub.requests:
        body = request.body
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        bodies.append(body.decode())
    return "\n".join(bodies)


def test_errors_are_reported_without_personal_data(tmp_path, sentry):
    dsn = sentry.url.replace("http://", "http://publickey@") + "/42"
    report_a_failing_request(tmp_path, SENTRY="1", SENTRY_URL=dsn)
    report = received(sentry)
    assert "OperationalError" in report  # the error itself arrived
    for secret in ["hunter2-password", "token-value-0123", "session-cookie-value", "lupe@example.org", "query-value"]:
        assert secret not in report, report[max(report.find(secret) - 300, 0):report.find(secret) + 50]


def test_nothing_is_reported_unless_sentry_is_switched_on(tmp_path, sentry):
    dsn = sentry.url.replace("http://", "http://publickey@") + "/42"
    report_a_failing_request(tmp_path, SENTRY_URL=dsn)
    assert sentry.requests == []
