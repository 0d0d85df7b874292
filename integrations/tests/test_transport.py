"""The one HTTP call every platform shares, against a real server: which
failures are worth another try, how long the platform asks us to wait, and
how the wait grows while a platform stays down."""

import socket
import threading
from datetime import timedelta
from email.utils import format_datetime

import pytest
from django.utils import timezone

from integrations.drain import backoff_s
from integrations.transport import TransportError, post


def answering(status: int, headers: dict | None = None, body=b"nope"):
    return lambda request: (status, headers or {}, body)


def refusal(url: str) -> TransportError:
    with pytest.raises(TransportError) as caught:
        post(url, body=b"{}", headers={"Content-Type": "application/json"})
    return caught.value


@pytest.mark.parametrize("status", [200, 201, 202])
def test_any_2xx_answer_is_a_delivery(platform, status):
    platform.answer = answering(status, body=b"{}")
    response = post(platform.url + "/hook", body=b'{"samples": []}', headers={"X-Test": "1"})
    assert response.status_code == status
    [request] = platform.to("/hook")
    assert request.body == b'{"samples": []}'
    assert request.headers["X-Test"] == "1"


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
def test_busy_or_failing_platform_is_tried_again(platform, status):
    platform.answer = answering(status)
    error = refusal(platform.url + "/hook")
    assert not error.permanent
    assert str(status) in str(error)


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422, 425])
def test_refused_request_is_not_tried_again(platform, status):
    platform.answer = answering(status, body=b"invalid payload")
    error = refusal(platform.url + "/hook")
    assert error.permanent
    assert f"HTTP {status}" in str(error)
    assert "invalid payload" in str(error)


def test_closed_port_is_tried_again():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens there any more: the connection is refused.
    assert not refusal(f"http://127.0.0.1:{port}/hook").permanent


def test_platform_that_never_answers_times_out_and_is_tried_again(platform, settings):
    settings.FORWARDING_TIMEOUT_S = 1
    platform.hold()
    error = refusal(platform.url + "/hook")
    assert not error.permanent
    assert "Timeout" in str(error)


@pytest.mark.parametrize("status_line", [b"200 OK", b"503 Service Unavailable"])
def test_connection_broken_mid_answer_is_tried_again(status_line):
    # The stub always answers in full; this server promises a body and hangs up after its first byte.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()

        def answer_half():
            connection, _ = server.accept()
            with connection:
                # Read the whole request (refusal() sends a body of 2 bytes): unread data would turn the
                # hang-up into a reset before the answer is read.
                received = chunk = b"-"
                while chunk and not received.endswith(b"\r\n\r\n{}"):
                    chunk = connection.recv(65536)
                    received += chunk
                connection.sendall(b"HTTP/1.1 " + status_line + b"\r\nContent-Length: 100\r\n\r\n{")
                connection.shutdown(socket.SHUT_WR)

        thread = threading.Thread(target=answer_half, daemon=True)
        thread.start()
        error = refusal(f"http://127.0.0.1:{server.getsockname()[1]}/hook")
        thread.join(timeout=10)
    assert not error.permanent


def test_invalid_url_is_not_tried_again():
    assert refusal("ftp://example.org/hook").permanent


def test_retry_after_in_seconds_is_passed_on(platform):
    platform.answer = answering(429, {"Retry-After": "120"})
    assert refusal(platform.url + "/hook").retry_after_s == 120


def test_retry_after_as_http_date_is_passed_on_as_seconds_from_now(platform):
    platform.answer = answering(
        503, {"Retry-After": format_datetime(timezone.now() + timedelta(minutes=5), usegmt=True)}
    )
    # The date has whole seconds and a moment passes between writing and reading it.
    assert 290 <= refusal(platform.url + "/hook").retry_after_s <= 300


def test_retry_after_in_the_past_means_at_once(platform):
    platform.answer = answering(503, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert refusal(platform.url + "/hook").retry_after_s == 0


@pytest.mark.parametrize("value", ["Sun Nov  6 08:49:37 2094", "Sat, 06 Nov 2094 08:49:37 -0000"])
def test_retry_after_as_http_date_without_a_zone_is_read_as_utc(platform, value):
    # RFC 9110 asks recipients to accept the asctime form; both mean UTC.
    platform.answer = answering(503, {"Retry-After": value})
    assert refusal(platform.url + "/hook").retry_after_s > 0


def test_unreadable_retry_after_is_ignored(platform):
    platform.answer = answering(503, {"Retry-After": "soon"})
    assert refusal(platform.url + "/hook").retry_after_s is None


def test_redirect_is_not_followed_and_not_tried_again(platform):
    platform.answer = answering(302, {"Location": platform.url + "/elsewhere"})
    error = refusal(platform.url + "/hook")
    assert error.permanent
    assert platform.to("/elsewhere") == []
    assert len(platform.requests) == 1


@pytest.fixture
def back_off_settings(settings):
    settings.FORWARDING_RETRY_S = 30
    settings.FORWARDING_MAX_BACKOFF_S = 3600


@pytest.mark.parametrize(
    ("failures", "retry_after_s", "wait_s"),
    [
        (0, None, 30),
        (1, None, 30),
        (2, None, 60),
        (3, None, 120),
        (7, None, 1920),
        (8, None, 3600),  # 3840 capped
        (1000, None, 3600),
        (1, 0, 30),
        (1, 300, 300),  # the platform asked for longer
        (5, 100, 480),  # the back-off is longer than asked for
        (8, 600, 3600),
    ],
)
def test_back_off_doubles_up_to_the_maximum_and_never_undercuts_retry_after(
    back_off_settings, failures, retry_after_s, wait_s
):
    assert backoff_s(failures, retry_after_s) == wait_s


def test_retry_after_beyond_the_maximum_back_off_waits_the_maximum(back_off_settings):
    # A platform asking for a day must not silence a stream for a day.
    assert backoff_s(1, 86_400) == 3600
