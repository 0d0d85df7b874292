"""Keep passwords, tokens and keys out of every log line.

The filter rewrites a record's message before any handler formats it. It
knows two kinds of secret: the configured ones (their exact values) and the
shapes secrets take in requests and SQL (``password=…``, ``Token …``,
``Bearer …``, password hashes, 40-hex API tokens, password-reset keys in
URLs). Redaction errs on the side of hiding too much.
"""

import logging
import re

from django.conf import settings

REDACTED = "[redacted]"

_PATTERNS = [
    # Authorization header values. First: the key=value rule below would take
    # the scheme word ("Bearer") for the value and leave the key itself.
    re.compile(r"(?i)\b((?:Token|Bearer|Basic)\s+)([A-Za-z0-9._~+/=-]{8,})"),
    # key=value pairs in query strings, form bodies and repr()s.
    re.compile(
        r"(?i)((?:password\d?|passwd|pwd|secret|token|api_?key|key|authorization)"
        r"['\"]?\s*[:=]\s*['\"]?)([^'\"&\s,;)}]+)"
    ),
    # Django password hashes, e.g. in SQL parameters.
    re.compile(r"()((?:pbkdf2_sha256|pbkdf2_sha1|argon2|bcrypt_sha256|bcrypt|scrypt)\$[^'\"\s,)]+)"),
    # DRF authtoken keys.
    re.compile(r"()(\b[0-9a-f]{40}\b)"),
    # Password-reset and e-mail-confirmation keys in URLs: the rest of the
    # path, since allauth's reset URL is .../reset/key/<uid>-<key>/.
    re.compile(r"(/(?:reset|key|confirm-email|verify-email)/)([^\s'\"]+)"),
]

_CONFIGURED_SECRET_SETTINGS = ("SECRET_KEY", "EMAIL_HOST_PASSWORD", "Q_BROKER_URL")


def _configured_secrets() -> list[str]:
    secrets = [getattr(settings, name, "") for name in _CONFIGURED_SECRET_SETTINGS]
    secrets.append(settings.DATABASES.get("default", {}).get("PASSWORD", ""))
    stadtpuls = getattr(settings, "STADTPULS", {})
    secrets += [stadtpuls.get(k, "") for k in ("API_KEY", "LOGIN_PWD", "AUTH_TOKEN")]
    # Very short values would redact ordinary words.
    return [s for s in secrets if s and len(s) >= 6]


def redact(text: str) -> str:
    for secret in _configured_secrets():
        text = text.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # A broken format string is the caller's bug, not ours to hide.
            return True
        redacted = redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.msg, record.args = redacted, None
        return True
