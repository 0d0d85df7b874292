"""The fidelity check (``core.fidelity.check``) over 100,000 nodes, against
the bare set-based UPDATE (../../shared/PERFORMANCE.md; issue 5/8: "one run
updates all nodes with a bounded number of queries: 100,000 nodes in under
5 seconds").

100,000 nodes over 50 organizations (every fifth with an alive period of 1 h,
every fifth with 4 h, the rest the default 2 h; every tenth has notifications
off), seeded in SQL with ``generate_series`` into a throwaway PostgreSQL. As
ingest leaves them: 2 % of the nodes have no fidelity row yet, 1 % a row
without contact, 3 % last reported days ago (dead), 1 % one to two alive
periods ago (missing), 0.2 % are about to go missing, the rest reported
within the last 10 minutes; every row still says "unknown" (never checked).
Three checks follow, each at its own ``now``:

(a) the first check: creates the missing rows, and nearly every node changes;
(b) five minutes later, after ingest moved the live nodes' last contact: a
    steady run with a few hundred changes (nodes going missing, missing ones
    going dead, 0.2 % dead ones back);
(c) 2 h 10 min later, after a gateway outage: 10,000 alive nodes of a few
    organizations have been silent since (b) and go missing at once, all
    other live nodes reported. Each notified organization must get exactly
    one queued mail task (django-q's ORM queue), holding all of its nodes.

Each is timed as the task cluster runs it (``check(now=...)``, committed, its
mail tasks queued), and so is the reference: one ``UPDATE core_nodefidelity
SET fidelity = CASE ... END`` joining node and organization, computing the
same status for every row and writing the rows that change (no events, no
notifications, no missing rows created). Between rounds the state is put
back and the tables vacuumed, so every round starts alike; the last check of
a scenario stays, for the next one. The same three run first over 1,000
nodes (the same shares, an outage of 100 nodes): the number of SQL
statements of a check (``CaptureQueriesContext``) must be the same at both
sizes. Target: under 5 s at 100,000 nodes.

    .venv/bin/python bench/fidelity.py

Environment: BENCH_PGPORT (default 54366), BENCH_NODES (100000),
BENCH_SMALL_NODES (1000), BENCH_ROUNDS (3), BENCH_EXPLAIN=1 (before timing,
each statement of the check slower than BENCH_EXPLAIN_MS, 200, is shown with
EXPLAIN (ANALYZE, BUFFERS) in a transaction that is rolled back);
BENCH_USE_ENV_DB=1 uses the server in SQL_* instead.
"""

import logging
import os
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PRODUCTION_ENV, machine_facts, median, postgres, setup_django, table  # noqa: E402

ORGANIZATIONS = 50
FIRST = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)
STEADY = FIRST + timedelta(minutes=5)
OUTAGE = STEADY + timedelta(hours=2, minutes=10)
MOST_SECONDS = 5.0

# Which nodes are in which state, by a hash of their number in per mille
# (a hash, not the number itself, which also picks the organization).
NO_ROW, NEVER, DEAD, MISSING, GOING = 20, 30, 60, 70, 72  # upper bounds; alive from GOING on
BACK = (30, 31)  # dead ones that report again before (b)


# --- The data --------------------------------------------------------------------------------------------


def organization_settings(k: int) -> tuple[int | None, bool]:
    """Alive period (None: the server's) and notifications of organization ``k``."""
    period = {1: 3600, 2: 4 * 3600}.get(k % 5)
    return period, k % 10 != 9


