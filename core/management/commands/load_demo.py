"""``manage.py load_demo``: demo organizations, users, inventory and samples.

The fixtures in ``fixtures/`` hold everything but the samples, with fixed
primary keys, so loading them again updates the same rows. The samples are
generated (``core.demo``) for the month up to now and written in bulk; rows
already there are kept, so a second run adds only the minutes since the first.
"""

import json
from collections import Counter
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from core.demo import DemoSample, sample_curve
from core.models import Installation, Node, NodeFidelity
from user_manager.models import Membership, User

FIXTURE_DIR = Path(settings.BASE_DIR) / "fixtures"
SEED = 2024
# The nodes that get samples (by EUI) and the kind of room each hangs in.
SAMPLE_NODES = {
    "70b3d57ed0041a01": "bar",
    "70b3d57ed0041b02": "school",
    "a81758fffe0a1c03": "school",
    "a81758fffe0a1d05": "lecture_hall",
}
STAFF_PASSWORD = "managair-admin"
DEMO_PASSWORD = "managair-demo"
# Fixture rows that would overwrite someone's data if the primary key is
# taken by another row: the demo belongs in an empty or demo database.
_IDENTITY_FIELDS = {"user_manager.user": "username", "user_manager.organization": "name"}
_SUMMARY = {
    "user_manager.organization": "organizations",
    "user_manager.user": "users",
    "core.site": "sites",
    "core.room": "rooms",
    "core.node": "nodes",
    "core.installation": "installations",
}
_COLUMNS = '"node_id", "timestamp", "co2_ppm", "temperature_celsius", "rel_humidity_percent", "measurement_status"'


class Command(BaseCommand):
    help = "Load the demo organizations, users, sites, rooms, nodes and installations, and generated samples."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=30, help="Days of samples up to now (default: 30).")
        parser.add_argument("--no-samples", action="store_true", help="Load the fixtures only.")

    def handle(self, *args, days: int, no_samples: bool, **options):
        if days < 1:
            raise CommandError("--days must be at least 1.")
        fixtures = sorted(FIXTURE_DIR.glob("*.json"))
        clashes = find_clashes(fixtures)
        if clashes:
            raise CommandError(
                "The database holds other data under the demo's primary keys; "
                "load the demo into an empty database. " + "; ".join(clashes)
            )
        with transaction.atomic():
            call_command("loaddata", *map(str, fixtures), verbosity=0)
            loaded = Counter(entry["model"] for entry in _fixture_entries(fixtures))
            self.stdout.write(
                "Loaded the demo: "
                + ", ".join(f"{loaded[label]} {name}" for label, name in _SUMMARY.items())
                + "."
            )
            if not no_samples:
                self.load_samples(days)
        self.print_logins()

    def load_samples(self, days: int) -> None:
        newest = timezone.now().replace(second=0, microsecond=0)
        end = newest + timedelta(minutes=1)
        written = generated = nodes = 0
        for eui64, room_kind in SAMPLE_NODES.items():
            node = Node.objects.get(eui64=eui64)
            installation = Installation.objects.filter(node=node, from_time__lte=newest, to_time__gt=newest).first()
            if installation is None:
                self.stderr.write(f"Node {node} is not installed now; it gets no samples.")
                continue
            start = max(end - timedelta(days=days), installation.from_time)
            samples = list(sample_curve(node.id, start, end, room_kind, seed=SEED))
            nodes += 1
            generated += len(samples)
            written += write_samples(samples)
            NodeFidelity.objects.update_or_create(
                node=node,
                # What the fidelity check would conclude from a sample a minute ago.
                defaults={
                    "last_contact": samples[-1].timestamp,
                    "fidelity": NodeFidelity.Status.ALIVE,
                },
            )
        self.stdout.write(
            f"Samples: {written} new, {generated - written} already there "
            f"({nodes} nodes, one per minute for {days} days "
            f"up to {timezone.localtime(newest):%Y-%m-%d %H:%M %Z})."
        )

    def print_logins(self) -> None:
        self.stdout.write("Demo logins (username / password):")
        for user in User.objects.filter(username__in=_fixture_usernames()).order_by("pk"):
            if user.is_staff:
                password, roles = STAFF_PASSWORD, "staff, all organizations"
            else:
                password = DEMO_PASSWORD
                memberships = Membership.objects.filter(user=user).select_related("organization")
                roles = ", ".join(f"{m.get_role_display()} of {m.organization}" for m in memberships)
            self.stdout.write(f"  {user.username:<18} {password:<16} {roles}")


def write_samples(samples: Iterable[DemoSample]) -> int:
    """Write the samples, skipping (node, timestamp) pairs already stored;
    returns how many were new."""
    if connection.vendor == "postgresql":
        return _copy_samples(samples)
    return _insert_samples(samples)


def _copy_samples(samples: Iterable[DemoSample]) -> int:
    # COPY cannot skip conflicts, so it fills a temporary table that one
    # INSERT … ON CONFLICT DO NOTHING then moves over.
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE demo_sample (node_id uuid, timestamp timestamptz, co2_ppm integer, "
            "temperature_celsius real, rel_humidity_percent real, measurement_status varchar(1)) ON COMMIT DROP"
        )
        with cursor.cursor.copy(f"COPY demo_sample ({_COLUMNS}) FROM STDIN") as copy:
            for sample in samples:
                copy.write_row((*sample, "M"))
        cursor.execute(
            f"INSERT INTO core_sample ({_COLUMNS}) SELECT {_COLUMNS} FROM demo_sample "
            'ON CONFLICT ("node_id", "timestamp") DO NOTHING'
        )
        written = cursor.rowcount
        # Dropped now, not at commit: a second call in the same transaction
        # creates it again.
        cursor.execute("DROP TABLE demo_sample")
    return written


def _insert_samples(samples: Iterable[DemoSample]) -> int:
    adapt = connection.ops.adapt_datetimefield_value
    rows = (
        (s.node_id.hex, adapt(s.timestamp), s.co2_ppm, s.temperature_celsius, s.rel_humidity_percent, "M")
        for s in samples
    )
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO core_sample ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s) "
            'ON CONFLICT ("node_id", "timestamp") DO NOTHING',
            rows,
        )
        return cursor.rowcount


def _fixture_entries(fixtures: Iterable[Path]) -> Iterable[dict]:
    for path in fixtures:
        yield from json.loads(path.read_text(encoding="utf-8"))


def _fixture_usernames() -> list[str]:
    fixtures = sorted(FIXTURE_DIR.glob("*.json"))
    return [e["fields"]["username"] for e in _fixture_entries(fixtures) if e["model"] == "user_manager.user"]


def find_clashes(fixtures: Iterable[Path]) -> list[str]:
    """Users and organizations that hold a demo primary key under another name."""
    clashes = []
    for entry in _fixture_entries(fixtures):
        field = _IDENTITY_FIELDS.get(entry["model"])
        if field is None:
            continue
        model = apps.get_model(entry["model"])
        expected = entry["fields"][field]
        found = model.objects.filter(pk=entry["pk"]).exclude(**{field: expected}).values_list(field, flat=True).first()
        if found is not None:
            clashes.append(f"{model._meta.verbose_name} {entry['pk']} is {found!r}, not {expected!r}")
    return clashes
