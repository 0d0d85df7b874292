"""Ingest and time-series reads with 50 million samples stored, against the
same with 1 million (issue 8/8: both stay within 20 % of their values at
1 million).

One throwaway PostgreSQL and Managair under gunicorn with production
settings, as in the other benchmarks. The inventory: bench/ingest.py's
organization with its 1,000 ingest nodes and an ingest key; an owner with a
token; a classroom node with a public installation and a year of samples,
one a minute, ending at the last UTC midnight; a fleet of 1,000 more nodes
whose history fills the table.

Phase A loads the table to BENCH_SCALE_BASE samples (the classroom year
first, the rest from the fleet) with COPY, runs VACUUM ANALYZE and brings
the hourly summaries up to date (``core.hourly.refresh``, as the task
cluster would), then measures. Phase B grows the table to BENCH_SCALE_ROWS
samples the same way and measures the same things again.

- Reads, as bench/timeseries.py (2 sync workers; median and p90 of
  BENCH_ROUNDS rounds after BENCH_WARMUP): a day raw (1,440 points), 30 days
  raw (43,200) and the year by hour, of the classroom node, with the same
  references (the least authenticated request; the same rows or hourly
  aggregate from a same-shape table and ``json.dumps``).
- Ingest, as bench/ingest.py (wrk at 16 connections against Managair and the
  bare WSGI + INSERT app; 3 client processes of 1,000-sample batches against
  parse + COPY in this process), BENCH_INGEST_ROUNDS rounds. Each phase
  writes samples of its own seconds: phase B's lie 1,000,000 s before
  phase A's, so none is a duplicate.

The fleet's samples come one a minute per node, a node-day at a time, the
days spread over the two years before the last UTC midnight: every month of
those years holds samples at either size, so with the samples table
partitioned by month (``core.partitions``: the months missing are created
before loading) the partitions of all those months are populated (not the
months ahead, nor the default partition). The classroom node's rows stay
where phase A put them: what grows around them is the table, its indexes and
the other nodes' histories, as in a deployment whose history grows.

Targets, 50 million against 1 million: requests/s and samples/s at least
0.8 x, each read's median at most 1.2 x. References move with the machine
(shared, noisy): their ratios show how much of a change is the machine's.

    .venv/bin/python bench/scale.py

Needs wrk (apt-get install wrk) and 200 bytes of free disk per sample plus
2 GiB (checked before loading; 50 million: ~11 GiB). Environment:
BENCH_PGPORT (54365), BENCH_PORT (8795), BENCH_REFERENCE_PORT (8796), BENCH_SCALE_BASE
(1000000), BENCH_SCALE_ROWS (50000000), BENCH_ROUNDS (20), BENCH_WARMUP (3),
BENCH_INGEST_ROUNDS (4), BENCH_DURATION_S (8), BENCH_BATCHES (40 per client
and round), BENCH_WORKERS (ingest server; unset: as gunicorn.conf.py
decides), BENCH_USE_ENV_DB=1 uses the server in SQL_* instead (disk not
checked).
"""

import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from math import lcm
from pathlib import Path
from random import Random

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import ingest, ingest_reference  # noqa: E402
from bench.common import (  # noqa: E402
    PRODUCTION_ENV,
    machine_facts,
    median,
    p90,
    postgres,
    serve_wsgi,
    setup_django,
    table,
    time_calls_round_robin,
)
from bench.timeseries import (  # noqa: E402
    _BUCKET_KEYS,
    _HOURLY,
    BUCKET_TZ,
    LEAST,
    REF_DAY,
    REF_HOURLY,
    REF_MONTH,
    REFERENCE_TABLE,
    Measure,
    _getter,
    check,
    headers,
    reference_connection,
    rows_and_dump,
    window_query,
)

