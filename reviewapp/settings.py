"""Settings for reviewapp, driven entirely by the environment.

The defaults run the embedded quick start (SQLite file, Celery on kombu's filesystem transport,
no servers). Production hardening switches on with ``DEBUG=false``; ``SECRET_KEY`` is then
required. See the configuration table in README.md.
"""

from datetime import timedelta
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from reviewapp.core.accounts.roles import Role
from reviewapp.core.accounts.sso.mapping import group_map_parse
from reviewapp.core.bus import bus_kind
from reviewapp.core.env import env_bool, env_float, env_int, env_list, env_str
from reviewapp.core.pooling import (
    POOLERS,
    SESSION_ALIAS,
    TRANSACTION,
    session_database,
    transaction_pooled,
)
from reviewapp.core.storage_settings import file_storages
from workflows.act.secrets import webhook_secrets_parse

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("REVIEWAPP_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", default=True)

if DEBUG:
    SECRET_KEY = env_str("SECRET_KEY", "insecure-quick-start-key-do-not-use-in-production")
else:
    SECRET_KEY = env_str("SECRET_KEY")
    if len(SECRET_KEY) < 50 or SECRET_KEY.startswith("insecure"):
        raise ImproperlyConfigured("SECRET_KEY must be at least 50 random characters.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "django_htmx",
    "template_partials",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "reviewapp.core.accounts",
    "reviewapp.core.audit",
    "reviewapp.core.health",
    "reviewapp.core.outbox",
    "workflows",
    "workflows.judges",
    "reviewapp.review.reviews",
    "reviewapp.review.sla",
    "reviewapp.review.corrections",
    "reviewapp.learn.datasets",
    "reviewapp.learn.monitoring",
    "reviewapp.review.quality",
    "reviewapp.review.approvals",
    "reviewapp.review.pairwise",
    "reviewapp.operations",
]

MIDDLEWARE = [
    # The server span of each request when traces are on (reviewapp.core.tracing): around all.
    "reviewapp.core.tracing.RequestSpanMiddleware",
    # /healthz and /readyz: before host checks, HTTPS redirects and sessions (see the module).
    "reviewapp.core.health.middleware.HealthProbeMiddleware",
    # /metrics: answered early for the same reasons; then every other request is counted.
    "reviewapp.operations.metrics.endpoint.MetricsEndpointMiddleware",
    "reviewapp.core.metrics.http.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "reviewapp.core.logs.CorrelationMiddleware",
    # Before any view reads a query parameter or form field: refuses what nothing could store.
    "reviewapp.core.request_checks.UntrustedInputMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "reviewapp.core.accounts.middleware.SessionLifetimeMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "reviewapp.core.accounts.middleware.TwoFactorRequiredMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "reviewapp.core.accounts.time_zones.TimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "reviewapp.core.health.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "reviewapp.urls"
WSGI_APPLICATION = "reviewapp.wsgi.application"

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
                "reviewapp.core.navigation.navigation",
                "reviewapp.review.sla.inbox.unread_notifications",
            ],
            # readable, when, duration: values rendered for people; badge: a state's colour.
            "builtins": ["reviewapp.core.humanize", "reviewapp.core.badges"],
        },
    },
]

