"""What every benchmark here needs: a PostgreSQL, a server configured as in
production, Django in the benchmark's own process, and a stopwatch.

See ../../shared/PERFORMANCE.md: each benchmark measures a reference in the
same run and reports both, because absolute figures move between runs.
"""

import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent

# As a deployment runs: no DEBUG, a real key, strict hosts. Plain HTTP on
# loopback, so no redirect to HTTPS.
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789abcdefghij",
    "SECURE_SSL_REDIRECT": "0",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
}


# --- The machine ------------------------------------------------------------------


def machine_facts() -> list[str]:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in _lines("/proc/cpuinfo") if line.startswith("model name")),
        platform.processor() or "unknown",
    )
    mem_kb = next((int(line.split()[1]) for line in _lines("/proc/meminfo") if line.startswith("MemTotal")), 0)
    return [
        f"cores available: {len(os.sched_getaffinity(0))} (nproc)",
        f"CPU: {cpu}",
        f"RAM: {mem_kb / 1024 / 1024:.1f} GiB",
        f"load average before the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}",
    ]


def _lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


# --- PostgreSQL -----------------------------------------------------------------------


@contextmanager
def postgres(port: int):
    """The ``SQL_*`` settings of a database to benchmark against.

    With ``BENCH_USE_ENV_DB=1`` the server named by the environment's ``SQL_*``
    variables is used, in a database of our own that is dropped afterwards;
    otherwise a throwaway cluster (as scripts/postgres.sh makes for the tests:
    fsync off, on 127.0.0.1:``port``) lives as long as the block.
    """
    if os.environ.get("BENCH_USE_ENV_DB") == "1":
        with _database_on_env_server() as env:
            yield env
        return
    with _throwaway_cluster(port) as env:
        yield env


