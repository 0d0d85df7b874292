"""Time series over a year of one-per-minute samples, against the references
of ../../shared/PERFORMANCE.md.

One organization, one node and one public installation spanning 2023 with a
sample every minute (525,600 rows), seeded with COPY, served by gunicorn
(2 workers, production settings) from a throwaway PostgreSQL. A table of the
same shape (node, timestamp, co2, temperature, humidity; unique (node,
timestamp)) holds the same rows for the references, which the benchmark
times in its own process over a persistent psycopg connection.

1. One day raw (1,440 points): installation series (owner and anonymous) and
   node series. Reference: the least authenticated request plus fetching the
   same rows from the reference table and ``json.dumps``-ing them. Target:
   <= least + 3 x rows-and-dump, and < 40 ms.
2. 30 days raw (43,200 points): the same, and the installation detail with
   ``include_timeseries=1`` (como-ui's month view). Target: <= least + 3 x
   rows-and-dump, < 400 ms.
3. The year by hour (``bucket_size=1h``). Reference: the least request plus
   the same hourly aggregate computed in SQL over the reference table and
   dumped. Target: <= least + 1 x it, < 150 ms.
4. The year as CSV (``Accept: text/csv``), streamed from a server with one
   worker: time, bytes and rows, and the worker's peak RSS growth. Target:
   < 50 MB.
5. Air quality for a month with the histogram. Target: < 200 ms.

    .venv/bin/python bench/timeseries.py

Environment: BENCH_PGPORT (54363), BENCH_PORT (8785), BENCH_ROUNDS (20),
BENCH_WARMUP (3), BENCH_CSV_ROUNDS (3), BENCH_PROFILE=1 profiles every
measure that missed its target in-process (cProfile, Django's test client)
and prints where its time went; BENCH_USE_ENV_DB=1 uses the server in SQL_*
instead.
"""

import cProfile
import io
import json
import os
import pstats
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    PRODUCTION_ENV,
    count_statements,
    machine_facts,
    median,
    memory_kb,
    p90,
    postgres,
    serve_wsgi,
    setup_django,
    table,
    time_calls_round_robin,
)

YEAR_START = datetime(2023, 1, 1, tzinfo=UTC)
MINUTES = 365 * 24 * 60
DAY_START = datetime(2023, 6, 14, tzinfo=UTC)
MONTH_START = datetime(2023, 6, 1, tzinfo=UTC)
AIR_QUALITY_MONTH = "2023-06"
BUCKET_TZ = "Europe/Berlin"
REFERENCE_TABLE = "bench_reference_series"

MOST_DAY_MS, MOST_MONTH_MS, MOST_HOURLY_MS, MOST_AIR_QUALITY_MS = 40, 400, 150, 200
DUMPS_ALLOWED_RAW, AGGREGATES_ALLOWED = 3, 1
MOST_RSS_GROWTH_MB = 50

LEAST = "least: GET /api/v1/auth/user/ (token)"
REF_DAY = "ref: a day's rows + json.dumps"
REF_MONTH = "ref: 30 days' rows + json.dumps"
REF_HOURLY = "ref: hourly aggregate in SQL + json.dumps"


def unix(moment: datetime) -> int:
    return int(moment.timestamp())


def window_query(start: datetime, days: int) -> str:
    # filter[to] is inclusive, in whole seconds.
    return f"filter[from]={unix(start)}&filter[to]={unix(start + timedelta(days=days)) - 1}"


# --- Seeding -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    token: str
    node: str
    installation: int
    room: int


def sample_lines(node: str):
    """COPY text lines of a classroom-like year: CO2 climbing through each
    lesson of a weekday and aired out in between, quiet nights and weekends;
    random enough that medians and percentiles have work to do."""
    rng = random.Random(4)
    for minute in range(MINUTES):
        moment = YEAR_START + timedelta(minutes=minute)
        local_hour = (moment.hour + 1) % 24  # near enough to Berlin's clock for a pattern
        occupied = moment.weekday() < 5 and 8 <= local_hour < 16
        if occupied:
            co2 = 600 + (minute % 90) * 14 + rng.randint(-40, 40)
            temperature = 21.0 + (minute % 90) / 45 + rng.randint(-3, 3) / 10
        else:
            co2 = 420 + rng.randint(0, 60)
            temperature = 19.0 + rng.randint(-5, 5) / 10
        humidity = 30 + rng.randint(0, 40) / 2
        yield f"{node}\t{moment:%Y-%m-%d %H:%M:%S}+00\t{co2}\t{temperature:.1f}\t{humidity}\tM\n"