# --- database -------------------------------------------------------------------------------
# The quick start uses a SQLite file. WAL + IMMEDIATE transactions + a busy timeout are what let
# the web process and a worker process write side by side without "database is locked", and
# IMMEDIATE is also what serialises claims there (select_for_update is a no-op on SQLite).
_default_sqlite = f"sqlite:///{VAR_DIR / 'reviewapp.sqlite3'}"
DATABASES: dict[str, Any] = {
    "default": dj_database_url.parse(env_str("DATABASE_URL", _default_sqlite))
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

# Behind PgBouncer in transaction mode (DATABASE_POOLER=transaction, see core/pooling.py and
# README "PgBouncer"): no prepared statements, no server-side cursors, and dataset rows read on
# a second connection with a session of its own (DATABASE_SESSION_URL).
DATABASE_POOLER = env_str("DATABASE_POOLER", "none")
if DATABASE_POOLER not in POOLERS:
    raise ImproperlyConfigured(f"DATABASE_POOLER must be one of {', '.join(POOLERS)}.")
_POSTGRESQL = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
_TRANSACTION_POOLED = DATABASE_POOLER == TRANSACTION
if _TRANSACTION_POOLED and not _POSTGRESQL:
    raise ImproperlyConfigured("DATABASE_POOLER=transaction needs a PostgreSQL DATABASE_URL.")
_SESSION_URL = env_str("DATABASE_SESSION_URL", "")
if _TRANSACTION_POOLED and not _SESSION_URL:
    raise ImproperlyConfigured(
        "DATABASE_POOLER=transaction needs DATABASE_SESSION_URL: the same database directly or "
        "through a PgBouncer database in session mode (dataset builds read in one session)."
    )
if _SESSION_URL:
    if not _POSTGRESQL:
        raise ImproperlyConfigured("DATABASE_SESSION_URL is for a PostgreSQL DATABASE_URL.")
    DATABASES[SESSION_ALIAS] = session_database(
        dj_database_url.parse(_SESSION_URL),
        env_int("DATABASE_SESSION_CONN_MAX_AGE", 0, minimum=0),
    )
    if DATABASES[SESSION_ALIAS]["ENGINE"] != DATABASES["default"]["ENGINE"]:
        raise ImproperlyConfigured("DATABASE_SESSION_URL must be a postgres:// URL.")

# The reviewers' hot path runs prepared statements on PostgreSQL (review/reviews/statements.py):
# psycopg prepares what a server-binding cursor runs (Django's own cursors bind on the client
# and never prepare). Off by default behind a pooler in transaction mode, which hands each
# transaction another server connection (PgBouncer before 1.21 cannot follow prepared ones).
REVIEWAPP_PREPARED_STATEMENTS = env_bool(
    "DATABASE_PREPARED_STATEMENTS", default=not _TRANSACTION_POOLED
)
if _POSTGRESQL:
    if _TRANSACTION_POOLED:
        transaction_pooled(DATABASES["default"])
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
        0 if REVIEWAPP_PREPARED_STATEMENTS else None
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
    # Answers only the identity provider's callback, and only with OIDC_ISSUER set.
    "reviewapp.core.accounts.sso.backend.SsoBackend",
]
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user row; anonymous requests get nothing

