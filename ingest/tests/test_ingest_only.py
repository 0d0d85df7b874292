"""INGEST_ONLY=1: the gateway-facing server mounts the ingest path and the
liveness check, nothing else. The URL map is fixed at import, so each
configuration is tried in a fresh process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.tests.conftest import INGEST_PATH

REPOSITORY = Path(__file__).resolve().parents[2]

MOUNTED_ALWAYS = [INGEST_PATH, INGEST_PATH.rstrip("/"), "/healthz", "/healthz/"]
MOUNTED_ON_THE_FULL_SERVER = [
    "/admin/",
    "/api/v1/nodes/",
    "/api/v1/installations/",
    "/api/v1/ingest-keys/",
    "/api/v1/auth/login/",
    "/api/v1/schema/",
    "/accounts/login/",
    "/i18n/setlang/",
]

# Resolves each path and asks the test client a few questions that need no database.
PROBE = """
import json, sys
import django
django.setup()
from django.test.utils import setup_test_environment
setup_test_environment()
from django.test import Client
from django.urls import Resolver404, resolve

def resolves(path):
    try:
        resolve(path)
    except Resolver404:
        return False
    return True

client = Client()
print(json.dumps({
    "resolves": {path: resolves(path) for path in json.loads(sys.argv[1])},
    "healthz": client.get("/healthz").status_code,
    "ingest_without_key": client.post("/ingest/v1/ingest/", "{}", content_type="application/vnd.api+json").status_code,
    "api": [client.get("/api/v1/nodes/").status_code, client.get("/api/v1/nodes/")["Content-Type"]],
}))
"""


def probe(ingest_only: bool) -> dict:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "managair.settings", "INGEST_ONLY": "1" if ingest_only else "0"}
    paths = json.dumps(MOUNTED_ALWAYS + MOUNTED_ON_THE_FULL_SERVER)
    result = subprocess.run(
        [sys.executable, "-c", PROBE, paths],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def ingest_only():
    return probe(ingest_only=True)


@pytest.fixture(scope="module")
def full_server():
    return probe(ingest_only=False)


@pytest.mark.parametrize("path", MOUNTED_ALWAYS)
def test_an_ingest_only_server_mounts_ingest_and_liveness(ingest_only, path):
    assert ingest_only["resolves"][path] is True


@pytest.mark.parametrize("path", MOUNTED_ON_THE_FULL_SERVER)
def test_an_ingest_only_server_mounts_nothing_else(ingest_only, path):
    assert ingest_only["resolves"][path] is False


def test_an_ingest_only_server_answers_gateways_and_liveness_checks(ingest_only):
    assert ingest_only["healthz"] == 200
    assert ingest_only["ingest_without_key"] == 401


def test_an_ingest_only_server_answers_the_api_with_a_json_api_404(ingest_only):
    assert ingest_only["api"] == [404, "application/vnd.api+json"]


@pytest.mark.parametrize("path", MOUNTED_ON_THE_FULL_SERVER)
def test_the_full_server_mounts_the_rest(full_server, path):
    assert full_server["resolves"][path] is True


@pytest.mark.parametrize("path", MOUNTED_ALWAYS)
def test_the_full_server_mounts_ingest_too(full_server, path):
    assert full_server["resolves"][path] is True