def seed(nodes: int) -> list[int]:
    """Organizations, owners and nodes with fidelity rows as ingest leaves
    them (see the docstring); returns the organizations' ids in order."""
    from django.conf import settings
    from django.db import connection, transaction

    from core.models import NodeModel, Protocol
    from user_manager.models import Membership, Organization, User

    with transaction.atomic():
        organizations = []
        for k in range(ORGANIZATIONS):
            period, notify = organization_settings(k)
            organization = Organization.objects.create(name=f"Fidelity {k:02d}", alive_period_s=period,
                                                       notify_fidelity=notify)
            owner, _ = User.objects.get_or_create(username=f"fidelity-owner-{k:02d}",
                                                  defaults={"email": f"owner{k:02d}@example.org"})
            Membership.objects.create(user=owner, organization=organization, role=Membership.Role.OWNER)
            organizations.append(organization.pk)
        protocol, _ = Protocol.objects.get_or_create(identifier="CLAIRCHEN")
        model, _ = NodeModel.objects.get_or_create(name="Clairchen Rev. B", manufacturer="Clair Berlin",
                                                   sensor_type="NDIR")
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_node")
            cursor.execute(
                "CREATE TABLE bench_node AS SELECT md5('fidelity-bench-' || g)::uuid AS node_id, g,"
                " abs(hashtext('state-' || g)) %% 1000 AS h,"
                " (abs(hashtext('spread-' || g)) %% 1000000) / 1e6::float8 AS frac"
                " FROM generate_series(0, %s - 1) g",
                [nodes],
            )
            cursor.execute("ALTER TABLE bench_node ADD PRIMARY KEY (node_id)")
            cursor.execute(
                "INSERT INTO core_node (id, eui64, alias, description, protocol_id, model_id, owner_id)"
                " SELECT node_id, lpad(to_hex(g), 16, '0'), 'node ' || g, '', %s, %s, (%s::int[])[1 + g %% %s]"
                " FROM bench_node",
                [protocol.pk, model.pk, organizations, ORGANIZATIONS],
            )
            period = "make_interval(secs => coalesce(o.alive_period_s, %(default_s)s))"
            cursor.execute(
                f"""
                INSERT INTO core_nodefidelity (node_id, fidelity, last_contact)
                SELECT b.node_id, 'U', CASE
                    WHEN b.h < {NEVER} THEN NULL
                    WHEN b.h < {DEAD} THEN %(now)s - {period} * (2.05 + b.frac * 20)
                    WHEN b.h < {MISSING} THEN %(now)s - {period} * (1.02 + b.frac * 0.96)
                    WHEN b.h < {GOING} THEN %(now)s - {period} + b.frac * interval '5 minutes'
                    ELSE %(now)s - b.frac * interval '10 minutes' END
                FROM bench_node b JOIN core_node n ON n.id = b.node_id
                JOIN user_manager_organization o ON o.id = n.owner_id
                WHERE b.h >= {NO_ROW}
                """,
                {"now": FIRST, "default_s": settings.FIDELITY_ALIVE_PERIOD_S},
            )
    vacuum()
    return organizations


def vacuum() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def ingest_until_steady() -> None:
    """What ingest did in the five minutes before (b): every live node
    reported, and a few dead ones came back."""
    _execute(
        f"UPDATE core_nodefidelity f SET last_contact = %s - b.frac * interval '10 minutes' FROM bench_node b"
        f" WHERE b.node_id = f.node_id AND (b.h >= {GOING} OR b.h = ANY(%s))",
        [STEADY, list(BACK)],
    )


def ingest_until_outage(organizations: list[int], outage: int) -> None:
    """What ingest did before (c): every alive node reported except
    ``outage`` nodes of the first organizations with the default period and
    notifications on, which have been silent since (b)."""
    candidates = [pk for k, pk in enumerate(organizations) if organization_settings(k) == (None, True)]
    _execute("DROP TABLE IF EXISTS bench_outage")
    _execute(
        "CREATE TABLE bench_outage AS SELECT f.node_id, n.owner_id FROM core_nodefidelity f"
        " JOIN core_node n ON n.id = f.node_id WHERE f.fidelity = 'E' AND n.owner_id = ANY(%s)"
        " ORDER BY n.owner_id, f.node_id LIMIT %s",
        [candidates, outage],
    )
    _execute(
        "UPDATE core_nodefidelity f SET last_contact = %s - b.frac * interval '10 minutes' FROM bench_node b"
        " WHERE b.node_id = f.node_id AND f.fidelity = 'E'"
        " AND NOT EXISTS (SELECT FROM bench_outage x WHERE x.node_id = f.node_id)",
        [OUTAGE],
    )


