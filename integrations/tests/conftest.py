import pytest

from integrations.tests import http_stub


@pytest.fixture
def platform():
    """A real HTTP server on 127.0.0.1 standing in for a platform."""
    stub, server = http_stub.start()
    yield stub
    http_stub.stop(stub, server)
