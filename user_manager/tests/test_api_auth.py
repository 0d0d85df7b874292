"""``/api/v1/auth/``: what clair-ttn's registration tool and como-ui do to log in,
out, change and reset passwords and register; and how session and token
authentication meet CSRF on the resource endpoints."""

import io
import logging
import re
from urllib.parse import urlparse

import pytest
from allauth.account.utils import user_pk_to_url_str
from django.conf import settings
from django.core import mail
from django.core.cache import cache
from django.utils.crypto import get_random_string
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core.models import Site
from user_manager.models import User

PASSWORD = "correct horse battery staple"  # core.tests.factories.make_user's default
NEW_PASSWORD = "a fresh and longer pass phrase 7"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    # allauth's rate limits (failed logins, confirmation mails) live in the
    # cache, which outlives a test's database transaction.
    cache.clear()
    yield
    cache.clear()


def _jsonapi_login(login_field, login, password):
    return {"data": {"type": "LoginView", "attributes": {login_field: login, "password": password}}}


def log_in(client, login, password=PASSWORD, *, as_json_api=False, login_field="username"):
    if as_json_api:
        return client.post("/api/v1/auth/login/", _jsonapi_login(login_field, login, password))
    return client.post("/api/v1/auth/login/", {login_field: login, "password": password}, format="json")


def token_client(key) -> APIClient:
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def _urls(message) -> list[str]:
    return re.findall(r"https?://\S+", message.body)


# --- Log-in and log-out -----------------------------------------------------------


@pytest.mark.parametrize("as_json_api", [True, False], ids=["json-api", "plain-json"])
@pytest.mark.parametrize(
    ("login_field", "login"),
    [("username", "olga"), ("email", "olga@example.org"), ("username", "olga@example.org")],
)
def test_login_answers_with_a_token_that_authenticates(owner, as_json_api, login_field, login):
    response = log_in(APIClient(), login, as_json_api=as_json_api, login_field=login_field)
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert data["type"] == "LoginView"
    assert data["attributes"]["key"] == Token.objects.get(user=owner).key

    me = token_client(data["attributes"]["key"]).get("/api/v1/auth/user/")
    assert me.status_code == 200
    assert me.json()["data"]["attributes"]["username"] == "olga"


@pytest.fixture
def log_output():
    """What the configured log handlers write, with every logger at DEBUG."""
    stream = io.StringIO()
    loggers = [logging.getLogger(name) for name in ("", "django", "django.request", "django.security")]
    handlers = {handler for logger in loggers for handler in logger.handlers
                if isinstance(handler, logging.StreamHandler)}
    assert handlers, "no configured stream handler to watch"
    levels = {logger: logger.level for logger in loggers}
    streams = {handler: handler.setStream(stream) for handler in handlers}
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    yield stream
    for handler, original in streams.items():
        handler.setStream(original)
    for logger, level in levels.items():
        logger.setLevel(level)


@pytest.mark.parametrize("as_json_api", [True, False], ids=["json-api", "plain-json"])
def test_wrong_password_is_a_400_and_never_logged(owner, log_output, as_json_api):
    wrong = "Tr0ub4dor&3-not-olgas"
    response = log_in(APIClient(), "olga", wrong, as_json_api=as_json_api)

    assert response.status_code == 400
    assert response.json()["errors"][0]["status"] == "400"
    assert wrong not in response.content.decode()
    logged = log_output.getvalue()
    assert "/api/v1/auth/login/" in logged  # The refusal was logged ...
    assert wrong not in logged  # ... without the password.
    assert not Token.objects.filter(user=owner).exists()


def test_unverified_address_cannot_log_in(owner):
    owner.emailaddress_set.update(verified=False)
    response = log_in(APIClient(), "olga")
    assert response.status_code == 400
    assert not Token.objects.filter(user=owner).exists()


def test_logout_ends_the_token(owner):
    key = log_in(APIClient(), "olga").json()["data"]["attributes"]["key"]
    client = token_client(key)
    assert client.get("/api/v1/auth/user/").status_code == 200

    assert client.post("/api/v1/auth/logout/").status_code == 200

    assert client.get("/api/v1/auth/user/").status_code == 401
    assert client.get("/api/v1/sites/").status_code == 401


