"""Gunicorn settings for the container: `gunicorn -c managair/gunicorn.conf.py managair.wsgi`.

Every value can be changed from the environment (see .env.example), read by
the same typed readers as Django's settings so that a typo stops the start.
"""

import os

from gunicorn.glogging import Logger

from managair.env import env_choice, env_int, env_str

bind = f"0.0.0.0:{env_int('PORT', 8000, minimum=1)}"


def _cores() -> int:
    # The CPUs this process may run on (a container's cpuset), not the host's.
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # Not on Linux.
        return os.cpu_count() or 1


# The usual 2 x cores + 1, capped: each worker holds a full Django in memory,
# and a big host does not make one container's database pool bigger.
workers = env_int("GUNICORN_WORKERS", min(2 * _cores() + 1, 8), minimum=1)
# More than one thread switches Gunicorn to its threaded worker.
threads = env_int("GUNICORN_THREADS", 1, minimum=1)
timeout = env_int("GUNICORN_TIMEOUT", 30, minimum=1)
graceful_timeout = env_int("GUNICORN_GRACEFUL_TIMEOUT", 30, minimum=1)
keepalive = env_int("GUNICORN_KEEPALIVE", 5, minimum=1)

# Restart each worker now and then, at staggered times, so that a slow leak in
# any library never takes the service down and workers never restart together.
max_requests = env_int("GUNICORN_MAX_REQUESTS", 1000, minimum=0)
max_requests_jitter = env_int("GUNICORN_MAX_REQUESTS_JITTER", max_requests // 10, minimum=0)

# The proxies whose X-Forwarded-Proto is believed (then Django sees HTTPS
# without SECURE_PROXY_SSL_HEADER). Gunicorn's own variable name.
forwarded_allow_ips = env_str("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# Container file systems are slow for the workers' heartbeat file.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# Gunicorn's runtime control socket would live in $HOME; a container is
# managed from outside, by replacing it.
control_socket_disable = True

accesslog = "-"
errorlog = "-"
loglevel = env_choice(
    "GUNICORN_LOG_LEVEL", ["debug", "info", "warning", "error", "critical"], "info"
)
# The path only: query strings and referrers may carry tokens and passwords
# (and the referrer is another site's URL, often with its query string).
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'


class RedactingLogger(Logger):
    """Also hide the keys that some paths carry (password reset, e-mail confirmation)."""

    def atoms(self, resp, req, environ, request_time):
        from managair.logging import redact  # Needs Django's settings, loaded in the worker.

        atoms = super().atoms(resp, req, environ, request_time)
        atoms["U"] = redact(atoms["U"] or "")
        return atoms


logger_class = RedactingLogger
