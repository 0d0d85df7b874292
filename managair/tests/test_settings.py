"""Start-up behaviour of the settings, each in a fresh process with a controlled environment.

Settings are read once per process, so every case runs Django in a
subprocess; the environment is this one minus everything the settings read.
"""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
_READER_CALL = re.compile(r'env_(?:str|bool|int|list|choice|secret)\(\s*"([A-Z][A-Z0-9_]*)"')


def variables_read_by(*relative_paths: str) -> set[str]:
    names = set()
    for relative_path in relative_paths:
        names |= set(_READER_CALL.findall((PROJECT / relative_path).read_text(encoding="utf-8")))
    return names


SETTINGS_VARIABLES = variables_read_by("managair/settings.py")


def controlled_environment(tmp_path: Path, **variables: str) -> dict[str, str]:
    """This process's environment without any configuration, on a fresh SQLite file."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in SETTINGS_VARIABLES
        and name.removesuffix("_FILE") not in SETTINGS_VARIABLES
        and not name.startswith(("SQL_", "EMAIL_", "SECURE_", "SP_", "SENTRY", "DB_"))
    }
    environment.update(
        DJANGO_SETTINGS_MODULE="managair.settings",
        PYTHONDONTWRITEBYTECODE="1",
        SQL_DATABASE=str(tmp_path / "db.sqlite3"),
    )
    environment.update(variables)
    return environment


def django_process(*args: str, tmp_path: Path, **variables: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=PROJECT, env=controlled_environment(tmp_path, **variables),
        capture_output=True, text=True, timeout=120,
    )


def start_django(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess:
    return django_process("-c", "import django; django.setup()", tmp_path=tmp_path, **variables)


def production_environment() -> dict[str, str]:
    return {
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "managair.example.org",
        "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
        "SECURE_HSTS_PRELOAD": "1",
    }


def test_production_server_refuses_to_start_without_a_secret_key(tmp_path):
    result = start_django(tmp_path, DEBUG="0")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr


def test_debug_server_starts_without_a_secret_key(tmp_path):
    result = start_django(tmp_path, DEBUG="1")
    assert result.returncode == 0, result.stderr


def test_secret_key_can_come_from_a_mounted_secret_file(tmp_path):
    key = secrets.token_urlsafe(50)
    (tmp_path / "secret_key").write_text(key + "\n", encoding="utf-8")
    result = django_process(
        "-c", "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)",
        tmp_path=tmp_path, DEBUG="0", SECRET_KEY_FILE=str(tmp_path / "secret_key"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == key + "\n"


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"DEBUG": "1", "SQL_ENGINE": "django.db.backends.postgresql", "SQL_PORT": "abc"}, "SQL_PORT"),
        ({"DEBUG": "1", "SQL_ENGINE": "postgres"}, "SQL_ENGINE"),
        ({"DEBUG": "1", "SECURE_HSTS_SECONDS": "-1"}, "SECURE_HSTS_SECONDS"),
        ({"DEBUG": "1", "LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"DEBUG": "1", "AUTH_THROTTLE_RATE": "60 per minute"}, "AUTH_THROTTLE_RATE"),
        ({"DEBUG": "1", "Q_BROKER_URL": "http://redis.example.org:6379/0"}, "Q_BROKER_URL"),
    ],
)
def test_malformed_setting_stops_the_start_and_names_the_variable(tmp_path, variables, named):
    result = start_django(tmp_path, **variables)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"{named} must" in result.stderr


def test_production_environment_passes_the_deployment_check(tmp_path):
    result = django_process(
        "manage.py", "check", "--deploy", "--fail-level", "WARNING",
        tmp_path=tmp_path, **production_environment(),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_deployment_check_fails_without_hsts(tmp_path):
    variables = production_environment()
    del variables["SECURE_HSTS_SECONDS"]
    result = django_process(
        "manage.py", "check", "--deploy", "--fail-level", "WARNING", tmp_path=tmp_path, **variables
    )
    assert result.returncode != 0
    assert "security.W004" in result.stdout + result.stderr


def read_env_example() -> dict[str, str]:
    values = {}
    for line in (PROJECT / ".env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def test_env_example_is_a_configuration_that_passes_the_deployment_check(tmp_path):
    # Compose supplies the key as a file; here it is given directly.
    result = django_process(
        "manage.py", "check", "--deploy", "--fail-level", "WARNING",
        tmp_path=tmp_path, **{**read_env_example(), "SECRET_KEY": secrets.token_urlsafe(50),
                              "SQL_DATABASE": str(tmp_path / "db.sqlite3")},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_env_example_documents_every_variable_the_server_reads():
    documented = set(
        re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", (PROJECT / ".env.example").read_text(encoding="utf-8"), re.M)
    )
    read = variables_read_by("managair/settings.py", "managair/gunicorn.conf.py", "managair/wait_for_db.py")
    read |= {"DB_MIGRATE", "COLLECT_STATIC_FILES"}  # read by entrypoint.sh
    assert read - documented == set()


def _task_broker(tmp_path: Path, **variables: str) -> str:
    result = django_process(
        "-c",
        "import django; django.setup(); from django_q.brokers import get_broker; "
        "print(type(get_broker()).__name__)",
        tmp_path=tmp_path, DEBUG="1", **variables,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_tasks_queue_in_the_database_unless_a_broker_url_is_set(tmp_path):
    assert _task_broker(tmp_path) == "ORM"
    assert _task_broker(tmp_path, Q_BROKER_URL="redis://127.0.0.1:6399/0") == "Redis"


def test_broker_url_can_come_from_a_mounted_secret_file(tmp_path):
    secret = tmp_path / "broker"
    secret.write_text("redis://:password@127.0.0.1:6399/0\n", encoding="utf-8")
    assert _task_broker(tmp_path, Q_BROKER_URL_FILE=str(secret)) == "Redis"
