"""Lists of 100 and 1,000 nodes and installations, against the least
authenticated request (../../shared/PERFORMANCE.md).

One organization with 1,000 nodes, each installed in one of 200 rooms on
5 sites and holding 100 samples, served by gunicorn (2 workers, production
settings) from a throwaway PostgreSQL. Targets for a 100-item page: at most
8 x the reference and under 150 ms; every list at most 10 SQL statements.

    .venv/bin/python bench/api_lists.py

Environment: BENCH_PGPORT (default 54360), BENCH_PORT (8765), BENCH_ROUNDS
(50), BENCH_WARMUP (10); BENCH_USE_ENV_DB=1 uses the server in SQL_* instead.
"""

import io
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    PRODUCTION_ENV,
    count_statements,
    gunicorn,
    machine_facts,
    median,
    p90,
    postgres,
    setup_django,
    table,
    time_round_robin,
)

NODES = 1000
SITES = 5
ROOMS_PER_SITE = 40
SAMPLES_PER_NODE = 100
INSTALLED_FROM = datetime(2024, 1, 1, tzinfo=UTC)
FIRST_SAMPLE = datetime(2024, 3, 1, tzinfo=UTC)

REFERENCE = "GET /api/v1/auth/user/"
LISTS = {
    REFERENCE: "/api/v1/auth/user/",
    "GET /api/v1/nodes/?page[size]=100": "/api/v1/nodes/?page[size]=100",
    "GET /api/v1/installations/?page[size]=100": "/api/v1/installations/?page[size]=100",
    "GET /api/v1/nodes/?page[size]=1000": "/api/v1/nodes/?page[size]=1000",
}
MOST_TIMES_REFERENCE = 8
MOST_STATEMENTS = 10
MOST_MS_FOR_100 = 150


def seed() -> str:
    """The inventory; returns the owner's API token."""
    from django.db import connection, transaction
    from rest_framework.authtoken.models import Token

    from core.models import Installation, Node, NodeModel, Protocol, Room, Site, derive_node_id
    from user_manager.models import Membership, Organization, User

    with transaction.atomic():
        organization = Organization.objects.create(name="Bench")
        owner = User.objects.create_user(username="bench-owner", email="owner@example.org")
        Membership.objects.create(user=owner, organization=organization, role=Membership.Role.OWNER)
        protocol = Protocol.objects.create(identifier="CLAIRCHEN")
        model = NodeModel.objects.create(name="Clairchen Rev. B", manufacturer="Clair Berlin", sensor_type="NDIR")
        sites = Site.objects.bulk_create(Site(name=f"Site {s}", operator=organization) for s in range(SITES))
        rooms = Room.objects.bulk_create(
            Room(name=f"Room {r}", site=site) for site in sites for r in range(ROOMS_PER_SITE)
        )
        nodes = Node.objects.bulk_create(
            Node(id=derive_node_id("CLAIRCHEN", f"{n:016x}"), eui64=f"{n:016x}", alias=f"node {n:04d}",
                 protocol=protocol, model=model, owner=organization)
            for n in range(NODES)
        )
        Installation.objects.bulk_create(
            Installation(node=node, room=rooms[n % len(rooms)], from_time=INSTALLED_FROM, is_public=n % 2 == 0)
            for n, node in enumerate(nodes)
        )
        rows = io.StringIO()
        for node in nodes:
            for minute in range(SAMPLES_PER_NODE):
                moment = (FIRST_SAMPLE + timedelta(minutes=minute)).isoformat()
                rows.write(f"{node.id}\t{moment}\t{400 + minute}\t21.5\t40\tM\n")
        with connection.cursor() as cursor, cursor.cursor.copy(
            "COPY core_sample (node_id, timestamp, co2_ppm, temperature_celsius, rel_humidity_percent,"
            " measurement_status) FROM STDIN"
        ) as copy:
            copy.write(rows.getvalue())
        token = Token.objects.create(user=owner).key
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return token


def report(timings: dict, statements: dict) -> str:
    reference = median(timings[REFERENCE])
    rows = []
    for name, values in timings.items():
        ratio = median(values) / reference
        if name == REFERENCE:
            target, met = "reference", True
        elif "1000" in name:
            target = f"<= {MOST_STATEMENTS} statements"
            met = statements[name] <= MOST_STATEMENTS
        else:
            target = f"<= {MOST_TIMES_REFERENCE} x, < {MOST_MS_FOR_100} ms, <= {MOST_STATEMENTS} statements"
            met = ratio <= MOST_TIMES_REFERENCE and median(values) < MOST_MS_FOR_100
            met = met and statements[name] <= MOST_STATEMENTS
        rows.append([
            name, f"{median(values):.1f}", f"{p90(values):.1f}", f"{ratio:.1f}", str(statements[name]), target,
            "met" if met else "MISSED",
        ])
    return table(["endpoint", "median ms", "p90 ms", "x ref", "SQL", "target", ""], rows)


def main() -> None:
    pg_port = int(os.environ.get("BENCH_PGPORT", "54360"))
    server_port = int(os.environ.get("BENCH_PORT", "8765"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "50"))
    warmup = int(os.environ.get("BENCH_WARMUP", "10"))
    print("\n".join(machine_facts()))
    with postgres(pg_port) as database:
        env = {**PRODUCTION_ENV, **database}
        setup_django(env)
        token = seed()
        from django.db import connection

        print(f"PostgreSQL {connection.pg_version // 10000}, gunicorn 2 sync workers, {rounds} rounds after "
              f"{warmup} warm-up rounds")
        print(f"{NODES} nodes, {NODES} installations in {SITES * ROOMS_PER_SITE} rooms on {SITES} sites, "
              f"{NODES * SAMPLES_PER_NODE} samples\n")
        headers = {"Authorization": f"Token {token}", "Accept": "application/vnd.api+json"}
        statements = {}
        for name, path in LISTS.items():
            count_statements(path, headers)  # Warm per-process caches, as a serving worker has them.
            status, count = count_statements(path, headers)
            if status != 200:
                raise RuntimeError(f"{path}: HTTP {status} through the test client")
            statements[name] = count
        connection.close()  # The server's workers hold their own.
        with gunicorn(env, port=server_port, workers=2) as base_url:
            urls = {name: base_url + path for name, path in LISTS.items()}
            timings = time_round_robin(urls, headers, rounds=rounds, warmup=warmup)
    print(report(timings, statements))


if __name__ == "__main__":
    main()
