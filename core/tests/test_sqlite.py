"""The embedded database that `scripts/run.sh` uses: the commands the task
cluster runs there work on SQLite too (the rest of the suite runs on
PostgreSQL), each in a fresh process with its own database file."""

from managair.tests.test_settings import django_process

SETUP = """
from datetime import timedelta
from django.utils import timezone
from core.models import Node, NodeFidelity, Sample
from core.tests.factories import make_node, make_organization, make_user
from user_manager.models import Membership
organization = make_organization("Bar Lupe")
make_user("owner", organization=organization, role=Membership.Role.OWNER)
reporting, silent, new = (make_node(owner=organization, alias=alias) for alias in ("bar", "cellar", "new"))
now = timezone.now()
NodeFidelity.objects.create(node=reporting, last_contact=now - timedelta(minutes=5))
NodeFidelity.objects.create(node=silent, last_contact=now - timedelta(hours=3))
Sample.objects.create(node=reporting, timestamp=now - timedelta(days=1), co2_ppm=700)
"""


def test_the_scheduled_commands_work_on_sqlite(tmp_path):
    def manage(*args):
        result = django_process("manage.py", *args, tmp_path=tmp_path, DEBUG="1")
        assert result.returncode == 0, result.stderr
        return result.stdout

    manage("migrate", "--noinput", "-v", "0")
    manage("shell", "-v", "0", "-c", SETUP)
    output = manage("check_fidelity")
    # The cellar went missing: its owner's mail went to the console backend (DEBUG).
    assert "Subject: [Managair] Bar Lupe: 1 missing" in output
    assert output.splitlines()[-1] == "3 nodes checked, 2 changed, 1 organizations notified."
    assert manage("check_fidelity").splitlines()[-1] == "3 nodes checked, 0 changed, 0 organizations notified."
    assert manage("refresh_summaries").strip() == "0 hours recomputed."
