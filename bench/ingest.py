"""Ingest speed against the bare references of ../../shared/PERFORMANCE.md.

1. Single-sample requests, wrk at 16 connections: Managair's
   ``POST /ingest/v1/ingest/`` against a bare WSGI app that parses the Sample
   and INSERTs it (bench/ingest_reference.py), both under gunicorn with
   managair/gunicorn.conf.py. Targets: >= 0.35 of its requests/s, p99 <= 50 ms.
2. 1,000-sample batches from 3 client processes against one process that
   json.loads the same bodies and COPYs their rows. Target: >= 0.33 of its
   samples/s.
3. One 10,000-sample batch served by a single worker: its peak RSS grows
   by less than 50 MB.

Every sample is new (its own node and second), so every one is really
stored. The rate limit is off for the run (INGEST_RATE_LIMIT=0); all other
settings are production defaults.

    .venv/bin/python bench/ingest.py

Needs wrk (apt-get install wrk). Environment: BENCH_PGPORT (54362),
BENCH_PORT (8775), BENCH_REFERENCE_PORT (8776), BENCH_WORKERS (unset: as
gunicorn.conf.py decides), BENCH_ROUNDS (4), BENCH_DURATION_S (8),
BENCH_BATCHES (40 per client and round), BENCH_INGEST_ONLY=1 serves Managair
as an ingest-only server (INGEST_ONLY=1), BENCH_USE_ENV_DB=1 uses the server
in SQL_* instead. BENCH_FORWARDING=1 turns forwarding on (IOTDP_INTEGRATION=1)
with every node in a public installation and a webhook for the organization,
so every sample also goes into the outbox (no task cluster runs: nothing is
sent).
"""

import http.client
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import ingest_reference  # noqa: E402
from bench.common import (  # noqa: E402
    PRODUCTION_ENV,
    machine_facts,
    memory_kb,
    postgres,
    serve_wsgi,
    setup_django,
    table,
)

PATH = "/ingest/v1/ingest/"
NODES = 1000
CONNECTIONS = 16
WRK_THREADS = 2
WARMUP_S = 2
CLIENTS = 3
BATCH = 1000
BIG_BATCH = 10_000

# Sample number k is stored by node k % NODES at LATEST_S - k // NODES: every
# k is a new (node, second). Each part draws its numbers from its own range.
WRK_RUN_STRIDE = 16 * 1_000_000  # 16 wrk threads of up to a million requests each
BATCH_FIRST = 400_000_000
BIG_BATCH_FIRST = 900_000_000

LEAST_REQUEST_RATIO = 0.35
MOST_P99_MS = 50
LEAST_BATCH_RATIO = 0.33
MOST_RSS_GROWTH_MB = 50

SAMPLE_TEMPLATE = (
    '{"type": "Sample", "attributes": {"timestamp_s": %d, "co2_ppm": %d, "temperature_celsius": 21.3,'
    ' "rel_humidity_percent": 40}, "relationships": {"node": {"data": {"type": "Node", "id": "%s"}}}}'
)


def seed() -> tuple[list[str], str]:
    """Node ids and a plain ingest key of their organization."""
    from django.db import connection, transaction

    from core.models import Node, NodeModel, Protocol, derive_node_id
    from ingest.keys import ingest_key_create
    from user_manager.models import Organization

    with transaction.atomic():
        organization = Organization.objects.create(name="Bench")
        protocol = Protocol.objects.create(identifier="CLAIRCHEN")
        model = NodeModel.objects.create(name="Clairchen Rev. B", manufacturer="Clair Berlin", sensor_type="NDIR")
        nodes = Node.objects.bulk_create(
            Node(id=derive_node_id("CLAIRCHEN", f"{n:016x}"), eui64=f"{n:016x}", alias=f"node {n:04d}",
                 protocol=protocol, model=model, owner=organization)
            for n in range(NODES)
        )
        _, key = ingest_key_create(organization, "bench")
        if os.environ.get("BENCH_FORWARDING") == "1":
            _publish_everything(organization, nodes)
    with connection.cursor() as cursor:
        # As autovacuum would soon: without statistics PostgreSQL may pick other plans.
        cursor.execute("VACUUM ANALYZE")
    return [str(node.id) for node in nodes], key