@contextmanager
def _throwaway_cluster(port: int):
    pgbin = _postgres_bin()
    workdir = Path(tempfile.mkdtemp(prefix="managair-bench-pg-"))
    workdir.chmod(0o755)
    data = workdir / "data"
    log = workdir / "server.log"
    as_postgres = _as_postgres_user(workdir)
    try:
        subprocess.run(
            as_postgres + [f"{pgbin}/initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                           "--no-sync"],
            check=True, stdout=subprocess.DEVNULL,
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={workdir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        started = subprocess.run(
            as_postgres + [f"{pgbin}/pg_ctl", "-D", str(data), "-l", str(log), "-w", "-t", "30", "-o", options,
                           "start"],
            stdout=subprocess.DEVNULL,
        )
        if started.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start:\n{_tail(log)}")
        yield {
            "SQL_ENGINE": "django.db.backends.postgresql",
            "SQL_HOST": "127.0.0.1",
            "SQL_PORT": str(port),
            "SQL_USER": "postgres",
            "SQL_PASSWORD": "",
            "SQL_DATABASE": "postgres",
        }
    finally:
        subprocess.run(
            as_postgres + [f"{pgbin}/pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def _database_on_env_server():
    import psycopg

    env = {key: value for key, value in os.environ.items() if key.startswith("SQL_")}
    env["SQL_ENGINE"] = "django.db.backends.postgresql"
    name = f"managair_bench_{os.getpid()}"
    connect = {
        "host": env.get("SQL_HOST", "localhost"), "port": env.get("SQL_PORT", "5432"),
        "user": env.get("SQL_USER", "managair"), "password": env.get("SQL_PASSWORD", ""),
        "dbname": env.get("SQL_DATABASE", "managair"), "autocommit": True,
    }
    with psycopg.connect(**connect) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {**env, "SQL_DATABASE": name}
    finally:
        with psycopg.connect(**connect) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _postgres_bin() -> str:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if not candidates or not (candidates[-1] / "initdb").exists():
        raise RuntimeError("No PostgreSQL server binaries; run scripts/test.sh once (it installs them).")
    return str(candidates[-1])


def _as_postgres_user(workdir: Path) -> list[str]:
    """PostgreSQL refuses to run as root."""
    if os.getuid() != 0:
        return []
    shutil.chown(workdir, "postgres", "postgres")
    return ["runuser", "-u", "postgres", "--"]


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({path} unreadable)"


# --- Django in the benchmark's process -------------------------------------------------


def setup_django(env: dict) -> None:
    """Configure Django from ``env`` (as the server is) and migrate the database."""
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "managair.settings")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    # The benchmark serves no static files; whitenoise's hint about them is noise here.
    warnings.filterwarnings("ignore", message="No directory at")

    django.setup()
    call_command("migrate", verbosity=0)


def count_statements(path: str, headers: dict) -> tuple[int, int]:
    """The status and the number of SQL statements of one GET, served in this
    process by Django's test client (the server's code, minus the network)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1", **{_meta(name): value for name, value in headers.items()})
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    return response.status_code, len(queries)


def _meta(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


# --- The server ----------------------------------------------------------------------------


@contextmanager
def gunicorn(env: dict, port: int = 8765, workers: int = 2):
    """Managair under gunicorn with the container's configuration
    (managair/gunicorn.conf.py), on 127.0.0.1:``port``; yields its base URL."""
    with serve_wsgi("managair.wsgi", env, port=port, workers=workers) as server:
        yield server.url


@dataclass(frozen=True)
class Server:
    url: str
    master_pid: int

    def worker_pids(self) -> list[int]:
        """The master's children: its workers (sync workers fork no further)."""
        pids = []
        for children in Path(f"/proc/{self.master_pid}/task").glob("*/children"):
            pids += [int(pid) for pid in children.read_text().split()]
        return sorted(pids)


@contextmanager
def serve_wsgi(app: str, env: dict, port: int, workers: int | None = 2, ready_path: str = "/healthz"):
    """The WSGI application ``app`` (gunicorn's ``module:variable``) under
    gunicorn with managair/gunicorn.conf.py, so that a reference app runs with
    the same flags as Managair; ``workers=None`` leaves their number to the
    configuration. Yields a ``Server`` once ``ready_path`` answers 200."""
    log = Path(tempfile.mkstemp(prefix="managair-bench-gunicorn-", suffix=".log")[1])
    server_env = {
        **os.environ, **env,
        # A worker recycled mid-run would add a cold start to the figures.
        "GUNICORN_MAX_REQUESTS": "0",
    }
    if workers is None:
        server_env.pop("GUNICORN_WORKERS", None)
    else:
        server_env["GUNICORN_WORKERS"] = str(workers)
    command = [
        sys.executable, "-m", "gunicorn", "-c", "managair/gunicorn.conf.py",
        "--bind", f"127.0.0.1:{port}", app,
    ]
    with log.open("wb") as output:
        server = subprocess.Popen(command, cwd=ROOT, env=server_env, stdout=output, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(server, f"{base_url}{ready_path}", log)
        yield Server(url=base_url, master_pid=server.pid)
    finally:
        _stop(server)
        log.unlink(missing_ok=True)


def _wait_until_up(server: subprocess.Popen, url: str, log: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}:\n{_tail(log)}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # A worker still booting on a busy machine.
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer {url} within {timeout_s:.0f} s:\n{_tail(log)}")


def _stop(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGTERM)  # The master stops its workers.
    try:
        server.wait(timeout=35)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


# --- The stopwatch -------------------------------------------------------------------------


def time_round_robin(urls: dict, headers: dict, rounds: int, warmup: int) -> dict[str, list[float]]:
    """Milliseconds per request for each named URL, taking turns, so that a
    disturbance on a shared machine falls on all of them alike."""
    session = requests.Session()
    session.headers.update(headers)
    timings = {name: [] for name in urls}
    for turn in range(warmup + rounds):
        for name, url in urls.items():
            started = time.perf_counter()
            response = session.get(url, timeout=120)
            elapsed_ms = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise RuntimeError(f"{url}: HTTP {response.status_code}: {response.text[:300]}")
            if turn >= warmup:
                timings[name].append(elapsed_ms)
    return timings


def median(values: list[float]) -> float:
    return statistics.median(values)


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [header, ["-" * width for width in widths], *rows]
    return "\n".join("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
                     for line in lines)


def time_calls_round_robin(calls: dict, rounds: int, warmup: int) -> dict[str, list[float]]:
    """Milliseconds per call for each named callable, taking turns as
    ``time_round_robin`` does: for references timed in the benchmark's own
    process beside requests to the server, or for requests that differ in
    more than their URL (headers, callers)."""
    timings = {name: [] for name in calls}
    for turn in range(warmup + rounds):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            elapsed_ms = (time.perf_counter() - started) * 1000
            if turn >= warmup:
                timings[name].append(elapsed_ms)
    return timings


def memory_kb(pid: int) -> dict[str, int]:
    """A process's resident set now (``VmRSS``) and at its peak (``VmHWM``), in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields
