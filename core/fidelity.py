"""The fidelity check: every node's status from its last contact, the
changes recorded, and the owners told.

``check`` runs from the task cluster's schedule (``NODE_FIDELITY=1``) or from
``manage.py check_fidelity``. On PostgreSQL one UPDATE computes every node's
status (``fidelity_at`` in SQL) and records the changes; other databases take
a slower path through ``fidelity_at`` in Python. Notifications are grouped
per organization and queued as tasks once the check has committed.
"""

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from core.fidelity_mail import send_notification
from core.models import FidelityCheck, FidelityEvent, Node, NodeFidelity
from core.models.fidelity import DOWN, Fidelity, fidelity_at

logger = logging.getLogger(__name__)

# Any constant: two checks must not run at once (overlapping schedules, cron
# beside the cluster), or both would record the same change.
_LOCK_KEY = 0x6D616E61_66696465  # "manafide"


class Change(NamedTuple):  # a tuple: the first check after a deployment makes one per node
    node_id: object
    old: str
    new: str
    organization_id: int
    notify: bool

    @property
    def newsworthy(self) -> bool:
        """Owners hear when a node goes down (missing, then dead) and when it
        comes back; not of its first contact."""
        return self.new in DOWN or (self.old in DOWN and self.new == Fidelity.ALIVE)


@dataclass
class Outcome:
    nodes: int = 0
    changes: list[Change] = field(default_factory=list)
    # organization id -> {"changes": [[node, old, new]], "reminders": [[node, fidelity]]}
    notifications: dict[int, dict] = field(default_factory=dict)
    skipped: bool = False


def default_alive_period() -> timedelta:
    return timedelta(seconds=settings.FIDELITY_ALIVE_PERIOD_S)


def check(now: datetime | None = None, *, notify_inline: bool = False) -> Outcome:
    """Check every node once. ``notify_inline`` sends the e-mails in this
    process (for cron, without a task cluster) instead of queueing them."""
    now = now or timezone.now()
    started = time.monotonic()
    with transaction.atomic():
        if not _try_lock():
            logger.info("Another fidelity check is running; skipped.")
            return Outcome(skipped=True)
        outcome = Outcome(nodes=_ensure_rows())
        changes = _update_postgresql(now) if connection.vendor == "postgresql" else _update_generic(now)
        outcome.changes = changes
        outcome.notifications = _notifications(changes, now)
        FidelityCheck.objects.update_or_create(
            id=1,
            defaults={
                "checked_at": now, "nodes": outcome.nodes, "changes": len(changes),
                "duration_ms": int((time.monotonic() - started) * 1000),
            },
        )  # fmt: skip
        for organization_id, news in outcome.notifications.items():
            payload = {"organization": organization_id, "at": now.isoformat(), **news}
            if notify_inline:
                # robust: one organization's mail server failing doesn't keep the others' mail.
                transaction.on_commit(lambda payload=payload: notify_owners(payload), robust=True)
            else:
                transaction.on_commit(
                    lambda payload=payload: async_task("core.fidelity.notify_owners", payload, group="fidelity"),
                    robust=True,
                )
    logger.info("Fidelity check: %d nodes, %d changes.", outcome.nodes, len(changes))
    return outcome


def scheduled_check() -> str:
    """The task cluster's entry: a short result to keep (django-q stores it),
    not every change."""
    if not settings.NODE_FIDELITY:  # switched off since the last migrate removed the schedule
        return "skipped: NODE_FIDELITY is off"
    outcome = check()
    if outcome.skipped:
        return "skipped: another check was running"
    return f"{outcome.nodes} nodes, {len(outcome.changes)} changes, {len(outcome.notifications)} organizations notified"


def _try_lock() -> bool:
    if connection.vendor != "postgresql":
        return True  # SQLite serializes writers anyway.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_LOCK_KEY])
        return cursor.fetchone()[0]


def _ensure_rows() -> int:
    """Give every node a fidelity row (unknown until it reports); returns how
    many nodes there are."""
    fidelity, node = NodeFidelity._meta.db_table, Node._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {fidelity} (node_id, fidelity) SELECT id, %s FROM {node} AS n "
            # ON CONFLICT: ingest may be adding a node's first row meanwhile.
            f"WHERE NOT EXISTS (SELECT 1 FROM {fidelity} AS f WHERE f.node_id = n.id) ON CONFLICT (node_id) DO NOTHING",
            [Fidelity.UNKNOWN],
        )
        cursor.execute(f"SELECT count(*) FROM {fidelity}")
        return cursor.fetchone()[0]


