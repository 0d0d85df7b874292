"""Wait until the configured database accepts connections, then optionally migrate.

Containers start in no particular order: the web, ingest and task processes
would otherwise crash (and be restarted in a loop) while PostgreSQL is still
starting. Run as ``python -m managair.wait_for_db [--migrate]``;
``DB_WAIT_TIMEOUT`` (seconds, default 60) bounds the wait, so a wrong host or
port fails the container with a message instead of hanging.
"""

import argparse
import os
import sys
import time

import django

from managair.env import env_int

# Per attempt: a host that drops packets must not eat the whole budget at once.
_ATTEMPT_TIMEOUT = 5
_PAUSE = 1.0
# Any constant will do, as long as nothing else in the database uses it.
_MIGRATION_LOCK_KEY = 7_319_004_211


def _describe(settings_dict: dict) -> str:
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"the SQLite file {settings_dict['NAME']}"
    return f"{settings_dict.get('HOST') or 'localhost'}:{settings_dict.get('PORT') or 5432}"


def wait_for_database(timeout: int) -> bool:
    from django.db import connection
    from django.db.utils import OperationalError

    if connection.vendor == "postgresql":
        options = connection.settings_dict.setdefault("OPTIONS", {})
        options.setdefault("connect_timeout", _ATTEMPT_TIMEOUT)
    where = _describe(connection.settings_dict)
    deadline = time.monotonic() + timeout
    attempt = 0
    while True:
        attempt += 1
        try:
            connection.ensure_connection()
        except OperationalError as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            if time.monotonic() + _PAUSE > deadline:
                print(
                    f"wait_for_db: the database at {where} did not accept connections "
                    f"within DB_WAIT_TIMEOUT={timeout} s ({reason}). "
                    "Check SQL_HOST and SQL_PORT, and that the database is running.",
                    file=sys.stderr,
                )
                return False
            if attempt % 10 == 1:  # Once at the start, then now and then: not a flood.
                print(f"wait_for_db: waiting for the database at {where} ({reason}) ...", file=sys.stderr)
            time.sleep(_PAUSE)
        else:
            connection.close()
            print(f"wait_for_db: the database at {where} is up.", file=sys.stderr)
            return True


def migrate() -> None:
    """``manage.py migrate --noinput``, one process at a time.

    Replicas of a service that start together would otherwise run the same
    migrations at once and fail on each other's tables; under a PostgreSQL
    advisory lock the later ones wait and then find nothing left to do.
    """
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "postgresql":
        call_command("migrate", interactive=False)
        return
    with connection.cursor() as cursor:
        # Session-level: held across the migrations' own transactions, and
        # released by PostgreSQL if this process dies.
        cursor.execute("SELECT pg_advisory_lock(%s)", [_MIGRATION_LOCK_KEY])
    try:
        call_command("migrate", interactive=False)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_MIGRATION_LOCK_KEY])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m managair.wait_for_db", description=__doc__)
    parser.add_argument("--migrate", action="store_true", help="then apply the migrations")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "managair.settings")
    django.setup()
    if not wait_for_database(env_int("DB_WAIT_TIMEOUT", 60, minimum=0)):
        return 1
    if args.migrate:
        migrate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
