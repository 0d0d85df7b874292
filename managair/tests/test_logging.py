"""Passwords, tokens and keys never reach the log output."""

import importlib.util
import io
import logging
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils.module_loading import import_string
from gunicorn.config import Config

from managair.logging import RedactSecrets

API_TOKEN = "0123456789abcdef0123456789abcdef01234567"
BEARER_KEY = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJvbGdhIn0.c2lnbmF0dXJl"
PASSWORD_HASH = "pbkdf2_sha256$870000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA="
RESET_KEY = "cz4k0f-7a1b2c3d4e5f60718293a4b5c6d7e8f9"


@pytest.fixture
def redacted_output():
    """Log lines of a logger whose handler carries the redaction filter."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactSecrets())
    logger = logging.getLogger("managair.tests.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, buffer
    logger.removeHandler(handler)


@pytest.mark.parametrize(
    ("message", "secret"),
    [
        ("POST body: login=olga&password=Tr0ub4dor-and-3", "Tr0ub4dor-and-3"),
        ("form data {'login': 'olga', 'password': 'Tr0ub4dor-and-3'}", "Tr0ub4dor-and-3"),
        (f"Authorization: Token {API_TOKEN}", API_TOKEN),
        (f"headers: {{'Authorization': 'Token {API_TOKEN}'}}", API_TOKEN),
        (f"Authorization: Bearer {BEARER_KEY}", BEARER_KEY),
        (f"upstream answered 401 to Bearer {BEARER_KEY}", BEARER_KEY),
        (f"UPDATE user_manager_user SET password = '{PASSWORD_HASH}' WHERE id = 7", PASSWORD_HASH),
        (f"GET /accounts/password/reset/key/{RESET_KEY}/ HTTP/1.1", RESET_KEY.split("-", 1)[1]),
        (f"Not Found: /accounts/confirm-email/{RESET_KEY}/", RESET_KEY),
    ],
)
def test_secret_shapes_never_reach_the_output(redacted_output, message, secret):
    logger, buffer = redacted_output
    logger.warning(message)
    assert secret not in buffer.getvalue()
    assert "[redacted]" in buffer.getvalue()


def test_configured_secret_key_and_database_password_never_reach_the_output(
    redacted_output, settings, monkeypatch
):
    settings.SECRET_KEY = "configured-secret-key-5b9d0e0b7c3e4f7d"
    monkeypatch.setitem(django_settings.DATABASES["default"], "PASSWORD", "db-password-9f2c71")
    logger, buffer = redacted_output
    logger.error("signing with %s failed", "configured-secret-key-5b9d0e0b7c3e4f7d")
    logger.error("could not connect as managair with db-password-9f2c71 to db:5432")
    output = buffer.getvalue()
    assert "configured-secret-key-5b9d0e0b7c3e4f7d" not in output
    assert "db-password-9f2c71" not in output
    assert "could not connect as managair with [redacted] to db:5432" in output


def test_secrets_in_a_logged_traceback_are_redacted(redacted_output):
    logger, buffer = redacted_output
    try:
        raise ConnectionError(f"upstream refused Authorization: Token {API_TOKEN}")
    except ConnectionError:
        logger.exception("forwarding failed")
    output = buffer.getvalue()
    assert "Traceback" in output
    assert API_TOKEN not in output


def test_ordinary_message_passes_unchanged(redacted_output):
    logger, buffer = redacted_output
    logger.info("Node %s in room %s sent %d samples (CO2 %d ppm)", "clairchen-42", "Bar Lupe", 12, 812)
    assert buffer.getvalue() == "INFO Node clairchen-42 in room Bar Lupe sent 12 samples (CO2 812 ppm)\n"


def test_every_configured_handler_redacts():
    assert import_string(django_settings.LOGGING["filters"]["redact_secrets"]["()"]) is RedactSecrets
    for name, handler in django_settings.LOGGING["handlers"].items():
        assert "redact_secrets" in handler.get("filters", []), name


@pytest.fixture
def configured_log_output():
    """What the configured stdout handler (shared by every logger) writes."""
    handlers = {
        handler
        for name in ("", "django", "django.db.backends", "django-q")
        for handler in logging.getLogger(name).handlers
        if any(isinstance(f, RedactSecrets) for f in handler.filters)
    }
    assert handlers, "settings.LOGGING was not applied"
    buffer = io.StringIO()
    previous = {handler: handler.setStream(buffer) for handler in handlers}
    yield buffer
    for handler, stream in previous.items():
        handler.setStream(stream)


def test_configured_logging_redacts_a_django_request_message(configured_log_output):
    logging.getLogger("django.request").warning("Bad Request: /api/v1/auth/login/ password=Tr0ub4dor-and-3")
    output = configured_log_output.getvalue()
    assert "Bad Request: /api/v1/auth/login/" in output
    assert "Tr0ub4dor-and-3" not in output


@pytest.fixture
def debug_logging(caplog):
    """Every logger at DEBUG, SQL statements included; raw records of the request loggers in caplog."""
    for name in ("", "django", "django.request", "django.security", "django.db.backends", "allauth"):
        caplog.set_level(logging.DEBUG, logger=name)
    # django.* does not propagate to the root logger where caplog listens, and
    # the configured handler rewrites records in place: listen before it, on
    # the loggers themselves.
    raw_loggers = [logging.getLogger("django.request"), logging.getLogger("django.security")]
    for logger in raw_loggers:
        logger.addHandler(caplog.handler)
    forced, connection.force_debug_cursor = connection.force_debug_cursor, True
    yield caplog
    connection.force_debug_cursor = forced
    for logger in raw_loggers:
        logger.removeHandler(caplog.handler)


def test_failed_login_logs_no_password(client, owner, configured_log_output, debug_logging):
    wrong_password = "wrong-Tr0ub4dor-and-3-zebra"
    response = client.post("/accounts/login/", {"login": owner.username, "password": wrong_password})

    assert response.status_code == 200  # the form again, with an error
    assert "_auth_user_id" not in client.session
    output = configured_log_output.getvalue()
    assert owner.username in output  # the user lookup's SQL: the capture works
    assert wrong_password not in output
    # Formatted as emitted, before any filter: Django itself does not log it.
    assert wrong_password not in debug_logging.text


@pytest.fixture
def gunicorn_access_line():
    """The access-log line managair/gunicorn.conf.py makes of one request."""
    spec = importlib.util.spec_from_file_location(
        "managair_gunicorn_conf", Path(django_settings.BASE_DIR) / "managair" / "gunicorn.conf.py"
    )
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    config = Config()
    config.set("access_log_format", conf.access_log_format)
    access_logger = conf.logger_class(config)

    def line(path: str, query: str) -> str:
        environ = {
            "REQUEST_METHOD": "GET", "RAW_URI": f"{path}?{query}", "PATH_INFO": path,
            "QUERY_STRING": query, "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "10.0.0.7",
            "HTTP_REFERER": f"https://managair.example.org{path}?{query}", "HTTP_USER_AGENT": "gateway/1.0",
        }
        response = SimpleNamespace(status="200 OK", sent=512, headers=[])
        request = SimpleNamespace(headers=[("REFERER", environ["HTTP_REFERER"])])
        atoms = access_logger.atoms(response, request, environ, timedelta(milliseconds=12))
        return config.access_log_format % access_logger.atoms_wrapper_class(atoms)

    return line


def test_access_log_shows_the_path_but_not_the_query_string(gunicorn_access_line):
    line = gunicorn_access_line("/api/v1/nodes/", f"token={API_TOKEN}&filter[alias]=lupe")
    assert line.startswith('10.0.0.7 "GET /api/v1/nodes/ HTTP/1.1" 200 512')
    assert "token=" not in line
    assert API_TOKEN not in line


def test_access_log_hides_the_key_in_a_password_reset_path(gunicorn_access_line):
    line = gunicorn_access_line(f"/accounts/password/reset/key/{RESET_KEY}/", "")
    assert "/accounts/password/reset/" in line
    assert RESET_KEY.split("-", 1)[1] not in line