# ``fidelity_at`` for every node at once. The new status is computed from the
# row being updated, so when ingest moves a node's last contact meanwhile,
# PostgreSQL re-evaluates it on the newest version of the row.
_STATUS = """
    CASE WHEN f.last_contact IS NULL THEN 'U'
         WHEN f.last_contact >= %(now)s - make_interval(secs => coalesce(o.alive_period_s, %(default_s)s)) THEN 'E'
         WHEN f.last_contact >= %(now)s - 2 * make_interval(secs => coalesce(o.alive_period_s, %(default_s)s)) THEN 'M'
         ELSE 'D' END
"""
_CHECK = f"""
WITH changed AS (
    UPDATE core_nodefidelity AS f SET fidelity = {_STATUS}
    FROM core_nodefidelity AS before, core_node AS n, user_manager_organization AS o
    WHERE before.node_id = f.node_id AND n.id = f.node_id AND o.id = n.owner_id AND f.fidelity <> {_STATUS}
    RETURNING f.node_id, before.fidelity AS old, f.fidelity AS new, n.owner_id, o.notify_fidelity
), recorded AS (
    INSERT INTO core_fidelityevent (node_id, old, new, "timestamp")
    SELECT node_id, old, new, %(now)s FROM changed
)
SELECT node_id, old, new, owner_id, notify_fidelity FROM changed
"""


def _update_postgresql(now: datetime) -> list[Change]:
    with connection.cursor() as cursor:
        cursor.execute(_CHECK, {"now": now, "default_s": settings.FIDELITY_ALIVE_PERIOD_S})
        return [Change(*row) for row in cursor.fetchall()]


def _update_generic(now: datetime) -> list[Change]:
    """The same through ``fidelity_at`` in Python, for SQLite."""
    default = default_alive_period()
    rows = NodeFidelity.objects.values_list(
        "node_id", "fidelity", "last_contact", "node__owner_id", "node__owner__alive_period_s",
        "node__owner__notify_fidelity",
    ).order_by("node__owner_id", "node_id")  # fmt: skip
    changes = []
    for node_id, old, last_contact, owner_id, period_s, notify in rows:
        new = fidelity_at(last_contact, now, timedelta(seconds=period_s) if period_s else default)
        if new != old:
            changes.append(Change(node_id, old, new.value, owner_id, notify))
    for status in Fidelity:
        ids = [change.node_id for change in changes if change.new == status]
        for start in range(0, len(ids), 500):  # SQLite's limit on parameters
            NodeFidelity.objects.filter(pk__in=ids[start : start + 500]).update(fidelity=status)
    FidelityEvent.objects.bulk_create(
        (FidelityEvent(node_id=c.node_id, old=c.old, new=c.new, timestamp=now) for c in changes), batch_size=500
    )
    return changes


def _notifications(changes: list[Change], now: datetime) -> dict[int, dict]:
    """What each organization's owners hear of this check: the newsworthy
    changes, and reminders of nodes still down whose last notice is older
    than FIDELITY_REMINDER_PERIOD_S. Marks them all as notified now."""
    news: dict[int, dict] = {}

    def of(organization_id: int) -> dict:
        return news.setdefault(organization_id, {"changes": [], "reminders": []})

    told = sorted(
        (change for change in changes if change.newsworthy and change.notify),
        key=lambda change: (change.organization_id, str(change.node_id)),
    )
    for change in told:
        of(change.organization_id)["changes"].append([str(change.node_id), change.old, change.new])
    _mark_notified([change.node_id for change in told], now)
    if settings.FIDELITY_REMINDER_PERIOD_S > 0:
        # After the marking above: a node told of just now is not due.
        since = now - timedelta(seconds=settings.FIDELITY_REMINDER_PERIOD_S)
        due = list(
            NodeFidelity.objects.filter(fidelity__in=DOWN, node__owner__notify_fidelity=True)
            .filter(Q(last_notified__isnull=True) | Q(last_notified__lte=since))
            .order_by("node__owner_id", "node_id")
            .values_list("node_id", "fidelity", "node__owner_id")
        )
        for node_id, status, organization_id in due:
            of(organization_id)["reminders"].append([str(node_id), status])
        _mark_notified([node_id for node_id, _, _ in due], now)
    return news


def _mark_notified(node_ids: list, now: datetime) -> None:
    if not node_ids:
        return
    if connection.vendor == "postgresql":  # one statement, however many nodes
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {NodeFidelity._meta.db_table} SET last_notified = %s WHERE node_id = ANY(%s::uuid[])",
                [now, node_ids],
            )
        return
    for start in range(0, len(node_ids), 500):  # SQLite's limit on parameters
        NodeFidelity.objects.filter(pk__in=node_ids[start : start + 500]).update(last_notified=now)


def notify_owners(payload: dict) -> int:
    """The task: one e-mail to each owner of the organization about its
    nodes' changes and reminders (``payload`` as ``check`` queues it).
    Returns how many messages went out."""
    return send_notification(payload)