def test_current_user_is_the_one_logged_in(owner, inspector):
    client = APIClient()
    client.force_authenticate(inspector)
    response = client.get("/api/v1/auth/user/")
    assert response.status_code == 200
    attributes = response.json()["data"]["attributes"]
    assert (attributes["username"], attributes["email"]) == ("ines", "ines@example.org")


def test_current_user_needs_a_login(db):
    response = APIClient().get("/api/v1/auth/user/")
    assert response.status_code == 401
    assert response.json()["errors"][0]["status"] == "401"


# --- Passwords ----------------------------------------------------------------------


def test_password_change_replaces_the_old_password(owner):
    client = APIClient()
    client.force_authenticate(owner)
    response = client.post(
        "/api/v1/auth/password/change/",
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}, format="json",
    )
    assert response.status_code == 200, response.content
    assert log_in(APIClient(), "olga", NEW_PASSWORD).status_code == 200
    assert log_in(APIClient(), "olga", PASSWORD).status_code == 400


def test_password_change_with_mismatched_repetition_keeps_the_old_password(owner):
    client = APIClient()
    client.force_authenticate(owner)
    response = client.post(
        "/api/v1/auth/password/change/",
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD + "!"}, format="json",
    )
    assert response.status_code == 400
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)


def test_password_reset_mails_a_link_whose_token_sets_the_new_password(owner):
    response = APIClient().post("/api/v1/auth/password/reset/", {"email": "olga@example.org"}, format="json")
    assert response.status_code == 200, response.content[:300]
    [message] = mail.outbox
    assert message.to == ["olga@example.org"]

    # The link carries the user's id and a one-time token (…/<uid>/<token>/ or …/<uid>-<token>/).
    uid = user_pk_to_url_str(owner)
    [token] = [m.group(1) for url in _urls(message)
               if (m := re.search(rf"/{uid}[-/]([0-9a-z]+-[0-9a-f]+)/?$", urlparse(url).path))]
    confirmed = APIClient().post(
        "/api/v1/auth/password/reset/confirm/",
        {"uid": uid, "token": token, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        format="json",
    )
    assert confirmed.status_code == 200, confirmed.content
    assert log_in(APIClient(), "olga", NEW_PASSWORD).status_code == 200
    assert log_in(APIClient(), "olga", PASSWORD).status_code == 400


def test_password_reset_with_a_forged_token_changes_nothing(owner):
    response = APIClient().post(
        "/api/v1/auth/password/reset/confirm/",
        {"uid": user_pk_to_url_str(owner), "token": "cz4b0n-0123456789abcdef0123456789abcdef",
         "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        format="json",
    )
    assert response.status_code == 400
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)


def test_password_reset_for_an_unknown_address_reveals_nothing(owner):
    response = APIClient().post("/api/v1/auth/password/reset/", {"email": "nobody@example.org"}, format="json")
    assert response.status_code == 200, response.content[:300]
    assert mail.outbox == []


# --- Registration -----------------------------------------------------------------


def test_registration_needs_the_mailed_key_before_login(db):
    client = APIClient()
    response = client.post("/api/v1/auth/registration/", {
        "username": "nina", "email": "nina@example.org", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD,
    }, format="json")
    assert response.status_code == 201, response.content
    [message] = mail.outbox
    assert message.to == ["nina@example.org"]

    assert log_in(APIClient(), "nina", NEW_PASSWORD).status_code == 400

    [key] = [urlparse(url).path.rstrip("/").rsplit("/", 1)[-1] for url in _urls(message)]
    verified = client.post("/api/v1/auth/registration/verify-email/", {"key": key}, format="json")
    assert verified.status_code == 200, verified.content

    login = log_in(APIClient(), "nina", NEW_PASSWORD)
    assert login.status_code == 200
    assert login.json()["data"]["attributes"]["key"] == Token.objects.get(user__username="nina").key


def test_registration_with_a_json_api_body_works_too(db):
    response = APIClient().post("/api/v1/auth/registration/", {"data": {"type": "RegisterView", "attributes": {
        "username": "nina", "email": "nina@example.org", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD,
    }}})
    assert response.status_code == 201, response.content
    assert User.objects.filter(username="nina").exists()
    assert len(mail.outbox) == 1


def test_verification_with_a_wrong_key_verifies_nothing(db):
    APIClient().post("/api/v1/auth/registration/", {
        "username": "nina", "email": "nina@example.org", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD,
    }, format="json")
    response = APIClient().post("/api/v1/auth/registration/verify-email/", {"key": "Mg:forged:key"}, format="json")
    assert response.status_code in (400, 404)
    assert log_in(APIClient(), "nina", NEW_PASSWORD).status_code == 400


# --- Session, CSRF, token --------------------------------------------------------------


def _site_document(organization, name="Neubau"):
    return {"data": {
        "type": "Site", "attributes": {"name": name},
        "relationships": {"operator": {"data": {"type": "Organization", "id": str(organization.pk)}}},
    }}


@pytest.fixture
def session_client(owner):
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username="olga", password=PASSWORD)
    return client