DAY_MINUTES = 24 * 60
YEAR_DAYS = 365
SPAN_DAYS = 730  # the fleet's history
FLEET = 1000
# Fleet node-day c is node c % FLEET on day (c * DAY_STRIDE) % SPAN_DAYS. The
# stride is near SPAN_DAYS / golden ratio and prime to it: the first node-days
# of any count spread evenly over the whole span, and no (node, day) repeats
# before lcm(FLEET, SPAN_DAYS) node-days (105 million samples).
DAY_STRIDE = 451
MOST_FLEET_DAYS = lcm(FLEET, SPAN_DAYS)
# The classroom's day and 30 days, counted back from the end of its year.
DAY_BACK, MONTH_BACK = 170, 200
PHASE_SHIFT_S = 1_000_000  # between the phases' ingested samples; past every range bench/ingest.py uses
COPY_ROWS = 1_000_000  # samples per COPY and transaction
PROGRESS_S = 30
BYTES_PER_SAMPLE = 200  # table and indexes took ~170 in small runs; summaries and WAL come on top
SPARE_BYTES = 2 << 30

LEAST_THROUGHPUT_RATIO = 0.8
MOST_LATENCY_RATIO = 1.2

REF_SINGLE = "ref: bare WSGI + INSERT: requests/s"
REF_BATCHES = "ref: parse + COPY: samples/s"
SINGLE = "ingest: single sample, c=16: requests/s"
BATCHES = f"ingest: {ingest.BATCH:,}-sample batches, {ingest.CLIENTS} clients: samples/s"
SINGLE_P99 = "ingest: single sample, c=16: p99 ms"


# --- Samples as COPY text ------------------------------------------------------------------------


def day_tails(seed: int, occupied: bool) -> list[str]:
    """A day's rows after node and date (time, CO2, temperature, humidity,
    status): a classroom, CO2 climbing through each lesson and aired out in
    between, or a quiet day."""
    rng = Random(seed)
    tails = []
    for minute in range(DAY_MINUTES):
        hour = minute // 60
        if occupied and 7 <= hour < 15:
            co2 = 600 + (minute % 90) * 14 + rng.randint(-40, 40)
            temperature = 21.0 + (minute % 90) / 45 + rng.randint(-3, 3) / 10
        else:
            co2 = 420 + rng.randint(0, 60)
            temperature = 19.0 + rng.randint(-5, 5) / 10
        humidity = 30 + rng.randint(0, 40) / 2
        tails.append(f"{hour:02d}:{minute % 60:02d}:00+00\t{co2}\t{temperature:.1f}\t{humidity}\tM\n")
    return tails


