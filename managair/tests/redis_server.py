"""A throwaway redis-server on 127.0.0.1 for the task broker tests: in a
temporary directory, persisting nothing, stopped when the block ends even if
the test failed. ``free_port`` and ``stop`` serve the other tests that start
servers of their own (test_replicas)."""

import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

REDIS_SERVER = "/usr/bin/redis-server"


@dataclass(frozen=True)
class RedisServer:
    port: int

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, db=db)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def redis_server(timeout_s: float = 15) -> Iterator[RedisServer]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="managair-redis-") as directory:
        log = Path(directory) / "redis.log"
        process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--dir", directory, "--logfile", str(log)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            server = RedisServer(port)
            _wait_until_it_answers(server, process, log, timeout_s)
            yield server
        finally:
            stop(process, timeout_s=10)


def stop(process: subprocess.Popen, timeout_s: float) -> None:
    """SIGTERM, then SIGKILL if the process has not ended within ``timeout_s``."""
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_until_it_answers(server: RedisServer, process: subprocess.Popen, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    client = server.client()
    try:
        while True:
            if process.poll() is not None:
                text = log.read_text() if log.exists() else ""
                raise RuntimeError(f"redis-server exited with {process.returncode}: {text}")
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.05)  # polling a starting server, not waiting for an outcome
    finally:
        client.close()
