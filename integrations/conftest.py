"""Fixtures for every forwarding test: a stand-in platform and a gateway."""

from ingest.tests.conftest import gateway, ingest_key  # noqa: F401
from integrations.tests.conftest import platform  # noqa: F401
