"""Password guessing is slowed at every door, and reset mails cannot flood an inbox."""

import pytest
from django.core import mail
from django.test import override_settings
from rest_framework.throttling import SimpleRateThrottle

from core.tests.factories import make_user

PASSWORD = "correct horse battery"


@pytest.fixture
def person(db):
    user = make_user("lupe", email="lupe@example.org")
    user.set_password(PASSWORD)
    user.save()
    return user


def api_login(client, password, **who):
    return client.post("/api/v1/auth/login/", {**who, "password": password}, content_type="application/json")


def admin_login(client, username, password):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password})


@override_settings(AXES_FAILURE_LIMIT=3)
def test_api_refuses_the_right_password_after_too_many_wrong_ones(client, person):
    for _ in range(2):
        assert api_login(client, "wrong", username="lupe").status_code == 400
    locked = api_login(client, "wrong", username="lupe")
    assert locked.status_code == 429
    assert locked["Content-Type"] == "application/vnd.api+json"
    assert locked.json()["errors"][0]["status"] == "429"
    assert int(locked["Retry-After"]) > 0
    assert api_login(client, PASSWORD, username="lupe").status_code == 429


@override_settings(AXES_FAILURE_LIMIT=3)
def test_guesses_by_e_mail_and_by_user_name_count_together_across_doors(client, person):
    api_login(client, "wrong", email="LUPE@example.org")
    admin_login(client, "Lupe", "wrong")
    api_login(client, "wrong", username="lupe")
    response = admin_login(client, "lupe", PASSWORD)
    assert response.status_code == 429
    assert "Too many failed log-ins" in response.content.decode()


@override_settings(AXES_FAILURE_LIMIT=3)
def test_lockout_of_one_user_leaves_others_alone(client, person):
    other = make_user("jo")
    other.set_password(PASSWORD)
    other.save()
    for _ in range(3):
        api_login(client, "wrong", username="lupe")
    assert api_login(client, PASSWORD, username="jo").status_code == 200


@override_settings(AXES_FAILURE_LIMIT=3)
def test_a_successful_log_in_clears_earlier_failures(client, person):
    for _ in range(2):
        api_login(client, "wrong", username="lupe")
    assert api_login(client, PASSWORD, username="lupe").status_code == 200
    for _ in range(2):
        assert api_login(client, "wrong", username="lupe").status_code == 400


@override_settings(AXES_FAILURE_LIMIT=2)
def test_allauth_login_page_is_throttled_too(client, person):
    for _ in range(2):
        client.post("/accounts/login/", {"login": "lupe", "password": "wrong"})
    response = client.post("/accounts/login/", {"login": "lupe", "password": PASSWORD})
    assert response.status_code == 429


def test_failed_log_ins_never_store_the_tried_password(client, person):
    from axes.models import AccessAttempt, AccessFailureLog

    api_login(client, "hunter2-guess", username="lupe")
    stored = [str(row.__dict__) for row in [*AccessAttempt.objects.all(), *AccessFailureLog.objects.all()]]
    assert stored
    assert not any("hunter2-guess" in row for row in stored)


def with_rate(monkeypatch, scope: str, rate: str) -> None:
    # DRF's throttles read their rates once, at import.
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {**SimpleRateThrottle.THROTTLE_RATES, scope: rate})


def test_password_reset_mails_to_one_address_are_limited(client, person, monkeypatch):
    with_rate(monkeypatch, "password_reset_email", "2/hour")
    answers = [
        client.post("/api/v1/auth/password/reset/", {"email": email}, content_type="application/json")
        for email in ["lupe@example.org", "LUPE@example.org", "lupe@example.org"]
    ]
    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert answers[2]["Content-Type"].startswith("application/vnd.api+json")
    assert int(answers[2]["Retry-After"]) > 0
    assert len(mail.outbox) == 2


def test_auth_endpoints_have_a_request_rate_per_client(client, person, monkeypatch):
    with_rate(monkeypatch, "dj_rest_auth", "3/min")
    statuses = []
    for _ in range(4):
        client.cookies.clear()  # each time as a stranger from the same address
        statuses.append(api_login(client, PASSWORD, username="lupe").status_code)
    assert statuses == [200, 200, 200, 429]