# Argon2id first (reviewapp/core/accounts/hashers.py says why); the others only verify older
# hashes, which are re-hashed with Argon2id at the next sign-in.
PASSWORD_HASHERS = [
    "reviewapp.core.accounts.hashers.Argon2idPasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# A signed-in session ends after this long without activity, and after this long in any case.
REVIEWAPP_SESSION_IDLE_SECONDS = env_int("REVIEWAPP_SESSION_IDLE_SECONDS", 2 * 3600, minimum=60)
REVIEWAPP_SESSION_MAX_SECONDS = env_int("REVIEWAPP_SESSION_MAX_SECONDS", 12 * 3600, minimum=300)
SESSION_COOKIE_AGE = REVIEWAPP_SESSION_MAX_SECONDS
# Django's database sessions, read with less CPU (see the module).
SESSION_ENGINE = "reviewapp.core.accounts.sessions"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# Sign-in lockout: this many failed passwords for one account (or from one address) within the
# lockout time pause sign-in for it until the time has passed.
REVIEWAPP_SIGNIN_MAX_FAILURES = env_int("REVIEWAPP_SIGNIN_MAX_FAILURES", 5, minimum=1)
REVIEWAPP_SIGNIN_MAX_FAILURES_PER_ADDRESS = env_int(
    "REVIEWAPP_SIGNIN_MAX_FAILURES_PER_ADDRESS", 30, minimum=1
)
REVIEWAPP_SIGNIN_LOCKOUT_SECONDS = env_int("REVIEWAPP_SIGNIN_LOCKOUT_SECONDS", 900, minimum=60)

# The sign-in lockout counts per client address: behind reverse proxies in these networks
# (comma-separated CIDRs) the address is taken from X-Forwarded-For, else REMOTE_ADDR.
REVIEWAPP_TRUSTED_PROXIES = []
for _network in env_list("REVIEWAPP_TRUSTED_PROXIES", []):
    try:
        REVIEWAPP_TRUSTED_PROXIES.append(ip_network(_network, strict=False))
    except ValueError as _exc:
        raise ImproperlyConfigured(f"REVIEWAPP_TRUSTED_PROXIES: {_exc}") from _exc

# --- single sign-on (OpenID Connect) and the second factor -----------------------------------
# Off while OIDC_ISSUER is empty. Endpoints come from the issuer's discovery document at the
# first sign-in; the authorization code flow runs with PKCE and a nonce.
SSO_ISSUER = env_str("OIDC_ISSUER", "")
OIDC_RP_CLIENT_ID = env_str("OIDC_CLIENT_ID", "")
OIDC_RP_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET", "")
OIDC_RP_SCOPES = env_str("OIDC_SCOPES", "openid email profile")
OIDC_RP_SIGN_ALGO = env_str("OIDC_SIGN_ALGORITHM", "RS256")
if SSO_ISSUER and not (OIDC_RP_CLIENT_ID and OIDC_RP_CLIENT_SECRET):
    raise ImproperlyConfigured("OIDC_ISSUER needs OIDC_CLIENT_ID and OIDC_CLIENT_SECRET.")
OIDC_USE_PKCE = True
OIDC_TIMEOUT = 10
OIDC_AUTHENTICATION_CALLBACK_URL = "sso-callback"
# The claim holding the person's groups, what each group grants (JSON, see README "Security"),
# and the claim their user name here is made from at the first sign-in.
SSO_GROUPS_CLAIM = env_str("SSO_GROUPS_CLAIM", "groups")
SSO_GROUP_MAP = group_map_parse(env_str("SSO_GROUP_MAP", ""))
SSO_USERNAME_CLAIM = env_str("SSO_USERNAME_CLAIM", "preferred_username")
SSO_BUTTON_LABEL = env_str("SSO_BUTTON_LABEL", "Sign in with single sign-on")
# Password sign-in only for superusers and the accounts named here (break-glass access).
SSO_ONLY = env_bool("SSO_ONLY", default=False)
if SSO_ONLY and not SSO_ISSUER:
    raise ImproperlyConfigured("SSO_ONLY needs single sign-on: set OIDC_ISSUER.")
SSO_BREAK_GLASS_USERS = frozenset(env_list("SSO_BREAK_GLASS_USERS", []))
# Roles whose people must sign in with a code after their password ("admin" covers superusers).
REVIEWAPP_TWO_FACTOR_ROLES = frozenset(env_list("REVIEWAPP_TWO_FACTOR_ROLES", []))
if REVIEWAPP_TWO_FACTOR_ROLES - set(Role.values):
    raise ImproperlyConfigured(f"REVIEWAPP_TWO_FACTOR_ROLES: roles are {', '.join(Role.values)}.")
# The name authenticator apps show beside the account.
OTP_TOTP_ISSUER = env_str("REVIEWAPP_TWO_FACTOR_ISSUER", "reviewapp")

# Counters of the sign-in lockout and the API throttles. The default cache lives in one process;
# with several web processes set a shared one, e.g. redis://127.0.0.1:6379/2.
_CACHE_URL = env_str("REVIEWAPP_CACHE_URL", "")
if _CACHE_URL and not _CACHE_URL.startswith(("redis://", "rediss://")):
    raise ImproperlyConfigured("REVIEWAPP_CACHE_URL must be a redis:// or rediss:// URL.")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _CACHE_URL}
        if _CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Content-Security-Policy: only this site's own files; no inline script or style anywhere
# (templates load static/js and static/css; htmx is told not to inject its indicator style).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# The OpenAPI schema (and its docs) for signed-in people only, unless opened on purpose.
REVIEWAPP_PUBLIC_API_SCHEMA = env_bool("REVIEWAPP_PUBLIC_API_SCHEMA", default=False)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
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
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))


