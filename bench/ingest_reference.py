"""The references of bench/ingest.py (../../shared/PERFORMANCE.md): the least
work any ingest path must do, with no framework.

- ``application``: a bare WSGI app that parses one Sample and stores it with
  one ``INSERT … ON CONFLICT DO NOTHING`` (autocommit) over a connection each
  worker keeps. Served by gunicorn with the same flags as Managair.
- ``copy_bodies``: ``json.loads`` batch bodies and ``COPY`` their rows, in
  the calling process.

Both write into tables shaped like core_sample: the same column types and the
unique (node, timestamp) index, but no surrogate id, foreign key or checks.
"""

import json
import os
import time
from datetime import UTC, datetime

import psycopg

SINGLE_TABLE = "bench_reference_sample"
COPY_TABLE = "bench_reference_copy"


def connect(autocommit: bool = True) -> psycopg.Connection:
    """To the database named by the ``SQL_*`` variables, as Django connects."""
    return psycopg.connect(
        host=os.environ.get("SQL_HOST", "localhost"), port=os.environ.get("SQL_PORT", "5432"),
        user=os.environ.get("SQL_USER", "managair"), password=os.environ.get("SQL_PASSWORD", ""),
        dbname=os.environ.get("SQL_DATABASE", "managair"), autocommit=autocommit,
    )


def create_tables(connection: psycopg.Connection) -> None:
    for table in (SINGLE_TABLE, COPY_TABLE):
        connection.execute(
            f"CREATE TABLE {table} (node uuid NOT NULL, timestamp timestamptz NOT NULL, co2 integer NOT NULL,"
            f" temperature real, humidity real, UNIQUE (node, timestamp))"
        )


def row(sample: dict) -> tuple:
    attributes = sample["attributes"]
    return (
        sample["relationships"]["node"]["data"]["id"],
        datetime.fromtimestamp(attributes["timestamp_s"], UTC),
        attributes["co2_ppm"],
        attributes.get("temperature_celsius"),
        attributes.get("rel_humidity_percent"),
    )


# --- One sample per request, over HTTP ---------------------------------------------

_INSERT = (
    f"INSERT INTO {SINGLE_TABLE} (node, timestamp, co2, temperature, humidity)"
    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
)
# Opened in the worker on its first request: a connection must not cross gunicorn's fork.
_connection: psycopg.Connection | None = None


def application(environ, start_response):
    global _connection
    if environ["REQUEST_METHOD"] != "POST":  # gunicorn's readiness probe
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    try:
        sample = json.loads(body)["data"]
        values = row(sample)
    except (ValueError, KeyError, TypeError):
        start_response("400 Bad Request", [("Content-Type", "text/plain")])
        return [b"bad sample"]
    if _connection is None:
        _connection = connect()
    _connection.execute(_INSERT, values)
    answer = json.dumps({"data": sample}).encode()
    start_response("201 Created", [("Content-Type", "application/vnd.api+json"),
                                   ("Content-Length", str(len(answer)))])
    return [answer]


# --- Batches, in this process ------------------------------------------------------------


def copy_bodies(connection: psycopg.Connection, bodies: list[bytes]) -> float:
    """Seconds to parse and COPY every body, each in a transaction of its own
    as a batch request would be."""
    started = time.perf_counter()
    for body in bodies:
        with connection.transaction(), connection.cursor() as cursor:
            with cursor.copy(f"COPY {COPY_TABLE} (node, timestamp, co2, temperature, humidity) FROM STDIN") as copy:
                for sample in json.loads(body)["data"]:
                    copy.write_row(row(sample))
    return time.perf_counter() - started