def _publish_everything(organization, nodes) -> None:
    from datetime import UTC, datetime

    from core.models import Installation, Room, Site
    from integrations.webhook.models import Webhook

    room = Room.objects.create(name="Hall", site=Site.objects.create(name="Bench", operator=organization))
    since = datetime.fromtimestamp(time.time() - 30 * 86400, UTC)
    Installation.objects.bulk_create(Installation(node=node, room=room, from_time=since, is_public=True) for node in nodes)
    Webhook.objects.create(organization=organization, url="https://receiver.invalid/samples")


def headers(key: str) -> dict:
    return {"Content-Type": "application/vnd.api+json", "Authorization": f"Bearer {key}"}


def batch_body(nodes: list[str], latest_s: int, first: int, size: int) -> bytes:
    samples = ",".join(
        SAMPLE_TEMPLATE % (latest_s - k // len(nodes), 400 + k % 1000, nodes[k % len(nodes)])
        for k in range(first, first + size)
    )
    return ('{"data": [' + samples + "]}").encode()


def single_body(nodes: list[str], latest_s: int, k: int) -> bytes:
    return ('{"data": ' + SAMPLE_TEMPLATE % (latest_s - k // len(nodes), 400 + k % 1000, nodes[k % len(nodes)])
            + "}").encode()


def post(url: str, body: bytes, key: str) -> tuple[int, bytes]:
    """One request on a connection of its own: sync workers close each one."""
    address = urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=120)
    try:
        connection.request("POST", PATH, body, headers(key))
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


# --- 1. Single samples with wrk -------------------------------------------------------------

WRK_SCRIPT = """
nodes = {%(nodes)s}
first = %(first)d
latest_s = %(latest_s)d
counter = 0
id = 0
local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/vnd.api+json"
wrk.headers["Authorization"] = "Bearer %(key)s"

function request()
  local k = first + id * 1000000 + counter
  counter = counter + 1
  local body = string.format('{"data": %(template)s}', latest_s - math.floor(k / #nodes), 400 + k %% 1000,
                             nodes[k %% #nodes + 1])
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%d %%d\\n", summary.requests, summary.duration,
                         e.connect + e.read + e.write + e.timeout, e.status))
  io.write(string.format("LATENCY %%d %%d %%d\\n", latency:percentile(50), latency:percentile(90),
                         latency:percentile(99)))
end
"""


class Wrk:
    """wrk runs whose samples never repeat one another's."""

    def __init__(self, nodes: list[str], latest_s: int, key: str):
        self.nodes, self.latest_s, self.key = nodes, latest_s, key
        self.runs = 0
        self.directory = Path(tempfile.mkdtemp(prefix="managair-bench-wrk-"))

    def run(self, url: str, duration_s: int) -> dict:
        first = self.runs * WRK_RUN_STRIDE
        if first + WRK_RUN_STRIDE > BATCH_FIRST:
            raise RuntimeError("too many wrk runs: their samples would repeat the batches'")
        script = self.directory / f"run{self.runs}.lua"
        script.write_text(WRK_SCRIPT % {
            "nodes": ",".join(f'"{node}"' for node in self.nodes), "first": first,
            "latest_s": self.latest_s, "key": self.key, "template": SAMPLE_TEMPLATE,
        })
        self.runs += 1
        finished = subprocess.run(
            ["wrk", "-t", str(WRK_THREADS), "-c", str(CONNECTIONS), "-d", f"{duration_s}s", "-s", str(script),
             url + PATH],
            capture_output=True, text=True, check=True,
        )
        fields = {line.split()[0]: [int(x) for x in line.split()[1:]] for line in finished.stdout.splitlines()
                  if line.startswith(("RESULT", "LATENCY"))}
        requests, duration_us, socket_errors, bad_status = fields["RESULT"]
        p50, p90, p99 = (us / 1000 for us in fields["LATENCY"])
        return {"requests": requests, "per_s": requests / (duration_us / 1e6), "socket_errors": socket_errors,
                "bad_status": bad_status, "p50": p50, "p90": p90, "p99": p99}

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def tree_cpu_s(pid: int | None) -> float | None:
    """CPU seconds of a process and its children, including children that
    have exited (a worker's database connection may be replaced mid-run)."""
    if pid is None:
        return None
    try:
        total = _cpu_ticks(pid, with_exited_children=True)
        for children in Path(f"/proc/{pid}/task").glob("*/children"):
            for child in children.read_text().split():
                try:
                    total += _cpu_ticks(int(child), with_exited_children=False)
                except OSError:  # Exited meanwhile.
                    pass
    except OSError:
        return None
    return total / os.sysconf("SC_CLK_TCK")


def _cpu_ticks(pid: int, with_exited_children: bool) -> int:
    # Fields after the command's closing parenthesis: utime, stime, cutime, cstime are the 12th to 15th.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if with_exited_children else 0)


def postmaster_pid() -> int | None:
    """PostgreSQL's main process, if it runs on this machine and we may look at it."""
    with ingest_reference.connect() as connection:
        backend = connection.execute("SELECT pg_backend_pid()").fetchone()[0]
        try:  # While connected: the backend ends with the connection.
            return int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            return None


def measure_single(wrk: Wrk, servers: dict, rounds: int, duration_s: int, postgres_pid: int | None,
                   ) -> dict[str, list[dict]]:
    """wrk runs taking turns (the order flips every round), so that drift on
    a shared machine falls on both alike. Each run also counts the CPU time
    the app's workers and PostgreSQL spent per request: unlike requests/s,
    that hardly moves when other jobs share the machine."""
    for server in servers.values():
        wrk.run(server.url, WARMUP_S)
    results = {name: [] for name in servers}
    for turn in range(rounds):
        for name in (list(servers) if turn % 2 == 0 else list(reversed(servers))):
            before = tree_cpu_s(servers[name].master_pid), tree_cpu_s(postgres_pid)
            run = wrk.run(servers[name].url, duration_s)
            after = tree_cpu_s(servers[name].master_pid), tree_cpu_s(postgres_pid)
            for key, start, end in zip(("worker_cpu_ms", "postgres_cpu_ms"), before, after, strict=True):
                run[key] = None if start is None or end is None else (end - start) * 1000 / run["requests"]
            results[name].append(run)
    return results


def summarize_single(runs: list[dict]) -> dict:
    """The best round's requests/s (other jobs on the machine only ever slow
    a round down); the median round's latencies and CPU times."""
    summary = {"per_s": max(run["per_s"] for run in runs)}
    for key in ("p50", "p90", "p99", "worker_cpu_ms", "postgres_cpu_ms"):
        values = [run[key] for run in runs if run[key] is not None]
        summary[key] = statistics.median(values) if values else None
    for key in ("requests", "socket_errors", "bad_status"):
        summary[key] = sum(run[key] for run in runs)
    return summary


# --- 2. 1,000-sample batches ------------------------------------------------------------------


def batch_numbers(round_: int, client: int, batches: int) -> list[int]:
    """The first sample number of each batch a client sends in a round."""
    first = BATCH_FIRST + (round_ * CLIENTS + client) * batches * BATCH
    return [first + b * BATCH for b in range(batches)]


def _batch_client(url, key, nodes, latest_s, firsts, start, results) -> None:
    """A client process: builds its bodies, waits for the others, sends them one after another."""
    bodies = [batch_body(nodes, latest_s, first, BATCH) for first in firsts]
    start.wait()
    started = time.monotonic()
    accepted = duplicates = 0
    for body in bodies:
        status, answer = post(url, body, key)
        if status not in (200, 201):
            results.put(("error", f"HTTP {status}: {answer[:300]!r}"))
            return
        meta = json.loads(answer)["meta"]
        accepted += meta["accepted"]
        duplicates += meta["duplicates"]
    results.put(("ok", started, time.monotonic(), accepted, duplicates))


def product_batches(url: str, key: str, nodes: list[str], latest_s: int, round_: int, batches: int) -> dict:
    # Spawned, not forked: the parent holds database connections.
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(CLIENTS), context.Queue()
    clients = [
        context.Process(target=_batch_client,
                        args=(url, key, nodes, latest_s, batch_numbers(round_, c, batches), start, results))
        for c in range(CLIENTS)
    ]
    for client in clients:
        client.start()
    outcomes = [results.get(timeout=600) for _ in clients]
    for client in clients:
        client.join()
    errors = [outcome[1] for outcome in outcomes if outcome[0] == "error"]
    if errors:
        raise RuntimeError(f"batch ingest failed: {errors[0]}")
    seconds = max(o[2] for o in outcomes) - min(o[1] for o in outcomes)
    accepted, duplicates = sum(o[3] for o in outcomes), sum(o[4] for o in outcomes)
    return {"samples": accepted, "duplicates": duplicates, "seconds": seconds, "per_s": accepted / seconds}


def reference_batches(nodes: list[str], latest_s: int, round_: int, batches: int) -> dict:
    bodies = [batch_body(nodes, latest_s, first, BATCH)
              for client in range(CLIENTS) for first in batch_numbers(round_, client, batches)]
    with ingest_reference.connect() as connection:
        seconds = ingest_reference.copy_bodies(connection, bodies)
    samples = len(bodies) * BATCH
    return {"samples": samples, "seconds": seconds, "per_s": samples / seconds}


def measure_batches(url, key, nodes, latest_s, rounds, batches) -> dict[str, list[dict]]:
    results = {"product": [], "reference": []}
    for turn in range(rounds):
        order = ["product", "reference"] if turn % 2 == 0 else ["reference", "product"]
        for name in order:
            if name == "product":
                results[name].append(product_batches(url, key, nodes, latest_s, turn, batches))
            else:
                results[name].append(reference_batches(nodes, latest_s, turn, batches))
    return results


def samples_per_s(runs: list[dict]) -> float:
    """The best round's, as for requests/s."""
    return max(run["per_s"] for run in runs)


# --- 3. Memory of one 10,000-sample batch ------------------------------------------------------


def measure_big_batch(env: dict, port: int, key: str, nodes: list[str], latest_s: int) -> dict:
    with serve_wsgi("managair.wsgi", env, port=port, workers=1) as server:
        (worker,) = server.worker_pids()
        # Warm the worker as serving does: code imported, connection open, key known.
        for body in (single_body(nodes, latest_s, BIG_BATCH_FIRST - 1),
                     batch_body(nodes, latest_s, BIG_BATCH_FIRST - 1 - BATCH, BATCH)):
            status, answer = post(server.url, body, key)
            if status not in (200, 201):
                raise RuntimeError(f"warm-up: HTTP {status}: {answer[:300]!r}")
        before = memory_kb(worker)
        body = batch_body(nodes, latest_s, BIG_BATCH_FIRST, BIG_BATCH)
        started = time.perf_counter()
        status, answer = post(server.url, body, key)
        seconds = time.perf_counter() - started
        after = memory_kb(worker)
    if status not in (200, 201):
        raise RuntimeError(f"10,000-sample batch: HTTP {status}: {answer[:300]!r}")
    return {"before": before, "after": after, "seconds": seconds, "body_bytes": len(body),
            "growth_mb": (after["VmHWM"] - before["VmRSS"]) / 1024, "meta": json.loads(answer).get("meta")}


# --- Putting it together -------------------------------------------------------------------------


def stored(table_name: str) -> int:
    with ingest_reference.connect() as connection:
        return connection.execute(f"SELECT count(*) FROM {table_name}").fetchone()[0]


def check_endpoint(url: str, key: str, nodes: list[str], latest_s: int) -> None:
    status, answer = post(url, single_body(nodes, latest_s, BIG_BATCH_FIRST - 2 * BATCH - 2), key)
    if status != 201:
        raise RuntimeError(f"POST {PATH}: HTTP {status} (201 expected): {answer[:300]!r}")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _times(value: float | None, reference: float | None) -> str:
    return "-" if value is None or reference is None else f"{value / reference:.1f} x"


def report(single: dict, batches: dict, big: dict) -> str:
    product, reference = summarize_single(single["product"]), summarize_single(single["reference"])
    ratio = product["per_s"] / reference["per_s"]
    batch_product, batch_reference = samples_per_s(batches["product"]), samples_per_s(batches["reference"])
    batch_ratio = batch_product / batch_reference
    growth = big["growth_mb"]

    def verdict(met: bool) -> str:
        return "met" if met else "MISSED"

    rows = [
        ["single sample, c=16: requests/s", f"{product['per_s']:,.0f}", f"{reference['per_s']:,.0f}",
         f"{ratio:.2f}", f">= {LEAST_REQUEST_RATIO} (aim 0.5)", verdict(ratio >= LEAST_REQUEST_RATIO)],
        ["single sample, c=16: p50 ms", f"{product['p50']:.1f}", f"{reference['p50']:.1f}",
         f"{product['p50'] / reference['p50']:.1f} x", "", ""],
        ["single sample, c=16: p90 ms", f"{product['p90']:.1f}", f"{reference['p90']:.1f}",
         f"{product['p90'] / reference['p90']:.1f} x", "", ""],
        ["single sample, c=16: p99 ms", f"{product['p99']:.1f}", f"{reference['p99']:.1f}",
         f"{product['p99'] / reference['p99']:.1f} x", f"<= {MOST_P99_MS} ms", verdict(product["p99"] <= MOST_P99_MS)],
        *[[f"single sample: {label} CPU ms per request", _ms(product[key]), _ms(reference[key]),
           _times(product[key], reference[key]), "", ""]
          for label, key in (("gunicorn workers'", "worker_cpu_ms"), ("PostgreSQL's", "postgres_cpu_ms"))],
        [f"{BATCH:,}-sample batches, {CLIENTS} clients: samples/s", f"{batch_product:,.0f}", f"{batch_reference:,.0f}",
         f"{batch_ratio:.2f}", f">= {LEAST_BATCH_RATIO} (aim 0.6)", verdict(batch_ratio >= LEAST_BATCH_RATIO)],
        [f"one {BIG_BATCH:,}-sample batch: worker peak RSS growth MB", f"{growth:.1f}", "-", "-",
         f"< {MOST_RSS_GROWTH_MB} MB", verdict(growth < MOST_RSS_GROWTH_MB)],
    ]
    return table(["measure", "Managair", "reference", "ratio", "target", ""], rows)


def details(single: dict, batches: dict, big: dict) -> str:
    lines = []
    for name, runs in single.items():
        for n, run in enumerate(runs, 1):
            lines.append(f"single {name} run {n}: {run['per_s']:,.0f} req/s, {run['requests']:,} requests, "
                         f"p50/p90/p99 {run['p50']:.1f}/{run['p90']:.1f}/{run['p99']:.1f} ms, "
                         f"socket errors {run['socket_errors']}, non-2xx {run['bad_status']}, CPU ms per request: "
                         f"workers {_ms(run['worker_cpu_ms'])}, PostgreSQL {_ms(run['postgres_cpu_ms'])}")
    for name, runs in batches.items():
        for n, run in enumerate(runs, 1):
            lines.append(f"batches {name} run {n}: {run['per_s']:,.0f} samples/s "
                         f"({run['samples']:,} samples in {run['seconds']:.2f} s)")
    before, after = big["before"], big["after"]
    lines.append(f"{BIG_BATCH:,}-sample batch ({big['body_bytes'] / 1e6:.1f} MB body): {big['seconds'] * 1000:.0f} ms, "
                 f"meta {big['meta']}; worker VmRSS {before['VmRSS'] / 1024:.1f} -> {after['VmRSS'] / 1024:.1f} MB,"
                 f" VmHWM {before['VmHWM'] / 1024:.1f} -> {after['VmHWM'] / 1024:.1f} MB")
    return "\n".join(lines)


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("bench/ingest.py needs wrk: apt-get install wrk")
    pg_port = int(os.environ.get("BENCH_PGPORT", "54362"))
    port = int(os.environ.get("BENCH_PORT", "8775"))
    reference_port = int(os.environ.get("BENCH_REFERENCE_PORT", "8776"))
    workers = int(os.environ["BENCH_WORKERS"]) if os.environ.get("BENCH_WORKERS") else None
    rounds = int(os.environ.get("BENCH_ROUNDS", "4"))
    duration_s = int(os.environ.get("BENCH_DURATION_S", "8"))
    batches = int(os.environ.get("BENCH_BATCHES", "40"))
    ingest_only = "1" if os.environ.get("BENCH_INGEST_ONLY") == "1" else "0"
    print("\n".join(machine_facts()))
    # Recent enough to be accepted, far enough back that no sample lies ahead of the clock.
    latest_s = int(time.time()) - 3600
    with postgres(pg_port) as database:
        env = {**PRODUCTION_ENV, **database, "INGEST_RATE_LIMIT": "0", "INGEST_ONLY": ingest_only,
               "IOTDP_INTEGRATION": os.environ.get("BENCH_FORWARDING", "0")}
        setup_django(env)
        nodes, key = seed()
        from django.db import connection

        if os.environ.get("BENCH_HOURLY_TRIGGERS") == "0":
            # What keeping hourly summaries costs ingest: the same run without their triggers.
            with connection.cursor() as cursor:
                cursor.execute("ALTER TABLE core_sample DISABLE TRIGGER USER")
        if os.environ.get("BENCH_SQL_AFTER_SEED"):
            with connection.cursor() as cursor:
                cursor.execute(open(os.environ["BENCH_SQL_AFTER_SEED"]).read())

        pg_version = connection.pg_version // 10000
        connection.close()  # The servers' workers hold their own.
        with ingest_reference.connect() as reference_db:
            ingest_reference.create_tables(reference_db)
        postgres_pid = postmaster_pid()

        wrk = Wrk(nodes, latest_s, key)
        try:
            with (serve_wsgi("managair.wsgi", env, port=port, workers=workers) as product,
                  serve_wsgi("bench.ingest_reference:application", env, port=reference_port,
                             workers=workers) as reference):
                check_endpoint(product.url, key, nodes, latest_s)
                single = measure_single(wrk, {"product": product, "reference": reference}, rounds, duration_s,
                                        postgres_pid)
                # Counted now: gunicorn answers as soon as its first worker is up.
                worker_count = len(product.worker_pids())
                stored_single = {"product": stored("core_sample"),
                                 "reference": stored(ingest_reference.SINGLE_TABLE)}
                batch_results = measure_batches(product.url, key, nodes, latest_s, rounds, batches)
        finally:
            wrk.close()
        big = measure_big_batch(env, port, key, nodes, latest_s)
    print(f"PostgreSQL {pg_version}; gunicorn with managair/gunicorn.conf.py, {worker_count} sync workers "
          f"(BENCH_WORKERS={workers or 'unset: as the configuration decides'}) for both apps; "
          f"INGEST_RATE_LIMIT=0, INGEST_ONLY={ingest_only}, IOTDP_INTEGRATION={env['IOTDP_INTEGRATION']}, "
          "other settings production defaults")
    print(f"{NODES} nodes; load generator wrk, {WRK_THREADS} threads, {CONNECTIONS} connections, "
          f"{rounds} x {duration_s} s per app after {WARMUP_S} s warm-up; batches: {CLIENTS} client processes "
          f"x {batches} x {BATCH:,} samples per round, {rounds} rounds; the {BIG_BATCH:,}-sample batch: 1 worker\n")
    print("Requests/s and samples/s: the best of the rounds; latencies and CPU times: the median round.")
    print(report(single, batch_results, big))
    print()
    print(details(single, batch_results, big))
    answered = {name: sum(run["requests"] for run in runs) for name, runs in single.items()}
    print(f"single-sample rows stored (incl. warm-up): Managair {stored_single['product']:,}, reference "
          f"{stored_single['reference']:,}; requests answered in measured runs: Managair {answered['product']:,}, "
          f"reference {answered['reference']:,}")


if __name__ == "__main__":
    main()