class Samples:
    """COPY text of the classroom's year and of the fleet's history, in
    pieces of at most a node-day, each node-day's minutes in order (so the
    hourly summaries' insert trigger marks each hour once)."""

    WORKDAYS, QUIET_DAYS = 10, 4

    def __init__(self, end: datetime, fleet: list[str]):
        self.end, self.fleet = end, fleet
        self.tails = ([day_tails(seed, occupied=True) for seed in range(self.WORKDAYS)]
                      + [day_tails(100 + seed, occupied=False) for seed in range(self.QUIET_DAYS)])
        self.fleet_loaded = 0  # the fleet's samples so far; the next is number fleet_loaded

    def _day(self, node: str, day: datetime, variant: int, first: int = 0, last: int = DAY_MINUTES) -> str:
        prefix = f"{node}\t{day:%Y-%m-%d} "
        return "".join([prefix + tail for tail in self.tails[variant][first:last]])

    def classroom_year(self, node: str):
        for n in range(YEAR_DAYS):
            day = self.end - timedelta(days=YEAR_DAYS - n)
            variant = n % self.WORKDAYS if day.weekday() < 5 else self.WORKDAYS + n % self.QUIET_DAYS
            yield self._day(node, day, variant), DAY_MINUTES

    def fleet_history(self, count: int):
        """The fleet's next ``count`` samples."""
        number, last = self.fleet_loaded, self.fleet_loaded + count
        if -(-last // DAY_MINUTES) > MOST_FLEET_DAYS:
            raise RuntimeError(f"more than {MOST_FLEET_DAYS * DAY_MINUTES:,} fleet samples would repeat a node-day")
        while number < last:
            node_day, first = divmod(number, DAY_MINUTES)
            until = min(DAY_MINUTES, first + last - number)
            day = self.end - timedelta(days=SPAN_DAYS - (node_day * DAY_STRIDE) % SPAN_DAYS)
            number += until - first
            # Counted before the piece is handed out: the consumer may stop right after it.
            self.fleet_loaded = number
            yield (self._day(self.fleet[node_day % FLEET], day, node_day % len(self.tails), first, until),
                   until - first)


COLUMNS = "node_id, timestamp, co2_ppm, temperature_celsius, rel_humidity_percent, measurement_status"


def copy_samples(pieces, total: int, label: str) -> float:
    """COPY the pieces into core_sample, COPY_ROWS per transaction, with a
    progress line every PROGRESS_S; returns the seconds taken."""
    started = last_report = time.perf_counter()
    done = reported = 0
    pieces = iter(pieces)
    with ingest_reference.connect() as connection:
        while done < total:
            in_transaction = 0
            with connection.transaction(), connection.cursor().copy(f"COPY core_sample ({COLUMNS}) FROM STDIN") as copy:
                buffer, buffered = [], 0
                for text, rows in pieces:
                    buffer.append(text)
                    buffered += rows
                    if buffered >= 50_000:
                        copy.write("".join(buffer))
                        in_transaction += buffered
                        buffer, buffered = [], 0
                    if in_transaction + buffered >= COPY_ROWS:
                        break
                copy.write("".join(buffer))
                in_transaction += buffered
            if not in_transaction:
                break
            done += in_transaction
            now = time.perf_counter()
            if now - last_report >= PROGRESS_S or done >= total:
                rate, recent = done / (now - started), (done - reported) / (now - last_report)
                left = (total - done) / rate if rate else 0
                print(f"  {label}: {done:,} / {total:,} samples, {rate:,.0f} rows/s (last {recent:,.0f} rows/s), "
                      f"{now - started:.0f} s, ~{left:.0f} s to go", flush=True)
                last_report, reported = now, done
    return time.perf_counter() - started


# --- The inventory ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inventory:
    ingest_nodes: list[str]
    key: str
    token: str
    node: str
    installation: int
    fleet: list[str]


def seed(end: datetime) -> Inventory:
    from django.db import transaction
    from rest_framework.authtoken.models import Token

    from core.models import Installation, Node, NodeModel, Protocol, Room, Site, derive_node_id
    from user_manager.models import Membership, Organization, User

    ingest_nodes, key = ingest.seed()  # organization "Bench", 1,000 nodes, an ingest key
    with transaction.atomic():
        organization = Organization.objects.get(name="Bench")
        protocol, model = Protocol.objects.get(identifier="CLAIRCHEN"), NodeModel.objects.get()
        owner = User.objects.create_user(username="bench-owner", email="owner@example.org")
        Membership.objects.create(user=owner, organization=organization, role=Membership.Role.OWNER)
        token = Token.objects.create(user=owner).key
        room = Room.objects.create(name="Class 7a", site=Site.objects.create(name="School", operator=organization))

        def node(eui64: str, alias: str) -> Node:
            return Node(id=derive_node_id("CLAIRCHEN", eui64), eui64=eui64, alias=alias, protocol=protocol,
                        model=model, owner=organization)

        # EUI-64s apart from bench/ingest.py's (0 to 999).
        classroom = node("5c00000000000001", "class 7a")
        classroom.save()
        installation = Installation.objects.create(node=classroom, room=room, from_time=end - timedelta(days=YEAR_DAYS),
                                                   to_time=end, is_public=True)
        fleet = Node.objects.bulk_create(node(f"f1ee{n:012x}", f"fleet {n:04d}") for n in range(FLEET))
    return Inventory(ingest_nodes=ingest_nodes, key=key, token=token, node=str(classroom.pk),
                     installation=installation.pk, fleet=[str(n.pk) for n in fleet])


def prepare_partitions(first: datetime) -> str:
    """With the samples table partitioned by month, every month from
    ``first`` on gets its partition before loading, as the daily task would
    have created them over the years; otherwise the default partition would
    hold the history."""
    try:
        from core import partitions
    except ImportError:
        return "samples table not partitioned (no core.partitions)"
    if not partitions.is_partitioned():
        return "samples table not partitioned"
    have = set(partitions.existing())
    months = partitions.months_between(partitions.Month.of(first), partitions.Month.of(datetime.now(UTC)))
    missing = [month for month in months if month not in have]
    for month in missing:
        partitions.create(month)
    return f"samples table partitioned by month: {len(missing)} partitions created for {months[0]} to {months[-1]}"


def create_reference_table(node: str) -> None:
    """The classroom's year in a table of the same shape, for the read references."""
    with ingest_reference.connect() as connection:
        connection.execute(
            f"CREATE TABLE {REFERENCE_TABLE} (node uuid NOT NULL, timestamp timestamptz NOT NULL,"
            " co2 integer NOT NULL, temperature real, humidity real, UNIQUE (node, timestamp))"
        )
        connection.execute(
            f"INSERT INTO {REFERENCE_TABLE} SELECT node_id, timestamp, co2_ppm, temperature_celsius,"
            " rel_humidity_percent FROM core_sample WHERE node_id = %s",
            (node,),
        )


# --- Loading and tidying up, as a deployment would be ------------------------------------------------


@dataclass
class Load:
    samples: int = 0  # in the table afterwards
    copied: int = 0
    copy_s: float = 0.0
    vacuum_s: float = 0.0
    refresh_s: float = 0.0
    hours: int = 0
    stale_left: int = 0
    sizes: dict | None = None


def count_samples() -> int:
    with ingest_reference.connect() as connection:
        return connection.execute("SELECT count(*) FROM core_sample").fetchone()[0]


def grow(samples: Samples, target: int, label: str, inventory: Inventory | None = None) -> Load:
    """COPY samples until the table holds ``target`` (the classroom's year
    first when ``inventory`` is given), VACUUM ANALYZE, refresh summaries."""
    from django.db import connection

    from core import hourly

    load = Load()
    year = YEAR_DAYS * DAY_MINUTES if inventory is not None else 0
    fleet = max(0, target - count_samples() - year)
    pieces = [samples.classroom_year(inventory.node)] if inventory is not None else []
    pieces.append(samples.fleet_history(fleet))
    load.copied = year + fleet
    load.copy_s = copy_samples((piece for source in pieces for piece in source), load.copied, label)

    started = time.perf_counter()
    with ingest_reference.connect() as autocommit:
        autocommit.execute("VACUUM ANALYZE")
    load.vacuum_s = time.perf_counter() - started

    # As the task cluster would within minutes; bounded per call, so until nothing is left.
    started = time.perf_counter()
    while done := hourly.refresh(time_budget_s=600):
        load.hours += done
    load.refresh_s = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM core_hourlysummary WHERE stale")
        load.stale_left = cursor.fetchone()[0]
        cursor.execute("ANALYZE core_hourlysummary")
    connection.close()  # The servers' workers hold their own.
    load.samples = count_samples()
    load.sizes = sizes()
    return load


def sizes() -> dict:
    """Bytes of the samples table over all its partitions (or itself), per index, and the summaries'."""
    with ingest_reference.connect() as connection:
        leaves, holding, heap, indexes, total = connection.execute(
            "SELECT count(*), count(*) FILTER (WHERE c.reltuples > 0), sum(pg_table_size(t.relid)),"
            " sum(pg_indexes_size(t.relid)), sum(pg_total_relation_size(t.relid))"
            " FROM pg_partition_tree('core_sample') AS t JOIN pg_class AS c ON c.oid = t.relid WHERE t.isleaf"
        ).fetchone()
        per_index = connection.execute(
            "SELECT i.indexrelid::regclass::text,"
            " (SELECT sum(pg_relation_size(relid)) FROM pg_partition_tree(i.indexrelid))"
            " FROM pg_index AS i WHERE i.indrelid = 'core_sample'::regclass ORDER BY 1"
        ).fetchall()
        summaries = connection.execute("SELECT pg_total_relation_size('core_hourlysummary')").fetchone()[0]
    return {"leaves": leaves, "holding": holding, "heap": heap, "indexes": indexes, "total": total,
            "per_index": per_index, "summaries": summaries}


def _gb(size: int) -> str:
    return f"{size / 2**30:.2f} GiB" if size >= 2**30 else f"{size / 2**20:.0f} MiB"


def describe(load: Load, label: str) -> str:
    s = load.sizes
    rate = load.copied / load.copy_s if load.copy_s else 0
    layout = f"{s['leaves']} partitions, {s['holding']} holding samples" if s["leaves"] > 1 else "one table"
    return "\n".join([
        f"{label}: {load.samples:,} samples in the table; {load.copied:,} copied in {load.copy_s:.1f} s "
        f"({rate:,.0f} rows/s), VACUUM ANALYZE {load.vacuum_s:.1f} s, hourly summaries {load.hours:,} hours "
        f"recomputed in {load.refresh_s:.1f} s ({load.stale_left} stale left)",
        f"  samples table ({layout}): {_gb(s['total'])} = heap {_gb(s['heap'])} + indexes {_gb(s['indexes'])} "
        f"({', '.join(f'{name} {_gb(size or 0)}' for name, size in s['per_index'])}); "
        f"{s['total'] / max(load.samples, 1):.0f} bytes per sample; hourly summaries {_gb(s['summaries'])}",
    ])


# --- Measuring ---------------------------------------------------------------------------------------


def read_measures(inventory: Inventory, end: datetime) -> tuple[list[Measure], dict]:
    """The reads of bench/timeseries.py for a day, 30 days and the year by hour, and their references."""
    year_start = end - timedelta(days=YEAR_DAYS)
    day_start, month_start = end - timedelta(days=DAY_BACK), end - timedelta(days=MONTH_BACK)
    inst, node = inventory.installation, inventory.node
    day, month = window_query(day_start, 1), window_query(month_start, 30)
    hourly = f"bucket_size=1h&bucket_tz={BUCKET_TZ}&{window_query(year_start, YEAR_DAYS)}"
    found = []
    for group, query, expect in (
        ("day", day, {"points": DAY_MINUTES}),
        ("30 days", month, {"points": 30 * DAY_MINUTES}),
        ("year by hour", hourly, {"buckets": YEAR_DAYS * 24}),
    ):
        series = f"/api/v1/installations/{inst}/timeseries/?{query}"
        found += [
            Measure(f"{group}: installations/{{id}}/timeseries/ (owner)", series, group=group, expect=expect),
            Measure(f"{group}: installations/{{id}}/timeseries/ (anonymous)", series, anonymous=True, group=group,
                    expect=expect),
            Measure(f"{group}: node-timeseries/{{id}}/ (owner)", f"/api/v1/node-timeseries/{node}/?{query}",
                    group=group, expect=expect),
        ]
    found.insert(6, Measure("30 days: installations/{id}?include_timeseries=1 (owner)",
                            f"/api/v1/installations/{inst}?include_timeseries=1&{month}", group="30 days",
                            expect={"points": 30 * DAY_MINUTES, "embedded": True}))
    references = {
        REF_DAY: lambda db: rows_and_dump(db, node, day_start, 1),
        REF_MONTH: lambda db: rows_and_dump(db, node, month_start, 30),
        REF_HOURLY: lambda db: hourly_and_dump(db, node, year_start, end),
    }
    return found, references


def hourly_and_dump(connection, node: str, start: datetime, end: datetime) -> str:
    rows = connection.execute(_HOURLY, {"tz": BUCKET_TZ, "node": node, "start": start, "end": end}).fetchall()
    return json.dumps([dict(zip(_BUCKET_KEYS, row, strict=True)) for row in rows])


GROUP_REFERENCE = {"day": REF_DAY, "30 days": REF_MONTH, "year by hour": REF_HOURLY}


def measure_reads(env: dict, port: int, inventory: Inventory, end: datetime, rounds: int, warmup: int) -> dict:
    found, references = read_measures(inventory, end)
    reference_db = reference_connection()
    sessions = {False: requests.Session(), True: requests.Session()}
    sessions[False].headers.update(headers(inventory.token))
    sessions[True].headers.update(headers(None))
    try:
        with serve_wsgi("managair.wsgi", env, port=port, workers=2) as server:
            calls = {LEAST: _getter(sessions[False], server.url + "/api/v1/auth/user/")}
            calls.update({name: (lambda call=call: call(reference_db)) for name, call in references.items()})
            for measure in found:
                problem = check(measure, sessions[measure.anonymous].get(server.url + measure.path, timeout=120))
                if problem:
                    raise RuntimeError(f"{measure.name}: {problem}")
                calls[measure.name] = _getter(sessions[measure.anonymous], server.url + measure.path)
            timings = time_calls_round_robin(calls, rounds=rounds, warmup=warmup)
    finally:
        reference_db.close()
    return {"timings": timings, "measures": found}


def reads_report(reads: dict) -> str:
    timings = reads["timings"]
    rows = [[name, f"{median(timings[name]):.1f}", f"{p90(timings[name]):.1f}", "-"]
            for name in (LEAST, REF_DAY, REF_MONTH, REF_HOURLY)]
    rows += [[m.name, f"{median(timings[m.name]):.1f}", f"{p90(timings[m.name]):.1f}", f"{m.size / 1000:,.0f}"]
             for m in reads["measures"]]
    return table(["read", "median ms", "p90 ms", "kB"], rows)


def measure_ingest(env: dict, port: int, reference_port: int, inventory: Inventory, latest_s: int, rounds: int,
                   duration_s: int, batches: int, workers: int | None) -> dict:
    nodes, key = inventory.ingest_nodes, inventory.key
    wrk = ingest.Wrk(nodes, latest_s, key)
    try:
        with (serve_wsgi("managair.wsgi", env, port=port, workers=workers) as product,
              serve_wsgi("bench.ingest_reference:application", env, port=reference_port, workers=workers) as reference):
            ingest.check_endpoint(product.url, key, nodes, latest_s)
            single = ingest.measure_single(wrk, {"product": product, "reference": reference}, rounds, duration_s,
                                           ingest.postmaster_pid())
            worker_count = len(product.worker_pids())
            batch_runs = ingest.measure_batches(product.url, key, nodes, latest_s, rounds, batches)
    finally:
        wrk.close()
    return {"single": {name: ingest.summarize_single(runs) for name, runs in single.items()},
            "batches": {name: ingest.samples_per_s(runs) for name, runs in batch_runs.items()},
            "workers": worker_count}


def ingest_report(result: dict) -> str:
    product, reference = result["single"]["product"], result["single"]["reference"]
    batches = result["batches"]
    rows = [
        [SINGLE, f"{product['per_s']:,.0f}", f"{reference['per_s']:,.0f}",
         f"{product['per_s'] / reference['per_s']:.2f}"],
        ["ingest: single sample, c=16: p50 / p90 / p99 ms", f"{product['p50']:.1f} / {product['p90']:.1f} / "
         f"{product['p99']:.1f}", f"{reference['p50']:.1f} / {reference['p90']:.1f} / {reference['p99']:.1f}", "-"],
        ["ingest: single sample: socket errors, non-2xx", f"{product['socket_errors']}, {product['bad_status']}",
         f"{reference['socket_errors']}, {reference['bad_status']}", "-"],
        [BATCHES, f"{batches['product']:,.0f}", f"{batches['reference']:,.0f}",
         f"{batches['product'] / batches['reference']:.2f}"],
    ]
    return (f"gunicorn: {result['workers']} sync workers for both apps; requests/s and samples/s: the best round, "
            "latencies: the median round\n" + table(["measure", "Managair", "reference", "ratio"], rows))


@dataclass
class Phase:
    label: str
    load: Load
    reads: dict
    ingest: dict
    reads_at: int  # samples in the table while reads were measured
    ingest_until: int  # and after ingest had written its own
    measure_s: float


def figures(phase: Phase) -> dict[str, float]:
    """What the phases are compared by, and their references."""
    timings = phase.reads["timings"]
    found = {m.name: median(timings[m.name]) for m in phase.reads["measures"]}
    found |= {name: median(timings[name]) for name in (LEAST, REF_DAY, REF_MONTH, REF_HOURLY)}
    single, batches = phase.ingest["single"], phase.ingest["batches"]
    found |= {SINGLE: single["product"]["per_s"], REF_SINGLE: single["reference"]["per_s"],
              SINGLE_P99: single["product"]["p99"], BATCHES: batches["product"], REF_BATCHES: batches["reference"]}
    return found


def comparison(base: Phase, scaled: Phase) -> str:
    at_base, at_scale = figures(base), figures(scaled)

    def ratio(name: str) -> float:
        return at_scale[name] / at_base[name]

    def row(name: str, reference: str | None, throughput: bool, verdict: bool = True, digits: int = 1) -> list[str]:
        within = ratio(name) >= LEAST_THROUGHPUT_RATIO if throughput else ratio(name) <= MOST_LATENCY_RATIO
        shown = f"{{:,.{0 if throughput else digits}f}}"
        return [name, shown.format(at_base[name]), shown.format(at_scale[name]), f"{ratio(name):.2f}",
                f"{ratio(reference):.2f}" if reference else "-",
                f"{ratio(name) / ratio(reference):.2f}" if reference else "-",
                ("yes" if within else "NO") if verdict else "(not a target)"]

    rows = [row(SINGLE, REF_SINGLE, throughput=True), row(BATCHES, REF_BATCHES, throughput=True),
            row(SINGLE_P99, None, throughput=False, verdict=False)]
    rows += [row(m.name, GROUP_REFERENCE[m.group], throughput=False) for m in base.reads["measures"]]
    references = [row(name, None, throughput=name in (REF_SINGLE, REF_BATCHES), verdict=False)[:4]
                  for name in (LEAST, REF_DAY, REF_MONTH, REF_HOURLY, REF_SINGLE, REF_BATCHES)]
    a, b = _millions(base.reads_at), _millions(scaled.reads_at)
    verdicts = [r[-1] for r in rows if r[-1] in ("yes", "NO")]
    missed = verdicts.count("NO")
    return "\n".join([
        f"Reads: median ms; ingest: the best round. Ratio = at {b} / at {a}. Within 20 %: requests/s and samples/s "
        f">= {LEAST_THROUGHPUT_RATIO} x, read medians <= {MOST_LATENCY_RATIO} x. The ref ratio is the same-run "
        "reference's (the machine's drift between the phases); ratio / ref ratio takes that drift out.",
        table(["measure", f"at {a}", f"at {b}", "ratio", "ref ratio", "ratio / ref ratio", "within 20 %?"], rows),
        "",
        table(["reference (same run)", f"at {a}", f"at {b}", "ratio"], references),
        "",
        f"{len(verdicts) - missed} of {len(verdicts)} targets met" + (f", {missed} MISSED" if missed else ""),
    ])


def _millions(samples: int) -> str:
    return f"{samples / 1e6:.1f}M" if samples >= 1e6 else f"{samples / 1e3:.0f}k"


# --- Putting it together -----------------------------------------------------------------------------


def check_disk(rows: int) -> str:
    if os.environ.get("BENCH_USE_ENV_DB") == "1":
        return "free disk: not checked (BENCH_USE_ENV_DB=1: the server's disk)"
    where = tempfile.gettempdir()  # where bench.common puts the throwaway cluster
    free, needed = shutil.disk_usage(where).free, rows * BYTES_PER_SAMPLE + SPARE_BYTES
    if free < needed:
        sys.exit(f"bench/scale.py: {rows:,} samples need about {_gb(needed)} free in {where}; {_gb(free)} are free")
    return f"free disk in {where}: {_gb(free)} ({_gb(needed)} needed for {rows:,} samples)"


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("bench/scale.py needs wrk: apt-get install wrk")
    pg_port = int(os.environ.get("BENCH_PGPORT", "54365"))
    port = int(os.environ.get("BENCH_PORT", "8795"))
    reference_port = int(os.environ.get("BENCH_REFERENCE_PORT", "8796"))
    base = int(os.environ.get("BENCH_SCALE_BASE", "1000000"))
    rows = int(os.environ.get("BENCH_SCALE_ROWS", "50000000"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "20"))
    warmup = int(os.environ.get("BENCH_WARMUP", "3"))
    ingest_rounds = int(os.environ.get("BENCH_INGEST_ROUNDS", "4"))
    duration_s = int(os.environ.get("BENCH_DURATION_S", "8"))
    batches = int(os.environ.get("BENCH_BATCHES", "40"))
    workers = int(os.environ["BENCH_WORKERS"]) if os.environ.get("BENCH_WORKERS") else None
    year = YEAR_DAYS * DAY_MINUTES
    if base < year:
        print(f"BENCH_SCALE_BASE={base:,} is less than the classroom's year: phase A loads {year:,} samples")
        base = year
    if rows <= base:
        sys.exit(f"bench/scale.py: BENCH_SCALE_ROWS ({rows:,}) must exceed phase A's {base:,} samples")

    print("\n".join(machine_facts()))
    print(check_disk(rows), flush=True)
    started_run = time.perf_counter()
    # Every window and sample lies before the last UTC midnight: whole hours, all summarised.
    now = datetime.now(UTC)
    end = now.replace(hour=0, minute=0, second=0, microsecond=0)
    latest_s = int(now.timestamp()) - 3600  # bench/ingest.py's: accepted, and not ahead of the clock
    with postgres(pg_port) as database:
        env = {**PRODUCTION_ENV, **database, "INGEST_RATE_LIMIT": "0", "IOTDP_INTEGRATION": "0"}
        setup_django(env)
        from django.db import connection

        started = time.perf_counter()
        print(prepare_partitions(end - timedelta(days=SPAN_DAYS)))
        inventory = seed(end)
        pg_version = connection.pg_version // 10000
        connection.close()
        with ingest_reference.connect() as reference_db:
            ingest_reference.create_tables(reference_db)
        print(f"migrated and seeded in {time.perf_counter() - started:.1f} s: {len(inventory.ingest_nodes):,} ingest "
              f"nodes, {FLEET:,} fleet nodes, the classroom node with a public installation "
              f"{end - timedelta(days=YEAR_DAYS):%Y-%m-%d} to {end:%Y-%m-%d}", flush=True)
        print(f"PostgreSQL {pg_version}; reads: gunicorn 2 sync workers, {rounds} rounds after {warmup} warm-up "
              f"rounds; ingest: wrk {ingest.WRK_THREADS} threads, {ingest.CONNECTIONS} connections, {ingest_rounds} x "
              f"{duration_s} s per app, batches {ingest.CLIENTS} clients x {batches} x {ingest.BATCH:,} per round, "
              f"{ingest_rounds} rounds; INGEST_RATE_LIMIT=0, other settings production defaults\n", flush=True)

        samples = Samples(end, inventory.fleet)
        phases = []
        for label, target, shift in (("phase A", base, 0), ("phase B", rows, PHASE_SHIFT_S)):
            first = not phases
            load = grow(samples, target, label, inventory if first else None)
            if first:
                create_reference_table(inventory.node)
            print(describe(load, label), flush=True)
            started = time.perf_counter()
            print(f"{label}: load average before measuring: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            reads = measure_reads(env, port, inventory, end, rounds, warmup)
            print(reads_report(reads), flush=True)
            ingested = measure_ingest(env, port, reference_port, inventory, latest_s - shift, ingest_rounds,
                                      duration_s, batches, workers)
            print(ingest_report(ingested), flush=True)
            phase = Phase(label, load, reads, ingested, reads_at=load.samples, ingest_until=count_samples(),
                          measure_s=time.perf_counter() - started)
            print(f"{label}: measured in {phase.measure_s:.0f} s; samples: {phase.reads_at:,} while reading, "
                  f"{phase.ingest_until:,} after ingest\n", flush=True)
            phases.append(phase)

    print(comparison(*phases))
    print()
    print("time taken: " + "; ".join(
        f"{p.label}: COPY {p.load.copy_s:.0f} s, VACUUM ANALYZE {p.load.vacuum_s:.0f} s, summaries "
        f"{p.load.refresh_s:.0f} s, measuring {p.measure_s:.0f} s" for p in phases)
        + f"; the whole run {time.perf_counter() - started_run:.0f} s")


if __name__ == "__main__":
    main()