# Downloads of releases by a short-lived presigned URL of the object store (after the same
# permission check and audit) instead of through the app; needs REVIEWAPP_STORAGE=s3.
REVIEWAPP_PRESIGNED_DOWNLOADS = env_bool("REVIEWAPP_PRESIGNED_DOWNLOADS", default=False)
REVIEWAPP_PRESIGNED_DOWNLOAD_SECONDS = env_int(
    "REVIEWAPP_PRESIGNED_DOWNLOAD_SECONDS", 300, minimum=10
)
STORAGES |= file_storages(
    presigned=REVIEWAPP_PRESIGNED_DOWNLOADS, presigned_seconds=REVIEWAPP_PRESIGNED_DOWNLOAD_SECONDS
)

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "reviewapp.core.accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "reviewapp.core.accounts.authentication.TokenScopePermission",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["reviewapp.core.parsers.StrictJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "reviewapp.core.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_THROTTLE_CLASSES": [
        "reviewapp.core.throttles.IngestThrottle",
        "reviewapp.core.throttles.UserThrottle",
    ],
}
# API rate limits ("number/second|minute|hour|day"): generous defaults that a benchmark on one
# machine does not reach; lower them for a public deployment.
REVIEWAPP_THROTTLE_INGEST = env_str("REVIEWAPP_THROTTLE_INGEST", "60000/minute")
REVIEWAPP_THROTTLE_USER = env_str("REVIEWAPP_THROTTLE_USER", "30000/minute")
REVIEWAPP_THROTTLE_ANON = env_str("REVIEWAPP_THROTTLE_ANON", "600/minute")
for _name in ("REVIEWAPP_THROTTLE_INGEST", "REVIEWAPP_THROTTLE_USER", "REVIEWAPP_THROTTLE_ANON"):
    _count, _, _period = globals()[_name].partition("/")
    if not _count.isdigit() or not _period or _period[0] not in "smhd":
        raise ImproperlyConfigured(f"{_name} must look like 600/minute.")
# Work in flight per team: retraining runs (queued or running) and dataset exports (requested,
# approved or building). Beyond them a request gets 429 until one finishes.
REVIEWAPP_TEAM_MAX_TRAINING_RUNS = env_int("REVIEWAPP_TEAM_MAX_TRAINING_RUNS", 3, minimum=1)
REVIEWAPP_TEAM_MAX_EXPORTS = env_int("REVIEWAPP_TEAM_MAX_EXPORTS", 10, minimum=1)
SPECTACULAR_SETTINGS = {
    "TITLE": "reviewapp API",
    "DESCRIPTION": "Ingest items, review them, export corrections.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # /api/docs/ serves Swagger UI from our own static files, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True, "displayOperationId": False},
    # A release's format is one enum wherever it appears (format, formats, file_format).
    "ENUM_NAME_OVERRIDES": {"ExportFormatEnum": "reviewapp.learn.datasets.models.ExportFormat"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "reviewapp.core.api.error_responses",
    ],
}

