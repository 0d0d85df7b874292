"""Real processes on the test database, for what only a process shows: exit
codes, what reaches stderr, a server or worker seen from outside."""

import os
import subprocess
import sys

from django.db import connection

from managair.tests.test_settings import PROJECT


def on_test_database(**variables: str) -> dict[str, str]:
    """This process's environment, pointed at the test database."""
    return {
        **os.environ,
        "SQL_DATABASE": connection.settings_dict["NAME"],
        "PYTHONDONTWRITEBYTECODE": "1",
        **variables,
    }


def manage(*args: str, stdin: str = "", **variables: str) -> subprocess.CompletedProcess:
    """``manage.py *args`` in a process of its own, on the test database."""
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=PROJECT, env=on_test_database(**variables), input=stdin,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
