"""Conversion between the API's integer Unix seconds and aware datetimes.

The database stores ``timestamptz`` (date arithmetic, ``date_bin`` and the
admin's date hierarchy need it); the API speaks integer seconds. Every
conversion goes through here.
"""

from datetime import UTC, datetime

# Upstream Managair marks an open-ended installation with the largest 32-bit
# Unix time; clients send and expect exactly this value.
END_OF_TIME_S = 2**31 - 1
END_OF_TIME = datetime.fromtimestamp(END_OF_TIME_S, tz=UTC)


def from_unix(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def to_unix(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    return int(moment.timestamp())