def _execute(sql: str, params=None) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _scalar(sql: str, params=None):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


# --- Putting a scenario's state back -------------------------------------------------------------------


class Snapshot:
    """The state a check changes (fidelity and notice per node, events, the
    check's row, the task queue), taken before a scenario so that each round
    starts from it."""

    def __init__(self, now: datetime):
        from django_q.models import OrmQ

        from core.models import FidelityCheck

        self.now = now
        _execute("DROP TABLE IF EXISTS bench_snapshot")
        _execute("CREATE TABLE bench_snapshot AS SELECT node_id, fidelity, last_notified FROM core_nodefidelity")
        _execute("ALTER TABLE bench_snapshot ADD PRIMARY KEY (node_id)")
        self.last_task = OrmQ.objects.order_by("-id").values_list("id", flat=True).first() or 0
        self.check_row = FidelityCheck.objects.filter(id=1).values().first()

    def restore(self) -> None:
        from django_q.models import OrmQ

        from core.models import FidelityCheck

        _execute("DELETE FROM core_nodefidelity f WHERE NOT EXISTS (SELECT FROM bench_snapshot s"
                 " WHERE s.node_id = f.node_id)")
        _execute("UPDATE core_nodefidelity f SET fidelity = s.fidelity, last_notified = s.last_notified"
                 " FROM bench_snapshot s WHERE s.node_id = f.node_id"
                 " AND (f.fidelity, f.last_notified) IS DISTINCT FROM (s.fidelity, s.last_notified)")
        _execute('DELETE FROM core_fidelityevent WHERE "timestamp" = %s', [self.now])
        OrmQ.objects.filter(id__gt=self.last_task).delete()
        FidelityCheck.objects.all().delete()
        if self.check_row:
            FidelityCheck.objects.create(**self.check_row)
        vacuum()

    def queued(self) -> list[dict]:
        """The payloads of the tasks queued since the snapshot."""
        from django_q.models import OrmQ

        tasks = [q.task for q in OrmQ.objects.filter(id__gt=self.last_task).order_by("id")]
        wrong = [task.get("func") for task in tasks if task.get("func") != "core.fidelity.notify_owners"]
        if wrong:
            raise RuntimeError(f"unexpected tasks queued: {wrong}")
        return [task["args"][0] for task in tasks]


# --- Timing -------------------------------------------------------------------------------------------------


REFERENCE_SQL = """
UPDATE core_nodefidelity AS f SET fidelity = {status}
FROM core_node AS n, user_manager_organization AS o
WHERE n.id = f.node_id AND o.id = n.owner_id AND f.fidelity <> {status}
"""
STATUS_SQL = """CASE WHEN f.last_contact IS NULL THEN 'U'
    WHEN f.last_contact >= %(now)s - make_interval(secs => coalesce(o.alive_period_s, %(default_s)s)) THEN 'E'
    WHEN f.last_contact >= %(now)s - 2 * make_interval(secs => coalesce(o.alive_period_s, %(default_s)s)) THEN 'M'
    ELSE 'D' END"""


def reference(now: datetime) -> int:
    """The bare set-based work, committed; returns how many rows changed."""
    from django.conf import settings
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(REFERENCE_SQL.format(status=STATUS_SQL),
                       {"now": now, "default_s": settings.FIDELITY_ALIVE_PERIOD_S})
        return cursor.rowcount


@dataclass
class Run:
    seconds: float
    outcome: object
    queries: list[dict]
    queued: list[dict]
    notified: set[int]  # organizations whose nodes were marked as notified by this check


