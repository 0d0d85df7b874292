"""The plausible range of every measured quantity: one table, used everywhere.

The database's check constraints on samples are built from it (so a change
here shows up in ``makemigrations``), and ingest validates against it before
it writes, so that a gateway gets a clear error instead of a failed insert.
The ranges are those of the sensors Managair supports (NDIR CO2 sensors
measure up to 40,000 ppm; the temperature range is the sensors' operating
range), not of comfortable rooms: an implausible value is a sensor fault to
be stored and seen, an impossible one is refused.
"""

from typing import NamedTuple


class Limit(NamedTuple):
    minimum: float
    maximum: float
    unit: str


SAMPLE_LIMITS: dict[str, Limit] = {
    "co2_ppm": Limit(0, 40_000, "ppm"),
    "temperature_celsius": Limit(-40, 85, "°C"),
    "rel_humidity_percent": Limit(0, 100, "%"),
}
