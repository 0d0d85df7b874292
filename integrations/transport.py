"""How a batch leaves the building: the transport interface every platform
implements, and the one HTTP call they share, which turns every way a request
can fail into a ``TransportError`` that says whether trying again can help."""

import uuid
from datetime import UTC
from email.utils import parsedate_to_datetime

import requests
from django.conf import settings
from django.utils import timezone

from ingest.signals import PublishedSample

#: Answers worth another try: the platform is busy, restarting or slow.
TRANSIENT_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))
#: Errors in the request itself: the next attempt would fail the same way.
_MALFORMED = (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema,
              requests.exceptions.InvalidHeader, requests.exceptions.URLRequired)


class TransportError(Exception):
    """The batch did not arrive. ``permanent``: trying again cannot help (the
    batch becomes a dead letter); otherwise the stream backs off and retries,
    not before ``retry_after_s`` if the platform said so."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after_s: int | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after_s = retry_after_s


class Transport:
    """Sends one stream's batches to its destination."""

    def __init__(self, stream):
        self.stream = stream

    def is_paused(self) -> bool:
        """True while the destination takes nothing (e.g. a webhook switched
        off): the drain leaves the samples waiting."""
        return False

    def push(self, delivery_id: uuid.UUID, samples: list[PublishedSample]) -> None:
        """Deliver the samples (oldest first) or raise ``TransportError``."""
        raise NotImplementedError


def post(url: str, *, body: bytes, headers: dict[str, str]) -> requests.Response:
    """POST without following redirects, within ``FORWARDING_TIMEOUT_S``;
    any answer but 2xx raises ``TransportError``."""
    try:
        response = requests.post(
            url,
            data=body,
            headers={"User-Agent": "Managair", **headers},
            timeout=settings.FORWARDING_TIMEOUT_S,
            allow_redirects=False,
        )
    except _MALFORMED as exc:
        raise TransportError(f"{type(exc).__name__}: {_first_line(exc)}", permanent=True) from exc
    except requests.RequestException as exc:
        # Refused, timed out, cut off mid-answer: the platform may be back soon.
        raise TransportError(f"{type(exc).__name__}: {_first_line(exc)}") from exc
    if 200 <= response.status_code < 300:
        return response
    message = f"HTTP {response.status_code} from {url.split('?')[0]}: {_first_line(response.text)[:200]}"
    transient = response.status_code in TRANSIENT_STATUSES
    raise TransportError(
        message, permanent=not transient, retry_after_s=_retry_after(response) if transient else None
    )


def _retry_after(response: requests.Response) -> int | None:
    value = response.headers.get("Retry-After", "").strip()
    if value.isdigit():
        return int(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        # The asctime form and "-0000" carry no zone; HTTP dates are UTC.
        moment = moment.replace(tzinfo=UTC)
    return max(0, int((moment - timezone.now()).total_seconds()))


def _first_line(value) -> str:
    text = str(value).strip()
    return text.splitlines()[0] if text else ""