def test_session_write_without_csrf_token_is_refused(session_client, organization):
    response = session_client.post("/api/v1/sites/", _site_document(organization))
    assert response.status_code == 403
    assert "CSRF" in response.json()["errors"][0]["detail"]
    assert not Site.objects.exists()


def test_session_write_with_csrf_token_works(session_client, organization):
    csrf = get_random_string(32)
    session_client.cookies[settings.CSRF_COOKIE_NAME] = csrf
    response = session_client.post("/api/v1/sites/", _site_document(organization), HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 201, response.content
    assert Site.objects.get().name == "Neubau"


def test_session_write_with_a_token_not_matching_the_cookie_is_refused(session_client, organization):
    session_client.cookies[settings.CSRF_COOKIE_NAME] = get_random_string(32)
    response = session_client.post(
        "/api/v1/sites/", _site_document(organization), HTTP_X_CSRFTOKEN=get_random_string(32)
    )
    assert response.status_code == 403
    assert not Site.objects.exists()


def test_como_ui_logs_in_and_writes_with_the_csrf_cookie_it_got(owner, organization):
    # como-ui: log in through the API (session), then echo the csrftoken cookie.
    client = APIClient(enforce_csrf_checks=True)
    assert log_in(client, "olga", as_json_api=True).status_code == 200
    csrf = client.cookies[settings.CSRF_COOKIE_NAME].value
    assert client.post("/api/v1/sites/", _site_document(organization, "Ohne")).status_code == 403
    response = client.post("/api/v1/sites/", _site_document(organization), HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 201, response.content
    assert list(Site.objects.values_list("name", flat=True)) == ["Neubau"]


def test_token_writes_need_no_csrf_token(owner, organization):
    key = log_in(APIClient(), "olga").json()["data"]["attributes"]["key"]
    response = token_client(key).post("/api/v1/sites/", _site_document(organization))
    assert response.status_code == 201, response.content


# --- Without the trailing slash ---------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/auth/user", "/api/v1/installations/{installation.pk}",
                                  "/api/v1/rooms/{installation.room_id}/installations"])
def test_get_without_trailing_slash_answers_directly(owner, installation, path):
    client = APIClient()
    client.force_authenticate(owner)
    response = client.get(path.format(installation=installation))
    assert response.status_code == 200, response.content[:300]
    assert response.json()["data"]


def test_post_without_trailing_slash_creates(owner, organization):
    client = APIClient()
    client.force_authenticate(owner)
    response = client.post("/api/v1/sites", _site_document(organization))
    assert response.status_code == 201, response.content
    assert Site.objects.get().name == "Neubau"


def test_login_without_trailing_slash_works(owner):
    response = APIClient().post("/api/v1/auth/login", {"username": "olga", "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content[:300]
    assert response.json()["data"]["attributes"]["key"]