def seed() -> Seeded:
    from django.db import connection, transaction
    from rest_framework.authtoken.models import Token

    from core import hourly
    from core.models import Installation, Node, NodeModel, Protocol, Room, Site, derive_node_id
    from user_manager.models import Membership, Organization, User

    with transaction.atomic():
        organization = Organization.objects.create(name="Bench")
        owner = User.objects.create_user(username="bench-owner", email="owner@example.org")
        Membership.objects.create(user=owner, organization=organization, role=Membership.Role.OWNER)
        protocol = Protocol.objects.create(identifier="CLAIRCHEN")
        model = NodeModel.objects.create(name="Clairchen Rev. B", manufacturer="Clair Berlin", sensor_type="NDIR")
        site = Site.objects.create(name="School", operator=organization)
        room = Room.objects.create(name="Class 7a", site=site)
        node = Node.objects.create(
            id=derive_node_id("CLAIRCHEN", "00000000000000a1"), eui64="00000000000000a1", alias="class 7a",
            protocol=protocol, model=model, owner=organization,
        )
        installation = Installation.objects.create(
            node=node, room=room, from_time=YEAR_START, to_time=YEAR_START + timedelta(minutes=MINUTES),
            is_public=True,
        )
        token = Token.objects.create(user=owner).key
        with connection.cursor() as cursor:
            columns = "node_id, timestamp, co2_ppm, temperature_celsius, rel_humidity_percent, measurement_status"
            with cursor.cursor.copy(f"COPY core_sample ({columns}) FROM STDIN") as copy:
                batch = []
                for line in sample_lines(str(node.pk)):
                    batch.append(line)
                    if len(batch) == 20_000:
                        copy.write("".join(batch))
                        batch.clear()
                copy.write("".join(batch))
            cursor.execute(
                f"CREATE TABLE {REFERENCE_TABLE} (node uuid NOT NULL, timestamp timestamptz NOT NULL,"
                " co2 integer NOT NULL, temperature real, humidity real, UNIQUE (node, timestamp))"
            )
            cursor.execute(
                f"INSERT INTO {REFERENCE_TABLE} SELECT node_id, timestamp, co2_ppm, temperature_celsius,"
                " rel_humidity_percent FROM core_sample"
            )
    # As the task cluster would within minutes of the COPY.
    started = time.perf_counter()
    hours = hourly.refresh()
    print(f"hourly summaries: {hours:,} hours recomputed in {time.perf_counter() - started:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return Seeded(token=token, node=str(node.pk), installation=installation.pk, room=room.pk)


# --- The references, in this process -----------------------------------------------------------------


def reference_connection():
    """As the server's connections are: JIT off (managair/settings.py)."""
    import psycopg

    return psycopg.connect(
        host=os.environ.get("SQL_HOST", "localhost"), port=os.environ.get("SQL_PORT", "5432"),
        user=os.environ.get("SQL_USER", "managair"), password=os.environ.get("SQL_PASSWORD", ""),
        dbname=os.environ.get("SQL_DATABASE", "managair"), autocommit=True, options="-c jit=off",
    )


_ROWS = (
    f"SELECT floor(date_part('epoch', timestamp))::bigint, co2, temperature, humidity FROM {REFERENCE_TABLE}"
    " WHERE node = %s AND timestamp >= %s AND timestamp < %s ORDER BY timestamp"
)
_HOURLY = f"""
SELECT floor(date_part('epoch', hour AT TIME ZONE %(tz)s))::bigint, count(*), avg(co2)::float8, min(co2), max(co2),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY co2), percentile_cont(0.9) WITHIN GROUP (ORDER BY co2),
       avg(temperature)::float8, min(temperature), max(temperature),
       avg(humidity)::float8, min(humidity), max(humidity)
FROM (
    SELECT date_trunc('hour', timestamp AT TIME ZONE %(tz)s) AS hour, co2, temperature, humidity
    FROM {REFERENCE_TABLE}
    WHERE node = %(node)s AND timestamp >= %(start)s AND timestamp < %(end)s
) AS samples
GROUP BY hour
ORDER BY hour
"""
_BUCKET_KEYS = (
    "bucket_start_s", "count", "co2_ppm_mean", "co2_ppm_min", "co2_ppm_max", "co2_ppm_median", "co2_ppm_p90",
    "temperature_celsius_mean", "temperature_celsius_min", "temperature_celsius_max",
    "rel_humidity_percent_mean", "rel_humidity_percent_min", "rel_humidity_percent_max",
)  # fmt: skip


def rows_and_dump(connection, node: str, start: datetime, days: int) -> str:
    rows = connection.execute(_ROWS, (node, start, start + timedelta(days=days))).fetchall()
    return json.dumps([
        {"timestamp_s": t, "co2_ppm": co2, "temperature_celsius": temperature, "rel_humidity_percent": humidity}
        for t, co2, temperature, humidity in rows
    ])


def hourly_and_dump(connection, node: str) -> str:
    rows = connection.execute(_HOURLY, {
        "tz": BUCKET_TZ, "node": node, "start": YEAR_START, "end": YEAR_START + timedelta(minutes=MINUTES),
    }).fetchall()
    return json.dumps([dict(zip(_BUCKET_KEYS, row, strict=True)) for row in rows])


def copy_csv(connection, node: str) -> tuple[int, float]:
    """The year as CSV straight out of PostgreSQL (``COPY … TO STDOUT``):
    bytes, seconds. What streaming a year can cost at the least."""
    query = (
        "COPY (SELECT floor(date_part('epoch', timestamp))::bigint,"
        " to_char(timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), co2, temperature, humidity"
        f" FROM {REFERENCE_TABLE} WHERE node = %s ORDER BY timestamp) TO STDOUT WITH (FORMAT csv, HEADER)"
    )
    started = time.perf_counter()
    size = 0
    with connection.cursor().copy(query, (node,)) as copy:
        for chunk in copy:
            size += len(chunk)
    return size, time.perf_counter() - started


# --- What is measured --------------------------------------------------------------------------------


@dataclass
class Measure:
    """One request and what it must meet."""

    name: str
    path: str
    anonymous: bool = False
    group: str = ""
    expect: dict = field(default_factory=dict)  # e.g. {"points": 1440}
    size: int = 0  # bytes of the answer, as checked


def measures(seeded: Seeded) -> list[Measure]:
    inst, node = seeded.installation, seeded.node
    day, month = window_query(DAY_START, 1), window_query(MONTH_START, 30)
    year = window_query(YEAR_START, 365)
    hourly = f"bucket_size=1h&bucket_tz={BUCKET_TZ}&{year}"
    found = []
    for group, query, points in (("day", day, 1440), ("30 days", month, 43_200)):
        found += [
            Measure(f"{group}: installations/{{id}}/timeseries/ (owner)",
                    f"/api/v1/installations/{inst}/timeseries/?{query}", group=group, expect={"points": points}),
            Measure(f"{group}: installations/{{id}}/timeseries/ (anonymous)",
                    f"/api/v1/installations/{inst}/timeseries/?{query}", anonymous=True, group=group,
                    expect={"points": points}),
            Measure(f"{group}: node-timeseries/{{id}}/ (owner)", f"/api/v1/node-timeseries/{node}/?{query}",
                    group=group, expect={"points": points}),
        ]
    found += [
        Measure("30 days: installations/{id}?include_timeseries=1 (owner)",
                f"/api/v1/installations/{inst}?include_timeseries=1&{month}", group="30 days",
                expect={"points": 43_200, "embedded": True}),
        Measure("30 days: installations/{id}?include_timeseries=1 (anonymous)",
                f"/api/v1/installations/{inst}?include_timeseries=1&{month}", anonymous=True, group="30 days",
                expect={"points": 43_200, "embedded": True}),
        Measure("year by hour: installations/{id}/timeseries/?bucket_size=1h (owner)",
                f"/api/v1/installations/{inst}/timeseries/?{hourly}", group="year by hour",
                expect={"buckets": 365 * 24}),
        Measure("year by hour: installations/{id}/timeseries/?bucket_size=1h (anonymous)",
                f"/api/v1/installations/{inst}/timeseries/?{hourly}", anonymous=True, group="year by hour",
                expect={"buckets": 365 * 24}),
        Measure("year by hour: node-timeseries/{id}/?bucket_size=1h (owner)",
                f"/api/v1/node-timeseries/{node}/?{hourly}", group="year by hour", expect={"buckets": 365 * 24}),
        Measure(f"air quality: rooms/{{id}}/airquality/{AIR_QUALITY_MONTH}/ (owner)",
                f"/api/v1/rooms/{seeded.room}/airquality/{AIR_QUALITY_MONTH}/?include_histogram=true",
                group="air quality", expect={"histogram": True}),
        Measure(f"air quality: rooms/{{id}}/airquality/{AIR_QUALITY_MONTH}/ (anonymous)",
                f"/api/v1/rooms/{seeded.room}/airquality/{AIR_QUALITY_MONTH}/?include_histogram=true",
                anonymous=True, group="air quality", expect={"histogram": True}),
    ]
    return found


def headers(token: str | None) -> dict:
    found = {"Accept": "application/vnd.api+json"}
    if token:
        found["Authorization"] = f"Token {token}"
    return found


def check(measure: Measure, response: requests.Response) -> str | None:
    """Why the answer is not the one to time, or None when it is."""
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    measure.size = len(response.content)
    document = response.json()
    attributes = document.get("data", {}).get("attributes", {})
    series = attributes.get("timeseries" if measure.expect.get("embedded") else "samples")
    if "points" in measure.expect:
        if series is None or len(series) != measure.expect["points"]:
            return f"{measure.expect['points']} samples expected, got {None if series is None else len(series)}"
    if "buckets" in measure.expect:
        if not series or "bucket_start_s" not in series[0]:
            return f"buckets expected, got {str(series)[:120]}"
        if abs(len(series) - measure.expect["buckets"]) > 2:  # the hour the clocks go back, etc.
            return f"~{measure.expect['buckets']} buckets expected, got {len(series)}"
    if measure.expect.get("histogram") and "airq_hist" not in attributes:
        return "no airq_hist in the answer"
    return None


# --- The year as CSV -----------------------------------------------------------------------------------


@dataclass
class CSVRun:
    seconds: float
    first_byte_s: float
    size: int
    rows: int
    header: str


def export(url: str) -> CSVRun:
    started = time.perf_counter()
    size = lines = 0
    first_byte = None
    head = b""
    with requests.get(url, headers={"Accept": "text/csv"}, stream=True, timeout=300) as response:
        if response.status_code != 200 or not response.headers.get("Content-Type", "").startswith("text/csv"):
            raise RuntimeError(f"CSV: HTTP {response.status_code} {response.headers.get('Content-Type')}: "
                               f"{response.text[:200]}")
        for chunk in response.iter_content(chunk_size=1 << 16):
            if first_byte is None:
                first_byte = time.perf_counter() - started
            if len(head) < 200:
                head += chunk[:200]
            size += len(chunk)
            lines += chunk.count(b"\n")
    return CSVRun(time.perf_counter() - started, first_byte or 0.0, size, lines - 1,
                  head.split(b"\r\n")[0].split(b"\n")[0].decode())


def measure_csv(env: dict, port: int, seeded: Seeded, rounds: int) -> dict:
    """The year's raw installation series as CSV, from a server with one
    worker (whose memory is then the answer's): the first export after a
    warm-up gives the peak RSS growth, all of them the time."""
    path = f"/api/v1/installations/{seeded.installation}/timeseries/?{window_query(YEAR_START, 365)}"
    warm = f"/api/v1/installations/{seeded.installation}/timeseries/?{window_query(DAY_START, 1)}"
    with serve_wsgi("managair.wsgi", env, port=port, workers=1) as server:
        (worker,) = server.worker_pids()
        # Warm the worker as serving does: code imported, connection open, a small CSV and JSON answered.
        export(server.url + warm)
        requests.get(server.url + warm, headers=headers(None), timeout=60).raise_for_status()
        before = memory_kb(worker)
        runs = [export(server.url + path)]
        after = memory_kb(worker)
        runs += [export(server.url + path) for _ in range(rounds - 1)]
    return {"runs": runs, "before": before, "after": after,
            "growth_mb": (after["VmHWM"] - before["VmRSS"]) / 1024}


# --- Profiling what missed -------------------------------------------------------------------------------


def profile(measure: Measure, token: str, repeat: int = 5, top: int = 25) -> str:
    """Where a request's time goes, served ``repeat`` times in this process
    through Django's test client (the server's code, minus the network)."""
    from django.test import Client

    meta = {} if measure.anonymous else {"HTTP_AUTHORIZATION": f"Token {token}"}
    client = Client(HTTP_HOST="127.0.0.1", HTTP_ACCEPT="application/vnd.api+json", **meta)
    client.get(measure.path)  # warm
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for _ in range(repeat):
        client.get(measure.path)
    profiler.disable()
    elapsed_ms = (time.perf_counter() - started) * 1000 / repeat
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    return f"### {measure.name}: {elapsed_ms:.1f} ms per request in-process (cProfile on)\n{out.getvalue()}"


# --- Putting it together -------------------------------------------------------------------------------


def targets(timings: dict) -> dict[str, tuple[float, str, float]]:
    """Per group: (reference ms, target text, budget ms) and the absolute limit."""
    least = median(timings[LEAST])
    found = {}
    for group, ref, allowed, limit in (
        ("day", REF_DAY, DUMPS_ALLOWED_RAW, MOST_DAY_MS),
        ("30 days", REF_MONTH, DUMPS_ALLOWED_RAW, MOST_MONTH_MS),
        ("year by hour", REF_HOURLY, AGGREGATES_ALLOWED, MOST_HOURLY_MS),
    ):
        work = median(timings[ref])
        budget = least + allowed * work
        found[group] = (least + work, f"<= {least:.1f} + {allowed} x {work:.1f} = {budget:.1f} ms, < {limit} ms",
                        budget, limit)
    found["air quality"] = (least, f"< {MOST_AIR_QUALITY_MS} ms", float("inf"), MOST_AIR_QUALITY_MS)
    return found


def report(timings: dict, statements: dict, found: list[Measure], skipped: dict) -> tuple[str, list[Measure]]:
    goals = targets(timings)
    rows, missed = [], []
    for name in (LEAST, REF_DAY, REF_MONTH, REF_HOURLY):
        rows.append([name, f"{median(timings[name]):.1f}", f"{p90(timings[name]):.1f}", "-", "-", "-", "-", "reference",
                     ""])
    for measure in found:
        if measure.name in skipped:
            rows.append([measure.name, "-", "-", "-", "-", "-", "-", "not measured", skipped[measure.name][:60]])
            continue
        values = timings[measure.name]
        reference, target, budget, limit = goals[measure.group]
        met = median(values) <= budget and median(values) < limit
        if not met:
            missed.append(measure)
        rows.append([measure.name, f"{median(values):.1f}", f"{p90(values):.1f}", f"{measure.size / 1000:,.0f}",
                     str(statements.get(measure.name, "-")), f"{reference:.1f}", f"{median(values) / reference:.2f}",
                     target, "met" if met else "MISSED"])
    header = ["measure", "median ms", "p90 ms", "kB", "SQL", "ref ms", "x ref", "target", ""]
    return table(header, rows), missed


def csv_report(csv: dict, reference: tuple[int, float]) -> str:
    runs = csv["runs"]
    seconds = median([run.seconds for run in runs])
    ref_size, ref_seconds = reference
    growth = csv["growth_mb"]
    rows = [
        ["year as CSV: total s (median)", f"{seconds:.2f}", f"{ref_seconds:.2f}", f"{seconds / ref_seconds:.1f} x",
         "", ""],
        ["year as CSV: first byte ms (median)", f"{median([run.first_byte_s for run in runs]) * 1000:.0f}", "-", "-",
         "", ""],
        ["year as CSV: MB sent", f"{runs[0].size / 1e6:.1f}", f"{ref_size / 1e6:.1f}", "-", "", ""],
        ["year as CSV: data rows", f"{runs[0].rows:,}", f"{MINUTES:,}", "-", f"= {MINUTES:,}",
         "met" if runs[0].rows == MINUTES else "MISSED"],
        ["year as CSV: worker peak RSS growth MB", f"{growth:.1f}", "-", "-", f"< {MOST_RSS_GROWTH_MB} MB",
         "met" if growth < MOST_RSS_GROWTH_MB else "MISSED"],
    ]
    before, after = csv["before"], csv["after"]
    memory = (f"worker VmRSS {before['VmRSS'] / 1024:.1f} -> {after['VmRSS'] / 1024:.1f} MB, "
              f"VmHWM {before['VmHWM'] / 1024:.1f} -> {after['VmHWM'] / 1024:.1f} MB")
    took = ", ".join(f"{run.seconds:.2f}" for run in runs)
    return (table(["measure", "Managair", "COPY TO STDOUT", "ratio", "target", ""], rows)
            + f"\nCSV header: {runs[0].header}\n{memory}; exports took {took} s")


def main() -> None:
    pg_port = int(os.environ.get("BENCH_PGPORT", "54363"))
    server_port = int(os.environ.get("BENCH_PORT", "8785"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "20"))
    warmup = int(os.environ.get("BENCH_WARMUP", "3"))
    csv_rounds = int(os.environ.get("BENCH_CSV_ROUNDS", "3"))
    print("\n".join(machine_facts()))
    with postgres(pg_port) as database:
        env = {**PRODUCTION_ENV, **database}
        setup_django(env)
        started = time.perf_counter()
        seeded = seed()
        seeding_s = time.perf_counter() - started
        from django.db import connection

        print(f"PostgreSQL {connection.pg_version // 10000}, gunicorn 2 sync workers, {rounds} rounds after "
              f"{warmup} warm-up rounds; CSV: 1 worker, {csv_rounds} exports")
        print(f"1 node, 1 public installation over 2023, {MINUTES:,} samples (one a minute), seeded with COPY and "
              f"VACUUM ANALYZE in {seeding_s:.1f} s\n")
        found = measures(seeded)
        statements = {}
        for measure in found:
            measure_headers = headers(None if measure.anonymous else seeded.token)
            count_statements(measure.path, measure_headers)  # Warm per-process caches, as a serving worker has them.
            status, count = count_statements(measure.path, measure_headers)
            if status == 200:
                statements[measure.name] = count
        connection.close()  # The server's workers hold their own.

        reference_db = reference_connection()
        sessions = {False: requests.Session(), True: requests.Session()}
        sessions[False].headers.update(headers(seeded.token))
        sessions[True].headers.update(headers(None))
        skipped = {}
        with serve_wsgi("managair.wsgi", env, port=server_port, workers=2) as server:
            calls = {
                LEAST: _getter(sessions[False], server.url + "/api/v1/auth/user/"),
                REF_DAY: lambda: rows_and_dump(reference_db, seeded.node, DAY_START, 1),
                REF_MONTH: lambda: rows_and_dump(reference_db, seeded.node, MONTH_START, 30),
                REF_HOURLY: lambda: hourly_and_dump(reference_db, seeded.node),
            }
            for measure in found:
                problem = check(measure, sessions[measure.anonymous].get(server.url + measure.path, timeout=120))
                if problem:
                    skipped[measure.name] = problem
                    print(f"not measured: {measure.name}: {problem}")
                else:
                    calls[measure.name] = _getter(sessions[measure.anonymous], server.url + measure.path)
            timings = time_calls_round_robin(calls, rounds=rounds, warmup=warmup)
        try:
            csv = measure_csv(env, server_port, seeded, csv_rounds)
            csv_text = csv_report(csv, copy_csv(reference_db, seeded.node))
        except RuntimeError as error:
            csv_text = f"year as CSV: not measured: {error}"
        reference_db.close()
        text, missed = report(timings, statements, found, skipped)
        print(text)
        print()
        print(csv_text)
        if os.environ.get("BENCH_PROFILE") == "1" and missed:
            print()
            for measure in missed:
                print(profile(measure, seeded.token))


def _getter(session: requests.Session, url: str):
    def get():
        response = session.get(url, timeout=120)
        if response.status_code != 200:
            raise RuntimeError(f"{url}: HTTP {response.status_code}: {response.text[:300]}")
        return response

    return get


if __name__ == "__main__":
    main()
