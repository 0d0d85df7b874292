"""Django settings for Managair.

Everything that differs between deployments comes from environment variables
(see the README's configuration table); secrets may also come from
``<NAME>_FILE``. The defaults are those of a developer trying it out: SQLite,
console e-mail, no Sentry.
"""

import re
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from managair.env import (
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_secret,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)

# A development key is only acceptable where DEBUG makes the server unfit for
# production anyway; without DEBUG, starting without a key is refused.
_DEVELOPMENT_SECRET_KEY = "django-insecure-managair-development-key-do-not-use-in-production"
SECRET_KEY = env_secret("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY (or SECRET_KEY_FILE) must be set when DEBUG is off. "
            "Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    SECRET_KEY = _DEVELOPMENT_SECRET_KEY

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# Serve only the ingest endpoint and the health checks from this process, as
# the Clair stack's "ingestair" container does (issue 3/8 fills it in).
INGEST_ONLY = env_bool("INGEST_ONLY", False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "rest_framework_json_api",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    # dj-rest-auth's registration views import SocialAccount unconditionally.
    "allauth.socialaccount",
    "dj_rest_auth",
    "dj_rest_auth.registration",
    "django_q",
    "corsheaders",
    "axes",
    "user_manager",
    "core",
    "ingest",
    "integrations",
    "integrations.stadtpuls",
    "integrations.webhook",
    "audit",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything that may answer by itself, so that those answers carry CORS headers too.
    "corsheaders.middleware.CorsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Marks the request for the read-replica router (reads of safe requests may go to a replica).
    "managair.replicas.ReplicaMiddleware",
    "audit.middleware.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Last: it turns a log-in refused for too many failures into a 429.
    "axes.middleware.AxesMiddleware",
]
if INGEST_ONLY:
    # Gateways need no static files, languages, CSRF or framing rules, and
    # every middleware costs time on each of their many small requests. (The
    # session, user and message ones stay: the admin's and allauth's system
    # checks require them, and they do nothing until a view asks.)
    _NOT_FOR_GATEWAYS = {
        "corsheaders.middleware.CorsMiddleware",
        "audit.middleware.AuditActorMiddleware",
        "whitenoise.middleware.WhiteNoiseMiddleware",
        "django.middleware.locale.LocaleMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    }
    MIDDLEWARE = [m for m in MIDDLEWARE if m not in _NOT_FOR_GATEWAYS]

# Messages wait for the next page in the session, not in a cookie: the admin
# shows a new ingest key once in a message, and it must not travel in a
# (signed, not encrypted) cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

ROOT_URLCONF = "managair.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "managair.wsgi.application"

# --- Database -----------------------------------------------------------------
# SQLite is the embedded default for trying Managair out; PostgreSQL is the
# production database (exclusion constraints, triggers, date_bin and
# percentile_cont are only there).
SQL_ENGINE = env_choice(
    "SQL_ENGINE",
    ["django.db.backends.sqlite3", "django.db.backends.postgresql"],
    "django.db.backends.sqlite3",
)
if SQL_ENGINE == "django.db.backends.sqlite3":
    DATABASES = {
        "default": {
            "ENGINE": SQL_ENGINE,
            "NAME": env_str("SQL_DATABASE", str(BASE_DIR / "db.sqlite3")),
            # Several processes (server, task cluster) share the file.
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": SQL_ENGINE,
            "NAME": env_str("SQL_DATABASE", "managair"),
            "USER": env_str("SQL_USER", "managair"),
            "PASSWORD": env_secret("SQL_PASSWORD"),
            "HOST": env_str("SQL_HOST", "localhost"),
            "PORT": str(env_int("SQL_PORT", 5432, minimum=1)),
            "CONN_MAX_AGE": env_int("SQL_CONN_MAX_AGE", 60, minimum=0),
            "CONN_HEALTH_CHECKS": True,
            # JIT compilation pays off for long analytical queries only; for
            # ours it adds hundreds of milliseconds to a list.
            "OPTIONS": {
                "options": "-c jit=off",
                # Lets the ingest statement be prepared once per connection
                # (Django's own queries are never prepared). Switch off behind
                # PgBouncer older than 1.21 in transaction pooling mode.
                "prepare_threshold": 5 if env_bool("SQL_PREPARED_STATEMENTS", True) else None,
            },
        }
    }

# Streaming replicas of the primary serve the reads of safe requests that have
# written nothing (managair/replicas.py); unset, everything uses the primary.
from managair.replicas import replica_databases  # noqa: E402

SQL_REPLICA_HOSTS = env_str("SQL_REPLICA_HOSTS")
DATABASES.update(replica_databases(DATABASES["default"], SQL_REPLICA_HOSTS))
if len(DATABASES) > 1:
    DATABASE_ROUTERS = ["managair.replicas.ReplicaRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "user_manager.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    # First: refuses every log-in (admin, allauth pages, API) while locked out.
    "user_manager.login_throttle.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
    # Without it, log-in by e-mail address through dj-rest-auth fails.
    "allauth.account.auth_backends.AuthenticationBackend",
]

SITE_ID = 1

# --- Internationalisation ---------------------------------------------------------
LANGUAGE_CODE = env_str("LANGUAGE_CODE", "en")
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "Europe/Berlin")
USE_I18N = True
USE_TZ = True

# --- Static and uploaded files --------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# In development, whitenoise serves straight from the apps' static folders.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# --- Security -----------------------------------------------------------------
# Production defaults are strict; a deployment behind a TLS-terminating proxy
# sets SECURE_PROXY_SSL_HEADER, one on a plain-HTTP gateway network may switch
# the redirect off.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz/?$", r"^readyz/?$"]
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
_proxy_header = env_list("SECURE_PROXY_SSL_HEADER")
if _proxy_header:
    if len(_proxy_header) != 2:
        raise ImproperlyConfigured(
            "SECURE_PROXY_SSL_HEADER must be a header and a value, "
            "e.g. 'HTTP_X_FORWARDED_PROTO,https'."
        )
    SECURE_PROXY_SSL_HEADER = tuple(_proxy_header)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

# The browser app on other origins may call the API (never the admin or the
# ingest path). Credentials (the session cookie) only when asked for: token
# clients don't need them.
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS")
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_CREDENTIALS = env_bool("CORS_ALLOW_CREDENTIALS", False)
CORS_EXPOSE_HEADERS = ["Retry-After", "Content-Disposition"]

# Log-in throttling. Failed log-ins through any door (admin, allauth pages,
# API) count per user name and client address; past the limit that pair is
# refused with 429 for the cool-off time (django-axes, attempts kept in the
# database so that every worker sees them).
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "user_manager.login_throttle.attempted_username"
AXES_LOCKOUT_CALLABLE = "user_manager.login_throttle.locked_out"
# The client address is REMOTE_ADDR: behind a proxy, the pair is the user name and
# the proxy, so the limit then works per user name.
AXES_SENSITIVE_PARAMETERS = ["password", "password1", "password2", "new_password1", "new_password2", "old_password"]
AXES_VERBOSE = False
# The API's auth endpoints (log-in, log-out, password reset and change) share a
# per-address request rate; password-reset mails to one address are limited
# separately (user_manager/login_throttle.py).
AUTH_THROTTLE_RATE = env_str("AUTH_THROTTLE_RATE", "60/min")
PASSWORD_RESET_THROTTLE_RATE = env_str("PASSWORD_RESET_THROTTLE_RATE", "5/hour")
for _name, _rate in [
    ("AUTH_THROTTLE_RATE", AUTH_THROTTLE_RATE),
    ("PASSWORD_RESET_THROTTLE_RATE", PASSWORD_RESET_THROTTLE_RATE),
]:
    # DRF would only fail on the first request; a typo should stop the start.
    if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", _rate):
        raise ImproperlyConfigured(f"{_name} must look like 60/min or 5/hour, not {_rate!r}.")

# --- REST framework and JSON:API -------------------------------------------------
REST_FRAMEWORK = {
    "EXCEPTION_HANDLER": "rest_framework_json_api.exceptions.exception_handler",
    # No ?format=: JSON:API reserves all-lowercase parameter names, and CSV is
    # asked for with Accept: text/csv or output_format=csv.
    "URL_FORMAT_OVERRIDE": None,
    # ASCII-escaped JSON is the same JSON and encodes a month of samples ~30 % faster.
    "UNICODE_JSON": False,
    "DEFAULT_PAGINATION_CLASS": "rest_framework_json_api.pagination.JsonApiPageNumberPagination",
    "PAGE_SIZE": 1000,
    "DEFAULT_PARSER_CLASSES": (
        "rest_framework_json_api.parsers.JSONParser",
        # dj-rest-auth's endpoints are plain JSON for many clients.
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ),
    "DEFAULT_RENDERER_CLASSES": (
        "rest_framework_json_api.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
        "rest_framework.renderers.JSONRenderer",
    ),
    "DEFAULT_METADATA_CLASS": "rest_framework_json_api.metadata.JSONAPIMetadata",
    "DEFAULT_FILTER_BACKENDS": (
        "core.api.params.QueryParameterValidation",
        "core.api.params.AliasedOrdering",
        "rest_framework_json_api.django_filters.DjangoFilterBackend",
        "core.api.params.Search",
    ),
    "SEARCH_PARAM": "filter[search]",
    "DEFAULT_AUTHENTICATION_CLASSES": (
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ),
    "DEFAULT_PERMISSION_CLASSES": ("rest_framework.permissions.IsAuthenticated",),
    # Only views with a throttle_scope are throttled (dj-rest-auth's).
    "DEFAULT_THROTTLE_CLASSES": ("rest_framework.throttling.ScopedRateThrottle",),
    "DEFAULT_THROTTLE_RATES": {
        "dj_rest_auth": AUTH_THROTTLE_RATE,
        "password_reset_email": PASSWORD_RESET_THROTTLE_RATE,
    },
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "vnd.api+json",
    "TEST_REQUEST_RENDERER_CLASSES": (
        "rest_framework_json_api.renderers.JSONRenderer",
        "rest_framework.renderers.MultiPartRenderer",
        "rest_framework.renderers.JSONRenderer",
    ),
}
JSON_API_PLURALIZE_TYPES = False

SPECTACULAR_SETTINGS = {
    "TITLE": "Managair API",
    "DESCRIPTION": "Management server for networks of indoor air-quality sensors.",
    "VERSION": "1.0.0",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and ReDoc from our own static files, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Accounts (allauth + dj-rest-auth) ------------------------------------------
ACCOUNT_LOGIN_METHODS = {"username", "email"}
# After logging in on the account pages without ?next=: the account's own page
# (Django's default, /accounts/profile/, does not exist).
LOGIN_REDIRECT_URL = "account_email"
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env_choice(
    "ACCOUNT_EMAIL_VERIFICATION", ["mandatory", "optional", "none"], "mandatory"
)
ACCOUNT_UNIQUE_EMAIL = True
REST_AUTH = {"SESSION_LOGIN": True}

# --- E-mail ---------------------------------------------------------------------
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("Set at most one of EMAIL_USE_TLS and EMAIL_USE_SSL.")
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Managair <managair@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Background tasks (django-q2) -----------------------------------------------
Q_CLUSTER = {
    "name": "managair",
    "orm": "default",
    "workers": env_int("Q_WORKERS", 2, minimum=1),
    "timeout": 60,
    # Must exceed the timeout, or a slow task runs twice.
    "retry": 120,
    "max_attempts": 3,
    "catch_up": False,
    "save_limit": 500,
    "label": "Tasks",
}
# With Redis, task clusters on several hosts share one queue; without, the
# queue lives in the primary database (django-q2's ORM broker).
Q_BROKER_URL = env_secret("Q_BROKER_URL")
if Q_BROKER_URL and not Q_BROKER_URL.startswith(("redis://", "rediss://", "unix://")):
    # Else the web server would start and fail at the first task it queues.
    raise ImproperlyConfigured(
        "Q_BROKER_URL must be a Redis URL: redis://host:port/db, rediss://… (TLS) or unix://…"
    )
if Q_BROKER_URL:
    del Q_CLUSTER["orm"]
    Q_CLUSTER["redis"] = Q_BROKER_URL

# --- Managair features ------------------------------------------------------------
# Raw time-series answers above this many points are refused (aggregate instead);
# como-ui's month view asks for 43,200.
TIMESERIES_MAX_POINTS = env_int("TIMESERIES_MAX_POINTS", 100_000, minimum=1)
INSTALLATION_IMAGE_MAX_BYTES = env_int("INSTALLATION_IMAGE_MAX_BYTES", 5_000_000, minimum=1)
# /readyz fails when the task cluster has not run its one-minute heartbeat for
# this long (0: the cluster is not checked, e.g. where none runs).
READYZ_CLUSTER_MAX_AGE_S = env_int("READYZ_CLUSTER_MAX_AGE_S", 300, minimum=0)
NODE_FIDELITY = env_bool("NODE_FIDELITY", False)
# A node is alive while its last sample arrived within this period, missing
# within twice it, dead beyond (organizations may set their own).
FIDELITY_ALIVE_PERIOD_S = env_int("FIDELITY_ALIVE_PERIOD_S", 2 * 3600, minimum=60)
FIDELITY_CHECK_MINUTES = env_int("FIDELITY_CHECK_MINUTES", 5, minimum=1)
# While a node stays down, its owners are reminded at most this often (0: never).
FIDELITY_REMINDER_PERIOD_S = env_int("FIDELITY_REMINDER_PERIOD_S", 24 * 3600, minimum=0)
# Forward public samples to other platforms (Stadtpuls, webhooks; README "Forwarding").
IOTDP_INTEGRATION = env_bool("IOTDP_INTEGRATION", False)
# Each request to a platform, connecting and answering.
FORWARDING_TIMEOUT_S = env_int("FORWARDING_TIMEOUT_S", 10, minimum=1)
# After a transient failure a stream waits this long, doubling per failure up to the maximum.
FORWARDING_RETRY_S = env_int("FORWARDING_RETRY_S", 30, minimum=0)
FORWARDING_MAX_BACKOFF_S = env_int("FORWARDING_MAX_BACKOFF_S", 3600, minimum=0)
# Webhooks may point at loopback, private and link-local addresses only if
# this is on: otherwise an owner could make the server call internal services.
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env_bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", False)

# --- Ingest (see README, "Ingest") ------------------------------------------------
# "token": gateways send an ingest key (Authorization: Bearer …). "none": anyone
# who reaches the ingest path may write any node; only for an ingest server
# reachable from the gateway network alone.
INGEST_AUTH = env_choice("INGEST_AUTH", ["token", "none"], "token")
INGEST_MAX_BATCH_SIZE = env_int("INGEST_MAX_BATCH_SIZE", 10_000, minimum=1)
# A 10,000-sample batch is about 2.5 MB as clair-ttn formats it.
INGEST_MAX_BODY_BYTES = env_int("INGEST_MAX_BODY_BYTES", 8 * 1024 * 1024, minimum=1024)
# How far a sample's timestamp may lie ahead of the server's clock.
INGEST_MAX_FUTURE_S = env_int("INGEST_MAX_FUTURE_S", 300, minimum=0)
# Requests per minute per ingest key and worker process; 0 switches the limit off.
INGEST_RATE_LIMIT = env_int("INGEST_RATE_LIMIT", 6000, minimum=0)

# Stadtpuls forwarding (see ../shared/INTEGRATIONS.md; used by integrations/stadtpuls).
STADTPULS = {
    "SUPABASE_URL": env_str("SP_SUPABASE_URL"),
    "LOGIN_ENDPOINT": env_str("SP_LOGIN_ENDPOINT"),
    "SENSOR_ENDPOINT": env_str("SP_SENSOR_ENDPOINT"),
    "RECORDS_ENDPOINT": env_str("SP_RECORDS_ENDPOINT"),
    "LOGIN_EMAIL": env_str("SP_LOGIN_EMAIL"),
    "API_KEY": env_secret("SP_API_KEY"),
    "LOGIN_PWD": env_secret("SP_LOGIN_PWD"),
    "AUTH_TOKEN": env_secret("SP_AUTH_TOKEN"),
}

# --- Logging --------------------------------------------------------------------
_LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LOG_LEVEL = env_choice("LOG_LEVEL", _LOG_LEVELS, "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "managair.logging.RedactSecrets"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "plain",
            "filters": ["redact_secrets"],
        },
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django": {
            "handlers": ["stdout"],
            "level": env_choice("DJANGO_LOG_LEVEL", _LOG_LEVELS, "INFO"),
            "propagate": False,
        },
        "django.db.backends": {
            "handlers": ["stdout"],
            "level": env_choice("DJANGO_DB_LOG_LEVEL", _LOG_LEVELS, "WARNING"),
            "propagate": False,
        },
        "django-q": {"handlers": ["stdout"], "level": LOG_LEVEL, "propagate": False},
        # At INFO it logs every log-in with user name and address.
        "axes": {"handlers": ["stdout"], "level": "WARNING", "propagate": False},
    },
}

# --- Error reporting --------------------------------------------------------------
SENTRY = env_bool("SENTRY", False)
if SENTRY:
    _sentry_url = env_secret("SENTRY_URL")
    if not _sentry_url:
        raise ImproperlyConfigured("SENTRY=1 needs SENTRY_URL (or SENTRY_URL_FILE).")
    from managair import sentry

    sentry.init(_sentry_url, environment=env_str("SENTRY_ENVIRONMENT", "production"))