def run_check(now: datetime, snapshot: Snapshot) -> Run:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from core import fidelity

    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        outcome = fidelity.check(now=now)
        seconds = time.perf_counter() - started
    if outcome.skipped:
        raise RuntimeError("the check was skipped: another one held the lock")
    notified = _notified_organizations(now)
    return Run(seconds, outcome, list(captured.captured_queries), snapshot.queued(), notified)


def _notified_organizations(now: datetime) -> set[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT n.owner_id FROM core_nodefidelity f JOIN core_node n ON n.id = f.node_id"
                       " WHERE f.last_notified = %s", [now])
        return {row[0] for row in cursor.fetchall()}


def verify(run: Run, outage_nodes: set[str] | None) -> list[str]:
    """What a user would see go wrong: an organization mailed twice or not at
    all, an outage node missing from its organization's mail."""
    from user_manager.models import Organization

    problems = []
    organizations = [payload["organization"] for payload in run.queued]
    twice = sorted(pk for pk, count in Counter(organizations).items() if count > 1)
    if twice:
        problems.append(f"more than one task for organizations {twice}")
    if set(organizations) != run.notified:
        problems.append(f"tasks for {sorted(set(organizations))}, nodes notified in {sorted(run.notified)}")
    if set(organizations) != set(run.outcome.notifications):
        problems.append("queued tasks differ from the check's notifications")
    silenced = set(Organization.objects.filter(notify_fidelity=False).values_list("pk", flat=True))
    if silenced & set(organizations):
        problems.append(f"tasks for organizations with notifications off: {sorted(silenced & set(organizations))}")
    if outage_nodes is not None:
        told = {node for payload in run.queued for node, _old, new in payload["changes"] if new == "M"}
        if not outage_nodes <= told:
            problems.append(f"{len(outage_nodes - told)} of the outage's nodes not in any mail")
    return problems


# --- Where the statements go --------------------------------------------------------------------------------


def kind(sql: str) -> str:
    """A statement's shape, without its values: the same statement with other
    ids or times counts as one kind."""
    text = " ".join(sql.split())
    text = re.sub(r"'[^']*'", "?", text)
    text = re.sub(r"\bIN \([^)]*\)", "IN (...)", text)
    text = re.sub(r"\b\d+\b", "N", text)
    text = re.sub(r'"s\d+_x\d+"|s\d+_x\d+', "sp", text)  # savepoint names
    return text[:90] + ("..." if len(text) > 90 else "")


def queue_inserts(run: Run) -> int:
    return sum("django_q_ormq" in query["sql"] for query in run.queries)


def notice_updates(run: Run) -> int:
    return sum(
        query["sql"].replace('"', "").startswith("UPDATE core_nodefidelity SET last_notified") for query in run.queries
    )


def own_statements(run: Run) -> int:
    """The check's statements without the mail tasks' queueing (one insert per
    notified organization: bounded by the organizations, not the nodes)."""
    return len(run.queries) - queue_inserts(run)


def breakdown(run: Run) -> list[tuple[str, int, float]]:
    """(statement kind, how many, seconds in total), slowest first."""
    count, seconds = Counter(), Counter()
    for query in run.queries:
        label = kind(query["sql"])
        count[label] += 1
        seconds[label] += float(query["time"])
    return sorted(((label, count[label], seconds[label]) for label in count), key=lambda item: -item[2])


TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


def explain(now: datetime, slower_than_ms: float, snapshot: Snapshot) -> str:
    """The check once more, in a transaction rolled back: statements slower
    than ``slower_than_ms`` are run under EXPLAIN (ANALYZE, BUFFERS), the rest
    as they are, so that each sees the state the check gives it."""
    from django.db import connection, transaction

    rehearsal = run_check(now, snapshot)
    snapshot.restore()
    parts = []
    with transaction.atomic(), connection.cursor() as cursor:
        for query in rehearsal.queries:
            sql = query["sql"]
            if "django_q_ormq" in sql or sql.startswith(TRANSACTION_CONTROL):
                continue  # queued after the commit; everything else stays in this transaction
            if float(query["time"]) * 1000 >= slower_than_ms:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                plan = "\n".join(row[0] for row in cursor.fetchall())
                parts.append(f"-- {float(query['time']) * 1000:.0f} ms in the check: {kind(sql)}\n{plan}")
            else:
                cursor.execute(sql)
        # What COMMIT runs: the deferred foreign-key checks (Django makes them DEFERRABLE INITIALLY DEFERRED).
        started = time.perf_counter()
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        parts.append(f"-- the deferred constraint checks (what COMMIT runs): "
                     f"{(time.perf_counter() - started) * 1000:.0f} ms")
        transaction.set_rollback(True)
    snapshot.restore()
    return "\n\n".join(parts)


