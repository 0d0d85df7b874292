"""Failures nobody foresaw still answer in the client's language."""

import pytest
from django.db import OperationalError
from django.test import RequestFactory
from rest_framework.test import APIClient

from core.api.base import ScopedViewSet
from managair.errors import internal_error


@pytest.fixture
def failing_database(monkeypatch):
    def fail(self):
        raise OperationalError("connection to server at 10.0.0.12 failed: secret detail")

    monkeypatch.setattr(ScopedViewSet, "get_queryset", fail)


def test_an_unexpected_failure_of_the_api_is_a_json_api_500_without_details(db, owner, failing_database):
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(owner)

    response = client.get("/api/v1/sites/")

    assert response.status_code == 500
    assert response["Content-Type"] == "application/vnd.api+json"
    assert response.json() == {
        "errors": [{"detail": "The server failed to answer. Try again later.", "status": "500", "code": "server_error"}]
    }
    assert b"10.0.0.12" not in response.content


def test_an_unexpected_failure_of_a_page_is_djangos_html_500():
    response = internal_error(RequestFactory().get("/accounts/login/"))
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
