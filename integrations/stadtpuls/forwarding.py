"""What Stadtpuls gets and how: the signal receiver that records public
samples in the outbox, and the transport that registers an installation's
sensor once and sends CO2 records in batches."""

import json
from datetime import UTC, datetime

from django.conf import settings

from core.models import Installation
from ingest.signals import PublishedSample
from integrations import outbox
from integrations.stadtpuls.models import Sensor
from integrations.transport import Transport, TransportError, post

NAME = "stadtpuls"
#: Stadtpuls refuses longer sensor names.
NAME_MAX_LENGTH = 49
REQUIRED = ("LOGIN_ENDPOINT", "SENSOR_ENDPOINT", "RECORDS_ENDPOINT", "LOGIN_EMAIL", "API_KEY", "LOGIN_PWD", "AUTH_TOKEN")


def is_configured() -> bool:
    return all(settings.STADTPULS.get(name) for name in REQUIRED)


def record(sender, samples: list[PublishedSample], **kwargs) -> None:
    """``sample_published`` receiver: every public sample goes to Stadtpuls."""
    if is_configured():
        outbox.record(NAME, (("", sample.installation_id, sample.sample_id) for sample in samples))


class StadtpulsTransport(Transport):
    def is_paused(self) -> bool:
        # Configuration removed since the samples were recorded: keep them.
        return not is_configured()

    def push(self, delivery_id, samples: list[PublishedSample]) -> None:
        sensor_id = self._sensor_id()
        records = [{"recorded_at": _iso_utc(s.timestamp_s), "measurements": [s.co2_ppm]} for s in samples]
        try:
            post(
                f"{settings.STADTPULS['RECORDS_ENDPOINT'].rstrip('/')}/{sensor_id}/records",
                body=json.dumps({"records": records}).encode(),
                headers={
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {settings.STADTPULS['AUTH_TOKEN']}",
                },
            )
        except TransportError as error:
            raise _credentials_are_not_the_batchs_fault(error) from error

    def _sensor_id(self) -> int:
        known = Sensor.objects.filter(installation_id=self.stream.installation_id).values_list("sensor_id", flat=True)
        for sensor_id in known:
            return sensor_id
        # Only one drain of this installation's stream runs at a time, so
        # nobody else registers it meanwhile.
        sensor_id = register(Installation.objects.select_related("node", "room__site__address").get(
            pk=self.stream.installation_id
        ))
        Sensor.objects.create(installation_id=self.stream.installation_id, sensor_id=sensor_id)
        return sensor_id


def register(installation: Installation) -> int:
    """Create the installation's sensor at Stadtpuls; returns its id. Any
    failure is transient: the batch is not at fault, and a corrected
    configuration lets the next attempt succeed without staff."""
    access_token, user_id = _log_in()
    address = installation.room.site.address
    body = {
        "name": sensor_name(installation),
        "description": f"CO2 in {installation.room.name}, {installation.room.site.name} (Managair installation {installation.pk})",
        "connection_type": "http",
        "location": address.city if address else "",
        "latitude": float(address.latitude) if address and address.latitude is not None else None,
        "longitude": float(address.longitude) if address and address.longitude is not None else None,
        "user_id": user_id,
        "category_id": 1,
    }
    response = _post_transient(
        "registering the sensor",
        settings.STADTPULS["SENSOR_ENDPOINT"],
        body,
        {
            "apikey": settings.STADTPULS["API_KEY"],
            "Authorization": f"Bearer {access_token}",
            "Prefer": "return=representation",
        },
    )
    try:
        return int(response.json()[0]["id"])
    except (ValueError, TypeError, LookupError) as exc:
        raise TransportError(f"Stadtpuls answered the sensor registration without an id: {response.text[:200]}") from exc


def sensor_name(installation: Installation) -> str:
    name = f"{installation.node.alias or installation.node.pk} in {installation.room.name}"
    return name if len(name) <= NAME_MAX_LENGTH else name[: NAME_MAX_LENGTH - 1] + "…"


def _log_in() -> tuple[str, str]:
    response = _post_transient(
        "logging in",
        f"{settings.STADTPULS['LOGIN_ENDPOINT']}?grant_type=password",
        {"email": settings.STADTPULS["LOGIN_EMAIL"], "password": settings.STADTPULS["LOGIN_PWD"]},
        {"apikey": settings.STADTPULS["API_KEY"]},
    )
    try:
        answer = response.json()
        return answer["access_token"], answer["user"]["id"]
    except (ValueError, TypeError, LookupError) as exc:
        raise TransportError("Stadtpuls answered the login without access_token and user.id") from exc


def _post_transient(step: str, url: str, body: dict, headers: dict):
    try:
        return post(url, body=json.dumps(body).encode(), headers={"Content-Type": "application/json", **headers})
    except TransportError as error:
        raise TransportError(f"Stadtpuls, {step}: {error}", retry_after_s=error.retry_after_s) from error


def _credentials_are_not_the_batchs_fault(error: TransportError) -> TransportError:
    # A refused token is a configuration problem: back off until it is
    # fixed rather than burying every batch meanwhile.
    if error.permanent and str(error).startswith(("HTTP 401", "HTTP 403")):
        return TransportError(f"Stadtpuls refused SP_AUTH_TOKEN: {error}")
    return error


def _iso_utc(timestamp_s: int) -> str:
    return datetime.fromtimestamp(timestamp_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