# --- The scenarios ----------------------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    now: datetime
    runs: list[Run] = field(default_factory=list)
    references: list[tuple[float, int]] = field(default_factory=list)  # seconds, rows changed
    problems: list[str] = field(default_factory=list)
    plans: str = ""
    note: str = ""


def measure(nodes: int, rounds: int, explain_ms: float | None) -> list[Scenario]:
    organizations = seed(nodes)
    outage = nodes // 10
    scenarios = [
        Scenario("(a) first check", FIRST),
        Scenario("(b) steady, 5 min later", STEADY),
        Scenario(f"(c) outage of {outage:,} nodes", OUTAGE),
    ]
    for scenario in scenarios:
        outage_nodes = None
        if scenario.now == STEADY:
            ingest_until_steady()
        elif scenario.now == OUTAGE:
            ingest_until_outage(organizations, outage)
            outage_nodes = {str(row[0]) for row in _rows("SELECT node_id FROM bench_outage")}
            hit = _scalar("SELECT count(DISTINCT owner_id) FROM bench_outage")
            scenario.note = f"{len(outage_nodes):,} alive nodes of {hit} organizations silent since (b)"
        vacuum()
        snapshot = Snapshot(scenario.now)
        if explain_ms is not None:
            scenario.plans = explain(scenario.now, explain_ms, snapshot)
        for turn in range(rounds):
            started = time.perf_counter()
            changed = reference(scenario.now)
            scenario.references.append((time.perf_counter() - started, changed))
            snapshot.restore()
            run = run_check(scenario.now, snapshot)
            scenario.runs.append(run)
            scenario.problems += [f"round {turn + 1}: {problem}" for problem in verify(run, outage_nodes)]
            if turn < rounds - 1:  # the last check stays, for the next scenario
                snapshot.restore()
    return scenarios


def _rows(sql: str, params=None) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def clear() -> None:
    """Everything ``seed`` made, for the next size."""
    _execute("TRUNCATE core_node, user_manager_organization, django_q_ormq, core_fidelitycheck CASCADE")


# --- The report ---------------------------------------------------------------------------------------------------


def report(large: list[Scenario], small: list[Scenario], nodes: int, small_nodes: int) -> str:
    rows = []
    for big, little in zip(large, small, strict=True):
        checks = [run.seconds for run in big.runs]
        last, little_last = big.runs[-1], little.runs[-1]
        ref = median([seconds for seconds, _ in big.references])
        own, little_own = own_statements(last), own_statements(little_last)
        steady = len({len(run.queries) for run in big.runs}) == 1
        fast = median(checks) < MOST_SECONDS
        met = fast and own == little_own and steady and not big.problems and not little.problems
        rows.append([
            big.name, f"{len(last.outcome.changes):,}", f"{big.references[-1][1]:,}",
            f"{len(last.queued)} / {len(last.notified)}", f"{median(checks):.2f}",
            f"{min(checks):.2f}-{max(checks):.2f}", f"{ref:.2f}", f"{median(checks) / ref:.1f}",
            f"{len(little_last.queries)} / {len(last.queries)}", f"{little_own} / {own}",
            f"{notice_updates(little_last)} / {notice_updates(last)}",
            f"< {MOST_SECONDS:.0f} s, same own SQL at both sizes", "met" if met else "MISSED",
        ])
    header = ["run", "changes", "ref rows", "tasks / orgs", "check s", "range s", "ref s", "x ref",
              f"SQL {small_nodes:,} / {nodes:,}", "own SQL", "notice UPDATEs", "target", ""]
    return table(header, rows)


