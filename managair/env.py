"""Typed readers for configuration from environment variables.

Each reader refuses a malformed value with an ``ImproperlyConfigured`` that
names the variable, so a typo in a deployment fails at start-up instead of
silently falling back to a default. Secrets can also be given as
``<NAME>_FILE``: the path of a file holding the value (Docker and Kubernetes
secrets are mounted that way).
"""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name} must be a boolean (1/0, true/false, yes/no, on/off), not {raw!r}."
    )


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}.")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    """A list separated by spaces or commas (upstream used spaces)."""
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item for item in raw.replace(",", " ").split() if item]


def env_choice(name: str, choices: list[str], default: str) -> str:
    value = os.environ.get(name, default).strip()
    if value not in choices:
        raise ImproperlyConfigured(
            f"{name} must be one of {', '.join(choices)}, not {value!r}."
        )
    return value


def env_secret(name: str, default: str = "") -> str:
    """``NAME`` itself, or the content of the file named by ``NAME_FILE``.

    Giving both is refused: it is never clear which one the operator meant.
    """
    direct = os.environ.get(name)
    path = os.environ.get(f"{name}_FILE")
    if direct is not None and path is not None:
        raise ImproperlyConfigured(f"Set either {name} or {name}_FILE, not both.")
    if path is not None:
        try:
            # Strip the trailing newline editors and `echo` add to secret files.
            return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as error:
            raise ImproperlyConfigured(
                f"{name}_FILE points to {path!r}, which cannot be read: {error.strerror}."
            ) from None
    return direct if direct is not None else default
