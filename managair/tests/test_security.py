"""Browser-facing safeguards: security headers and CORS for the SPA's origins."""

import pytest
from django.test import override_settings

SPA = "https://app.example.org"
STRANGER = "https://evil.example.com"


@pytest.mark.django_db
def test_pages_carry_security_headers(client):
    response = client.get("/accounts/login/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.mark.django_db
def test_session_cookie_is_not_readable_by_scripts(client, owner):
    owner.set_password("correct horse battery")
    owner.save()
    response = client.post(
        "/api/v1/auth/login/", {"username": owner.username, "password": "correct horse battery"},
        content_type="application/json",
    )
    assert response.status_code == 200
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"


@pytest.mark.django_db
@override_settings(CORS_ALLOWED_ORIGINS=[SPA])
def test_the_spa_origin_may_call_the_api(client):
    preflight = client.options(
        "/api/v1/organizations/", HTTP_ORIGIN=SPA, HTTP_ACCESS_CONTROL_REQUEST_METHOD="PATCH",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )
    assert preflight.status_code == 200
    assert preflight["Access-Control-Allow-Origin"] == SPA
    assert "PATCH" in preflight["Access-Control-Allow-Methods"]
    assert "authorization" in preflight["Access-Control-Allow-Headers"]

    response = client.get("/api/v1/organizations/", HTTP_ORIGIN=SPA)
    assert response["Access-Control-Allow-Origin"] == SPA
    assert "Access-Control-Allow-Credentials" not in response


@pytest.mark.django_db
@override_settings(CORS_ALLOWED_ORIGINS=[SPA])
def test_other_origins_get_no_cors_permission(client):
    response = client.get("/api/v1/organizations/", HTTP_ORIGIN=STRANGER)
    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.django_db
@override_settings(CORS_ALLOWED_ORIGINS=[SPA])
def test_cors_covers_the_api_only_not_the_admin(client):
    response = client.get("/admin/login/", HTTP_ORIGIN=SPA)
    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.django_db
@override_settings(CORS_ALLOWED_ORIGINS=[SPA], CORS_ALLOW_CREDENTIALS=True)
def test_cookie_sessions_across_origins_only_when_configured(client):
    response = client.get("/api/v1/organizations/", HTTP_ORIGIN=SPA)
    assert response["Access-Control-Allow-Credentials"] == "true"