# Largest ingest request body; larger ones are refused with 413 before parsing.
REVIEWAPP_MAX_BODY_BYTES = env_int("REVIEWAPP_MAX_BODY_BYTES", 5 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = REVIEWAPP_MAX_BODY_BYTES
REVIEWAPP_MAX_BATCH = env_int("REVIEWAPP_MAX_BATCH", 1000, minimum=1)
REVIEWAPP_LEASE = timedelta(seconds=env_int("REVIEWAPP_LEASE_SECONDS", 600, minimum=10))
# How long a task must have been on screen before Enter submits it: a double Enter must not
# decide the next task unseen. 0 turns the guard off.
REVIEWAPP_REVIEW_MIN_DWELL_MS = env_int("REVIEWAPP_REVIEW_MIN_DWELL_MS", 400, minimum=0)
REVIEWAPP_STEP_MAX_ATTEMPTS = env_int("REVIEWAPP_STEP_MAX_ATTEMPTS", 3, minimum=1)
# Circuit breaker per model endpoint: opens after this many failures in a row, then lets one
# probe call through after the cool-down.
REVIEWAPP_BREAKER_FAILURES = env_int("REVIEWAPP_BREAKER_FAILURES", 5, minimum=1)
REVIEWAPP_BREAKER_COOLDOWN_SECONDS = env_int("REVIEWAPP_BREAKER_COOLDOWN_SECONDS", 30, minimum=1)
# Execution budget per item (a workflow definition's `budget` overrides): step runs, wall time.
REVIEWAPP_ITEM_MAX_STEP_RUNS = env_int("REVIEWAPP_ITEM_MAX_STEP_RUNS", 20, minimum=4)
REVIEWAPP_ITEM_MAX_SECONDS = env_int("REVIEWAPP_ITEM_MAX_SECONDS", 86400, minimum=60)
# Items per pipeline message, run through all steps in one transaction: large batches let the
# built-in model predict many items in one call; endpoints called once per item (chat models)
# hold the batch's transaction for every call, so give those deployments less.
REVIEWAPP_PIPELINE_BATCH = env_int("REVIEWAPP_PIPELINE_BATCH", 250, minimum=1)
# Hash chains per workflow: concurrent writers append to different shards instead of queueing.
# About one per concurrent writer of a workflow (reviewers and pipeline workers): with fewer,
# writers wait for a free shard (see the README's benchmark notes).
# The accuracy of auto-accepted answers and the calibration are estimated over this many days.
REVIEWAPP_ACCURACY_WINDOW_DAYS = env_int("REVIEWAPP_ACCURACY_WINDOW_DAYS", 30, minimum=1)
# Drift: the recent window against the reference days before it, for the current version; a
# check compares only when both windows hold enough items. PSI above the alarm (0.2: the
# populations differ) or a share of never-seen words above its alarm counts as drift.
REVIEWAPP_DRIFT_WINDOW_HOURS = env_int("REVIEWAPP_DRIFT_WINDOW_HOURS", 24, minimum=1)
REVIEWAPP_DRIFT_REFERENCE_DAYS = env_int("REVIEWAPP_DRIFT_REFERENCE_DAYS", 7, minimum=1)
REVIEWAPP_DRIFT_MIN_ITEMS = env_int("REVIEWAPP_DRIFT_MIN_ITEMS", 50, minimum=1)
REVIEWAPP_DRIFT_PSI_ALARM = env_float("REVIEWAPP_DRIFT_PSI_ALARM", 0.2, minimum=0.01)
REVIEWAPP_DRIFT_NEW_WORDS_ALARM = env_float("REVIEWAPP_DRIFT_NEW_WORDS_ALARM", 0.3, minimum=0.01)
REVIEWAPP_AUDIT_SHARDS = env_int("REVIEWAPP_AUDIT_SHARDS", 32, minimum=1)
# Signs the audit heads files (`manage.py audit_heads`). A key of its own, kept away from the
# database's owners, means a heads file cannot be forged by whoever can rewrite the table.
REVIEWAPP_AUDIT_HEADS_KEY = env_str("REVIEWAPP_AUDIT_HEADS_KEY", "") or SECRET_KEY
# With a role named here, every migrate (run as the tables' owner) grants this role what the
# application needs and no more: on the audit table only SELECT and INSERT.
REVIEWAPP_DATABASE_APP_ROLE = env_str("DATABASE_APP_ROLE", "")
REVIEWAPP_EXPORT_LINK_TTL = timedelta(hours=env_int("REVIEWAPP_EXPORT_LINK_HOURS", 72, minimum=1))
# Label Studio server that dataset releases can be pushed to (empty: pushing is off).
LABEL_STUDIO_URL = env_str("LABEL_STUDIO_URL", "")
LABEL_STUDIO_API_KEY = env_str("LABEL_STUDIO_API_KEY", "")
# A dataset build with no progress for this long is taken for dead (worker restart) and resumed.
REVIEWAPP_EXPORT_STALLED_AFTER = timedelta(
    seconds=env_int("REVIEWAPP_EXPORT_STALLED_SECONDS", 600, minimum=60)
)
# A training run with no new stage for this long lost its worker (one stage, the fit, can take
# long on a big release): queued runs are enqueued again, running ones failed with a reason.
REVIEWAPP_TRAINING_STALLED_AFTER = timedelta(
    seconds=env_int("REVIEWAPP_TRAINING_STALLED_SECONDS", 1800, minimum=60)
)
# Key for pseudonymous reviewer ids in exports: stable per deployment, never the user id.
REVIEWAPP_PSEUDONYM_KEY = env_str("REVIEWAPP_PSEUDONYM_KEY", SECRET_KEY)
# Webhooks: private, loopback and link-local destinations are refused unless listed here
# (comma-separated CIDRs, e.g. "10.20.0.0/16" for a receiver inside the cluster).
REVIEWAPP_WEBHOOK_ALLOWED_NETWORKS = env_list("REVIEWAPP_WEBHOOK_ALLOWED_NETWORKS", [])
# Environment variables each team may name as a webhook signing secret:
# "team-slug:NAME[,NAME...];other-team:NAME". Nothing listed: no webhook can be signed.
REVIEWAPP_WEBHOOK_SECRETS = webhook_secrets_parse(env_str("REVIEWAPP_WEBHOOK_SECRETS", ""))
REVIEWAPP_WEBHOOK_TIMEOUT_SECONDS = env_int("REVIEWAPP_WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)
REVIEWAPP_WEBHOOK_MAX_ATTEMPTS = env_int("REVIEWAPP_WEBHOOK_MAX_ATTEMPTS", 8, minimum=1)
# Workflow definitions (policy as code), published by `manage.py sync_workflows`.
REVIEWAPP_WORKFLOWS_DIR = Path(
    env_str("REVIEWAPP_WORKFLOWS_DIR", str(BASE_DIR / "workflows" / "definitions"))
)

# --- Celery ---------------------------------------------------------------------------------
# Default: a filesystem transport, a real broker between processes with no server.
_broker_dir = VAR_DIR / "broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's own filesystem transport can hand a consumer a message file before it is written,
    # losing the message and stopping the worker; ours moves only whole files into the queue.
    # kombu takes a transport class only from this setting, never from the URL's scheme.
    CELERY_BROKER_TRANSPORT = "reviewapp.core.filesystem_broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # Broadcast (control) exchanges; the default is ./control in the current directory.
        "control_folder": str(_broker_dir / "control"),
        # Files in the queue folder that are not messages are moved here, with a log line.
        "rejected_folder": str(_broker_dir / "rejected"),
        "store_processed": False,
        # The transport polls its folder; the default 1 s makes every step wait a second.
        "polling_interval": 0.05,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60)
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A task whose worker dies mid-run comes back instead of vanishing; tasks are idempotent.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Any number of beat processes may run; the one holding the lease sends the sweeps and a standby
# takes over within one lease period after the leader dies.
CELERY_BEAT_SCHEDULER = "reviewapp.core.health.scheduler:LeaderScheduler"
REVIEWAPP_BEAT_LEASE_SECONDS = env_int("REVIEWAPP_BEAT_LEASE_SECONDS", 15, minimum=3)
# The name beat reports under (its heartbeat, the lease holder); unique per beat process.
REVIEWAPP_BEAT_NAME = env_str("REVIEWAPP_BEAT_NAME", "")
CELERY_BEAT_SCHEDULE = {
    # Re-enqueues dataset builds stuck without a heartbeat; safe to overlap (compare-and-swap).
    "resume-stalled-builds": {
        "task": "datasets.resume_stalled_builds",
        "schedule": env_int("REVIEWAPP_EXPORT_SWEEP_SECONDS", 120, minimum=10),
    },
    "resume-stalled-training": {
        "task": "workflows.resume_stalled_training",
        "schedule": env_int("REVIEWAPP_TRAINING_SWEEP_SECONDS", 300, minimum=10),
    },
    "release-expired-claims": {
        "task": "reviews.release_expired_claims",
        "schedule": env_int("REVIEWAPP_LEASE_SWEEP_SECONDS", 30, minimum=1),
    },
    # Marks tasks at risk and breached and climbs the escalation ladders; safe to overlap.
    "sla-sweep": {
        "task": "sla.sweep",
        "schedule": env_int("REVIEWAPP_SLA_SWEEP_SECONDS", 30, minimum=1),
    },
    "deliver-due-webhooks": {
        "task": "workflows.deliver_due_webhooks",
        "schedule": env_int("REVIEWAPP_WEBHOOK_SWEEP_SECONDS", 15, minimum=1),
    },
    # Draws completed items with a shadow answer into pairwise queues; safe to overlap.
    "open-pairwise-comparisons": {
        "task": "pairwise.open_comparisons",
        "schedule": env_int("REVIEWAPP_PAIRWISE_SWEEP_SECONDS", 60, minimum=1),
    },
    "judge-canaries": {
        "task": "workflows.judge_canaries",
        "schedule": env_int("REVIEWAPP_CANARY_SWEEP_SECONDS", 60, minimum=1),
    },
    # Finds pipeline work whose message was lost (see "Recovery" below); safe to overlap.
    "resume-stuck-items": {
        "task": "workflows.resume_stuck_items",
        "schedule": env_int("REVIEWAPP_RECONCILE_SECONDS", 10, minimum=1),
    },
    # Raises a workflow's QA sample rate when its auto-accepted answers fall below the floor.
    "check-drift": {
        "task": "monitoring.check_drift",
        "schedule": env_int("REVIEWAPP_DRIFT_SWEEP_SECONDS", 3600, minimum=10),
    },
    # Recomputes judges' agreement with reviewers whose job message was lost.
    "measure-judges": {
        "task": "judges.measure_stale_agreements",
        "schedule": env_int("REVIEWAPP_JUDGE_SWEEP_SECONDS", 300, minimum=10),
    },
    "check-accuracy-floors": {
        "task": "monitoring.check_accuracy_floors",
        "schedule": env_int("REVIEWAPP_ACCURACY_SWEEP_SECONDS", 600, minimum=10),
    },
    "prune-heartbeats": {"task": "health.prune_heartbeats", "schedule": 3600},
    # The gauges /metrics shows (open tasks by SLA state, backlogs): a scrape never counts rows.
    "recount-metrics": {
        "task": "operations.recount_metrics",
        "schedule": env_int("REVIEWAPP_METRICS_RECOUNT_SECONDS", 30, minimum=5),
    },
    # Publishes outbox events whose on-commit relay message was lost; does nothing without a bus.
    "publish-events": {
        "task": "outbox.relay",
        "schedule": env_int("REVIEWAPP_EVENT_BUS_SWEEP_SECONDS", 10, minimum=1),
    },
}

# Where a settled item is announced to callers waiting on it (an agent's long poll for its
# approval). Empty: waiters poll the database, as with the quick start's filesystem broker.
REVIEWAPP_PUBSUB_URL = env_str(
    "REVIEWAPP_PUBSUB_URL",
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else "",
)
# The longest an agent's long poll waits for a decision, in seconds.
REVIEWAPP_APPROVAL_MAX_WAIT_SECONDS = env_int("REVIEWAPP_APPROVAL_MAX_WAIT_SECONDS", 60, minimum=1)

# --- event bus (out) --------------------------------------------------------------------------
# Where decisions, escalations and releases are published as CloudEvents (amqp://... for a
# RabbitMQ topic exchange, nats://... for NATS JetStream). Unset: no outbox rows at all.
REVIEWAPP_EVENT_BUS_URL = env_str("REVIEWAPP_EVENT_BUS_URL", "")
if REVIEWAPP_EVENT_BUS_URL:
    bus_kind(REVIEWAPP_EVENT_BUS_URL)
# The AMQP exchange, or the NATS subject prefix (events go to <topic>.<action>).
REVIEWAPP_EVENT_BUS_TOPIC = env_str("REVIEWAPP_EVENT_BUS_TOPIC", "reviewapp.events")
# The audit actions that are published (type com.reviewapp.<action>).
REVIEWAPP_EVENT_BUS_ACTIONS = frozenset(
    env_list(
        "REVIEWAPP_EVENT_BUS_ACTIONS",
        [
            "task.decided",
            "task.escalated",
            "task.breached",
            "item.completed",
            "export.approved",
            "export.ready",
        ],
    )
)
# The CloudEvents ``source`` prefix: events say <source>/workflows/<slug> (or <source>/system).
REVIEWAPP_EVENT_SOURCE = env_str("REVIEWAPP_EVENT_SOURCE", "/reviewapp")

# --- health and recovery ----------------------------------------------------------------------
# Workers and beat write a heartbeat this often; one silent for the stale limit is taken for dead
# (its work is no longer held, /readyz says so, the stall banner shows).
REVIEWAPP_HEARTBEAT_SECONDS = env_int("REVIEWAPP_HEARTBEAT_SECONDS", 5, minimum=1)
REVIEWAPP_HEARTBEAT_STALE_SECONDS = env_int("REVIEWAPP_HEARTBEAT_STALE_SECONDS", 20, minimum=2)
if REVIEWAPP_HEARTBEAT_STALE_SECONDS <= REVIEWAPP_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured(
        "REVIEWAPP_HEARTBEAT_STALE_SECONDS must be longer than REVIEWAPP_HEARTBEAT_SECONDS."
    )
# The reconciler sends pipeline work again when the evidence says its message is lost: the item
# has not moved for the grace period, no live worker holds it, no transaction has its row locked,
# and the broker's queue is empty (a backlog is still being worked through). Past the ceiling an
# item is sent again even behind a backlog, once per ceiling, in case its message alone was lost.
REVIEWAPP_RECONCILE_GRACE_SECONDS = env_int("REVIEWAPP_RECONCILE_GRACE_SECONDS", 15, minimum=1)
REVIEWAPP_RECONCILE_CEILING_SECONDS = env_int(
    "REVIEWAPP_RECONCILE_CEILING_SECONDS", 300, minimum=10
)
# Managers and operators see a banner while an item has waited longer than this in the pipeline,
# or while no worker or beat reports.
REVIEWAPP_STALL_AFTER_SECONDS = env_int("REVIEWAPP_STALL_AFTER_SECONDS", 300, minimum=10)
# /readyz fails while no worker (or beat) heartbeat is fresh; a web tier that should take
# traffic whatever the workers do sets these to false.
REVIEWAPP_READY_NEEDS_WORKER = env_bool("REVIEWAPP_READY_NEEDS_WORKER", default=True)
REVIEWAPP_READY_NEEDS_BEAT = env_bool("REVIEWAPP_READY_NEEDS_BEAT", default=True)

# --- metrics (Prometheus) -------------------------------------------------------------------
# /metrics answers a scraper that sends `Authorization: Bearer <METRICS_TOKEN>` or comes from one
# of METRICS_ALLOWED_NETWORKS (comma-separated CIDRs, e.g. "10.0.0.0/8"); with neither set it is
# off (404). Anyone else gets 401 (no token sent) or 403.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
if METRICS_TOKEN and len(METRICS_TOKEN) < 16:
    raise ImproperlyConfigured("METRICS_TOKEN must be at least 16 characters.")
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS", [])
for _network in METRICS_ALLOWED_NETWORKS:
    try:
        ip_network(_network, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {_exc}") from _exc
# Counts recorded as work happens go to this Redis (by default the broker's, when it is Redis;
# without Redis, the database). Every web process, worker and beat must share it.
REVIEWAPP_METRICS_REDIS_URL = env_str(
    "REVIEWAPP_METRICS_REDIS_URL",
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else "",
)
REVIEWAPP_METRICS_KEY_PREFIX = env_str("REVIEWAPP_METRICS_KEY_PREFIX", "reviewapp:metrics:")
# False: nothing is recorded as work happens (no Prometheus scrapes this deployment; the
# overhead benchmark's "off"). /metrics then shows only the recounted gauges.
REVIEWAPP_METRICS_ENABLED = env_bool("REVIEWAPP_METRICS_ENABLED", default=True)

# --- mail, logging ----------------------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "reviewapp@localhost")

_LOG_FORMAT = env_str("LOG_FORMAT", "plain")
if _LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT={_LOG_FORMAT!r} must be plain or json.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"correlation": {"()": "reviewapp.core.logs.CorrelationFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s"},
        "json": {"()": "reviewapp.core.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": _LOG_FORMAT,
            "filters": ["correlation"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# --- production hardening -------------------------------------------------------------------
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"