def small_report(scenarios: list[Scenario]) -> str:
    rows = []
    for scenario in scenarios:
        last = scenario.runs[-1]
        ref = median([seconds for seconds, _ in scenario.references])
        rows.append([scenario.name, f"{len(last.outcome.changes):,}", f"{len(last.queued)} / {len(last.notified)}",
                     f"{median([run.seconds for run in scenario.runs]) * 1000:.0f}", f"{ref * 1000:.0f}",
                     str(len(last.queries))])
    return table(["run", "changes", "tasks / orgs", "check ms", "ref ms", "SQL"], rows)


def statements_report(scenarios: list[Scenario]) -> str:
    parts = []
    for scenario in scenarios:
        run = scenario.runs[-1]
        sql_s = sum(float(query["time"]) for query in run.queries)
        rows = [[str(count), f"{seconds * 1000:.0f}", label] for label, count, seconds in breakdown(run)]
        parts.append(f"{scenario.name}: {len(run.queries)} statements, {sql_s:.2f} s of the check's "
                     f"{run.seconds:.2f} s in SQL (the last round)\n" + table(["n", "ms", "statement"], rows))
    return "\n\n".join(parts)


def main() -> None:
    pg_port = int(os.environ.get("BENCH_PGPORT", "54366"))
    nodes = int(os.environ.get("BENCH_NODES", "100000"))
    small_nodes = int(os.environ.get("BENCH_SMALL_NODES", "1000"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    explain_ms = float(os.environ.get("BENCH_EXPLAIN_MS", "200")) if os.environ.get("BENCH_EXPLAIN") == "1" else None
    print("\n".join(machine_facts()))
    with postgres(pg_port) as database:
        # The check queues its mail in django-q's ORM queue, as without Q_BROKER_URL.
        env = {**PRODUCTION_ENV, **database, "NODE_FIDELITY": "1"}
        os.environ.pop("Q_BROKER_URL", None)
        setup_django(env)
        # One line per queued task and per check would bury the report.
        logging.getLogger("django-q").setLevel(logging.WARNING)
        logging.getLogger("core.fidelity").setLevel(logging.WARNING)
        from django.conf import settings
        from django.db import connection

        print(f"PostgreSQL {connection.pg_version // 10000} (JIT off, as the server's connections), "
              f"{rounds} rounds per run, state put back and VACUUM ANALYZE between them")
        print(f"{ORGANIZATIONS} organizations; default alive period {settings.FIDELITY_ALIVE_PERIOD_S} s, "
              f"reminders every {settings.FIDELITY_REMINDER_PERIOD_S} s\n")
        started = time.perf_counter()
        small = measure(small_nodes, rounds, None)
        clear()
        print(f"{small_nodes:,} nodes ({time.perf_counter() - started:.1f} s):")
        print(small_report(small))
        started = time.perf_counter()
        large = measure(nodes, rounds, explain_ms)
        print(f"\n{nodes:,} nodes ({time.perf_counter() - started:.1f} s with seeding):")
        print(report(large, small, nodes, small_nodes))
        for scenario in large:
            if scenario.note:
                print(f"{scenario.name}: {scenario.note}")
        problems = [f"PROBLEM {scenario.name}: {problem}" for scenario in small + large
                    for problem in scenario.problems]
        print("\n".join(problems) or "Mail tasks, every round at both sizes: one per notified organization, and every "
              "outage node in its organization's task.")
        print(f"\nWhere a check's statements went, {nodes:,} nodes:\n")
        print(statements_report(large))
        if explain_ms is not None:
            for scenario in large:
                print(f"\n### {scenario.name}: EXPLAIN (ANALYZE, BUFFERS)\n{scenario.plans}")


if __name__ == "__main__":
    main()
