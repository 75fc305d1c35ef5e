"""Dusk settings: one module, driven by environment variables, read top to bottom.

Defaults need no server: SQLite (WAL) and Celery's filesystem broker. Production
points DATABASE_URL at PostgreSQL and CELERY_BROKER_URL at Redis or RabbitMQ.
See docs/configuration.md for every variable.

Order: Django's own settings, then the DUSK_* knobs grouped by feature, then Celery
(whose beat schedule uses those knobs).
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
VAR_DIR = Path(env.str("DUSK_VAR_DIR", default=str(BASE_DIR / "var")))
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")
VAR_DIR.mkdir(parents=True, exist_ok=True)

# =============================================================================
# Django
# =============================================================================

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# Secure cookies, HSTS and the HTTPS redirect (below); also refuses the development key.
DUSK_PRODUCTION = env.bool("DUSK_PRODUCTION", default=False)
# The fallback key only exists so a fresh checkout runs; production must set
# DJANGO_SECRET_KEY (check --deploy fails on this one).
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="django-insecure-dusk-development-only-key-change-me")
if DUSK_PRODUCTION and SECRET_KEY.startswith("django-insecure-dusk-development"):
    raise ImproperlyConfigured("DUSK_PRODUCTION=1 needs DJANGO_SECRET_KEY (a long random string).")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # The admin site is opened by the role matrix (admin role), not by is_staff.
    "channels_app.apps.DuskAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "channels_app",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
]

MIDDLEWARE = [
    # First: every later line of the request carries its id (X-Request-ID in and out).
    "channels_app.web.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files straight from the web process, before sessions and the rest (docs/operations.md).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Outside CSRF and sign-in, so it sees their refusals too.
    "channels_app.web.middleware.SecurityEventMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Before anything reads a form: NUL, control and bidi characters, invalid UTF-8 refused.
    "channels_app.web.middleware.TextInputMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "channels_app.web.middleware.ContentSecurityPolicyMiddleware",
    "channels_app.accounts.middleware.UserTimeZoneMiddleware",
    "channels_app.accounts.middleware.SlidingSessionMiddleware",
    # Last: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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
                "django.template.context_processors.i18n",
                "channels_app.web.context_processors.portal",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------


def _database(config: dict) -> dict:
    """DATABASE_URL's connection, with the options each engine needs here."""
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # WAL lets the web server read while a worker writes; IMMEDIATE takes the
        # write lock at BEGIN so two writers queue instead of failing mid-transaction.
        config["OPTIONS"] = {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    elif config["ENGINE"] in ("django.db.backends.postgresql", "django.db.backends.postgresql_psycopg2"):
        config["ENGINE"] = "django.db.backends.postgresql"
        if env.bool("DATABASE_POOL", default=True):
            # psycopg 3's pool; Django requires CONN_MAX_AGE = 0 with it.
            config["OPTIONS"] = {
                "pool": {
                    "min_size": env.int("DATABASE_POOL_MIN", default=1),
                    "max_size": env.int("DATABASE_POOL_MAX", default=10),
                    "timeout": 10,
                }
            }
            config["CONN_MAX_AGE"] = 0
        else:
            config["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
            config["CONN_HEALTH_CHECKS"] = True
        # Server-side prepared statements, for the few hot statements that bind their parameters
        # server side (storing an inbound message); Django's own queries bind client side and are
        # never prepared. Set 0 behind a pooler that cannot keep them (PgBouncer < 1.21).
        if env.bool("DATABASE_PREPARED_STATEMENTS", default=True):
            config.setdefault("OPTIONS", {})["prepare_threshold"] = 0
    return config


DATABASES = {
    "default": _database(env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'dusk.sqlite3'}")),
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Caches hold the API rate-limit counters; use Redis when several processes serve (with
# DUSK_NODES > 1 a per-process cache is refused at start: docs/scaling.md).
CACHES = {"default": env.cache("DUSK_CACHE_URL", default="locmemcache://dusk")}

# --- Auth -----------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = (
    # Tests only: argon2 is deliberately slow.
    ["django.contrib.auth.hashers.MD5PasswordHasher"]
    if env.bool("DUSK_FAST_PASSWORD_HASHER", default=False)
    else [
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.ScryptPasswordHasher",
    ]
)
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "channels_app.accounts.auth_backends.RoleModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- I18n / time ------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français"), ("id", "Bahasa Indonesia")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static ---------------------------------------------------------------
# Served by WhiteNoise in every web process. In production (DUSK_PRODUCTION=1) the deploy runs
# `manage.py collectstatic` into STATIC_ROOT: compressed copies and content-hashed names from the
# manifest, sent with a one-year immutable Cache-Control. Elsewhere files are served from static/
# as they are, so `make run` and the tests need no collectstatic.
STATIC_URL = "static/"
# Dusk keeps no uploaded files. Named all the same: left empty, a server that serves media (the
# tests' live server) takes every address for a file, and an address longer than a file name may be
# (a 5000-character phase kind) became a server error instead of the portal's 404.
MEDIA_URL = "media/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("DUSK_STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if DUSK_PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not DUSK_PRODUCTION
if not DUSK_PRODUCTION:
    # WhiteNoise warns about a missing STATIC_ROOT; only production needs one filled.
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# --- Security ---------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if DUSK_PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# --- REST framework and the OpenAPI document (docs/configuration.md, "API and security") ---
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON only: the browsable API's pages need inline scripts and styles, which the API's
    # Content-Security-Policy (default-src 'none') rightly blocks; /api/docs/ documents it.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "channels_app.api.schema.DuskAutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Dusk API",
    "DESCRIPTION": (
        "Retire customer-support channels: channels, teams, agents, sunset plans and their lifecycle, "
        "auto-replies, reassignments, cutover runs and the audit trail. Authenticate with a browser "
        "session or `Authorization: Bearer dusk_<prefix>_<secret>` (tokens are created at /settings/tokens/)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["channels_app.api.schema.only_versioned_api"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "channels_app.api.schema.strict_request_bodies",
    ],
    "ENUM_NAME_OVERRIDES": {
        "ChannelKindEnum": "channels_app.models.ChannelKind",
        "ChannelStateEnum": "channels_app.models.ChannelState",
        "PhaseKindEnum": "channels_app.models.PhaseKind",
        "PhaseStateEnum": "channels_app.models.PhaseState",
        "PlanStateEnum": "channels_app.models.PlanState",
        "RedirectKindEnum": "channels_app.models.RedirectKind",
        "ReassignmentStateEnum": "channels_app.models.ReassignmentState",
        "RunStateEnum": "channels_app.models.RunState",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Email ----------------------------------------------------------------
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.filebased.EmailBackend",
)
EMAIL_FILE_PATH = VAR_DIR / "mail"
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Dusk <dusk@localhost>")

# --- Logging --------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        # DUSK_LOG_JSON (below): one JSON object a line; the ids ContextFilter adds become fields.
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(process)d",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    # Every handler gets both filters. Request, task, run, plan and channel ids on every record (channels_app/core/logcontext.py).
    "filters": {
        "ids": {"()": "channels_app.core.logcontext.ContextFilter"},
        # No credential, no forged line (channels_app/core/logs.py).
        "redact": {"()": "channels_app.core.logs.RedactSecrets"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["ids", "redact"]}},
    "root": {"handlers": ["console"], "level": env.str("DUSK_LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # One line per task every second is noise; failures still log.
        "celery.app.trace": {"level": "WARNING"},
        "celery.worker.strategy": {"level": "WARNING"},
        "celery.beat": {"level": "WARNING"},
        # A line per sign-in and a banner per command; lockouts still log.
        "axes": {"level": "WARNING"},
    },
}

# =============================================================================
# Dusk, by feature (docs/configuration.md)
# =============================================================================

# --- Accounts and sign-in -----------------------------------------------------
# Brute-force lockout (django-axes): 20 failed sign-ins for one user name from one
# address lock that pair for the cool-off period, correct password or not.
AXES_FAILURE_LIMIT = env.int("DUSK_LOGIN_FAILURE_LIMIT", default=20)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("DUSK_LOGIN_COOLOFF_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
# Behind reverse proxies the client's address is in X-Forwarded-For, appended by
# each proxy; DUSK_PROXY_COUNT says how many to trust, so a client cannot choose
# its own address by sending the header itself (channels_app/core/client_ip.py).
DUSK_PROXY_COUNT = env.int("DUSK_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "channels_app.core.client_ip.client_ip"

# --- Accounts: single sign-on (OpenID Connect) and sessions (docs/sso-and-audit.md) ---
# A session lasts DUSK_SESSION_HOURS after the last request (sliding): a signed-in person's
# requests renew it, at most once every DUSK_SESSION_RENEW_SECONDS (accounts/middleware.py).
DUSK_SESSION_HOURS = env.float("DUSK_SESSION_HOURS", default=8.0)
DUSK_SESSION_RENEW_SECONDS = env.int("DUSK_SESSION_RENEW_SECONDS", default=300)
SESSION_COOKIE_AGE = int(DUSK_SESSION_HOURS * 3600)
# Password sign-in (the sign-in form and the admin's); off leaves SSO and API tokens.
DUSK_LOCAL_LOGIN = env.bool("DUSK_LOCAL_LOGIN", default=True)
# SSO is on when DUSK_OIDC_CLIENT_ID is set; the provider's endpoints are given one by one (its
# /.well-known/openid-configuration lists them). mozilla-django-oidc reads the OIDC_* names.
DUSK_OIDC_CLIENT_ID = env.str("DUSK_OIDC_CLIENT_ID", default="")
DUSK_OIDC_ISSUER = env.str("DUSK_OIDC_ISSUER", default="")
DUSK_OIDC_END_SESSION_ENDPOINT = env.str("DUSK_OIDC_END_SESSION_ENDPOINT", default="")
# role=group pairs: a person holds exactly the roles whose group is in the groups claim, set
# again at each sign-in; a person with none of them is deactivated.
DUSK_OIDC_ROLE_GROUPS = env.list("DUSK_OIDC_ROLE_GROUPS", default=[])
DUSK_OIDC_GROUPS_CLAIM = env.str("DUSK_OIDC_GROUPS_CLAIM", default="groups")
OIDC_RP_CLIENT_ID = DUSK_OIDC_CLIENT_ID
OIDC_RP_CLIENT_SECRET = env.str("DUSK_OIDC_CLIENT_SECRET", default="")
OIDC_OP_AUTHORIZATION_ENDPOINT = env.str("DUSK_OIDC_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT = env.str("DUSK_OIDC_TOKEN_ENDPOINT", default="")
OIDC_OP_USER_ENDPOINT = env.str("DUSK_OIDC_USERINFO_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT = env.str("DUSK_OIDC_JWKS_ENDPOINT", default="")
OIDC_RP_SIGN_ALGO = env.str("DUSK_OIDC_SIGN_ALGO", default="RS256")
OIDC_RP_SCOPES = env.str("DUSK_OIDC_SCOPES", default="openid email profile")
OIDC_USE_PKCE = True
OIDC_STORE_ID_TOKEN = True  # for id_token_hint when signing out at the provider
OIDC_TIMEOUT = env.float("DUSK_OIDC_TIMEOUT", default=10.0)
LOGIN_REDIRECT_URL_FAILURE = "/accounts/login/?sso=refused"
if DUSK_OIDC_CLIENT_ID:
    AUTHENTICATION_BACKENDS = [*AUTHENTICATION_BACKENDS, "channels_app.accounts.auth_backends.OidcBackend"]

# --- Audit and security events (docs/sso-and-audit.md) ----------------------------
# HMAC keys of the audit chain, "kid1:secret1,kid2:secret2": the first signs new events, the
# others still verify the events they signed (rotation). Production must set it (dusk.E201).
DUSK_AUDIT_KEYS = env.list("DUSK_AUDIT_KEYS", default=[])
# Refusals (403 on a write, failed sign-in, lockout, refused webhook, rejected API token) are
# security events in the audit trail: at most this many per kind and source address per window,
# and this many per kind over all sources; the rest are counted into the next recorded one.
DUSK_SECURITY_EVENT_WINDOW = env.int("DUSK_SECURITY_EVENT_WINDOW", default=300)
DUSK_SECURITY_EVENTS_PER_SOURCE = env.int("DUSK_SECURITY_EVENTS_PER_SOURCE", default=5)
DUSK_SECURITY_EVENTS_PER_KIND = env.int("DUSK_SECURITY_EVENTS_PER_KIND", default=100)

# --- Plans --------------------------------------------------------------------
# A completed phase may be rolled back for this long after its run finished.
DUSK_ROLLBACK_WINDOW_HOURS = env.float("DUSK_ROLLBACK_WINDOW_HOURS", default=72.0)

# --- Plans: preflight and the demo sandbox (docs/preflight-and-sandbox.md) -----
# Seconds each read-only connection test (whoami) may take before it counts as failed.
DUSK_PREFLIGHT_TIMEOUT = env.float("DUSK_PREFLIGHT_TIMEOUT", default=10.0)
# Seconds a channel's connection test result is reused by the pages that show a preflight (keyed
# by the channel and a fingerprint of its credentials); submission, approval and the freeze step
# always test live. 0: every page view calls the platform.
DUSK_CONNECTION_CHECK_CACHE_SECONDS = env.float("DUSK_CONNECTION_CHECK_CACHE_SECONDS", default=60.0)
# `manage.py serve_sandbox`: the platform fakes on 127.0.0.1, one port each from this one
# (X, YouTube, Discourse, Messenger, then the page listing what they received).
DUSK_SANDBOX_PORT = env.int("DUSK_SANDBOX_PORT", default=8100)

# --- Workforce ----------------------------------------------------------------
# Agent notices (emails about a new team) are sent right after HR asks; this sweep
# retries whatever a lost task or an unreachable mail server left behind.
DUSK_NOTICE_SWEEP_INTERVAL = env.float("DUSK_NOTICE_SWEEP_INTERVAL", default=60.0)
# Notification emails per SMTP connection (agent notices, cutover notifications, reminders).
DUSK_EMAIL_BATCH = env.int("DUSK_EMAIL_BATCH", default=200)
# Messages staged at once, each on its own SMTP connection, then recorded in one commit.
DUSK_EMAIL_PARALLEL = env.int("DUSK_EMAIL_PARALLEL", default=10)

# --- Platforms: webhooks --------------------------------------------------------
# Platform webhooks (/hooks/...) are served by portal/handlers.py, under WSGI and ASGI alike,
# through these middleware only: the ones that shape a response (security headers, CSP,
# Content-Length) and the one recording refused deliveries as security events, in MIDDLEWARE's
# order. Sessions, CSRF, sign-in, language, messages, htmx and time zones mean nothing to a
# signed POST from a platform.
DUSK_WEBHOOK_MIDDLEWARE = [
    "channels_app.web.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "channels_app.web.middleware.SecurityEventMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "channels_app.web.middleware.ContentSecurityPolicyMiddleware",
]
# ...and with a URLconf holding the webhooks only, so no other view is reachable without the
# browser middleware.
DUSK_WEBHOOK_URLCONF = "channels_app.web.hooks"
# The customer's landing pages (the tracked link /r/<reference>, its choices and contact form;
# /landing/<plan>/ brand stylesheets and logos) are public: no session, no sign-in, no flash
# message, no htmx, no personal time zone. portal/handlers.py serves them through these
# middleware only, in MIDDLEWARE's order: the response's security headers and CSP, the
# language, the text checks and CSRF (the contact form and the choice beacon are POSTs). The
# URLconf is the project's (a template may name any page); only the handoff feature's public
# views resolve under these prefixes (tests/web/test_wsgi.py).
DUSK_LANDING_MIDDLEWARE = [
    "channels_app.web.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "channels_app.web.middleware.SecurityEventMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "channels_app.web.middleware.TextInputMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "channels_app.web.middleware.ContentSecurityPolicyMiddleware",
]
# Seconds a web process keeps a channel's webhook settings.
DUSK_WEBHOOK_CHANNEL_TTL = env.float("DUSK_WEBHOOK_CHANNEL_TTL", default=5.0)
# No second auto-reply to the same customer on the same channel within this many seconds.
DUSK_AUTO_REPLY_COOLDOWN = env.float("DUSK_AUTO_REPLY_COOLDOWN", default=24 * 3600)

# --- Platforms: hosts and secrets (docs/security.md) ----------------------------
# Platform base URLs and mailboxes must be https/imaps URLs of public hosts (checked when a
# channel is saved and at every connection, core/hosts.py). On: loopback and private hosts and
# plain http are allowed too, for development, the demo's sandbox and the tests; a deploy
# check (dusk.E101) refuses it in production.
DUSK_ALLOW_PRIVATE_PLATFORM_HOSTS = env.bool("DUSK_ALLOW_PRIVATE_PLATFORM_HOSTS", default=False)

# --- Platforms: outbox (auto-replies sent by the workers) ----------------------
DUSK_OUTBOX_SWEEP_INTERVAL = env.float("DUSK_OUTBOX_SWEEP_INTERVAL", default=2.0)
DUSK_OUTBOX_KICK_INTERVAL = env.float("DUSK_OUTBOX_KICK_INTERVAL", default=0.25)
DUSK_OUTBOX_BATCH = env.int("DUSK_OUTBOX_BATCH", default=100)
DUSK_OUTBOX_CONCURRENCY = env.int("DUSK_OUTBOX_CONCURRENCY", default=8)
DUSK_OUTBOX_TIME_BUDGET = env.float("DUSK_OUTBOX_TIME_BUDGET", default=20.0)
DUSK_OUTBOX_STUCK_AFTER = env.float("DUSK_OUTBOX_STUCK_AFTER", default=120.0)
DUSK_OUTBOX_MAX_ATTEMPTS = env.int("DUSK_OUTBOX_MAX_ATTEMPTS", default=8)
DUSK_OUTBOX_BACKOFF_BASE = env.float("DUSK_OUTBOX_BACKOFF_BASE", default=5.0)
DUSK_OUTBOX_BACKOFF_MAX = env.float("DUSK_OUTBOX_BACKOFF_MAX", default=3600.0)
DUSK_OUTBOX_RATE_HORIZON = env.float("DUSK_OUTBOX_RATE_HORIZON", default=2.0)
# Each platform request (connect, write, read) times out after this many seconds.
DUSK_OUTBOX_HTTP_TIMEOUT = env.float("DUSK_OUTBOX_HTTP_TIMEOUT", default=15.0)
# Time for a platform to show a reply it accepted to our lookup, and allowed clock skew between
# workers and platform when looking for a reply an earlier attempt may have posted.
DUSK_OUTBOX_LOOKUP_MARGIN = env.float("DUSK_OUTBOX_LOOKUP_MARGIN", default=5.0)
DUSK_OUTBOX_CLOCK_SKEW = env.float("DUSK_OUTBOX_CLOCK_SKEW", default=60.0)
if DUSK_OUTBOX_STUCK_AFTER < DUSK_OUTBOX_RATE_HORIZON + 3 * DUSK_OUTBOX_HTTP_TIMEOUT + DUSK_OUTBOX_LOOKUP_MARGIN + 1:
    raise ImproperlyConfigured(
        "DUSK_OUTBOX_STUCK_AFTER must exceed DUSK_OUTBOX_RATE_HORIZON + 3 x DUSK_OUTBOX_HTTP_TIMEOUT + "
        "DUSK_OUTBOX_LOOKUP_MARGIN (+1 s): a claim must outlast the request it covers."
    )

# --- Platforms: polling (platforms without webhooks) ----------------------------
DUSK_YOUTUBE_POLL_INTERVAL = env.float("DUSK_YOUTUBE_POLL_INTERVAL", default=60.0)
DUSK_YOUTUBE_MAX_PAGES = env.int("DUSK_YOUTUBE_MAX_PAGES", default=50)
# Email channels with an IMAP mailbox (api_base_url imaps://...): poll interval, messages read
# per poll at most (the rest waits for the next poll), socket timeout of each IMAP connection,
# and an extra CA bundle (PEM) trusted besides the system's, for a mailbox server with a private CA.
DUSK_IMAP_POLL_INTERVAL = env.float("DUSK_IMAP_POLL_INTERVAL", default=60.0)
DUSK_IMAP_MAX_MESSAGES = env.int("DUSK_IMAP_MAX_MESSAGES", default=100)
DUSK_IMAP_TIMEOUT = env.float("DUSK_IMAP_TIMEOUT", default=15.0)
DUSK_IMAP_CA_FILE = env.str("DUSK_IMAP_CA_FILE", default="")

# --- Cutover: sweep and reaper --------------------------------------------------
# How often beat looks for due phases, and when a running cutover counts as stuck.
DUSK_SWEEP_INTERVAL = env.float("DUSK_SWEEP_INTERVAL", default=1.0)
DUSK_REAP_INTERVAL = env.float("DUSK_REAP_INTERVAL", default=15.0)
DUSK_RUN_STUCK_AFTER = env.float("DUSK_RUN_STUCK_AFTER", default=120.0)
# Conversations moved per committed chunk.
DUSK_CHUNK_SIZE = env.int("DUSK_CHUNK_SIZE", default=5000)
# Test hook: sleep this many seconds after each committed chunk so a test can
# kill a worker mid-cutover. Zero in real use.
DUSK_CHUNK_PAUSE = env.float("DUSK_CHUNK_PAUSE", default=0.0)
# The public notice (docs/configuration.md): tries of one change on a platform before it is
# failed (retryable from the run page), and the longest Retry-After a run waits out in place.
DUSK_PUBLICATION_MAX_ATTEMPTS = env.int("DUSK_PUBLICATION_MAX_ATTEMPTS", default=4)
DUSK_PUBLICATION_MAX_WAIT = env.float("DUSK_PUBLICATION_MAX_WAIT", default=30.0)
# Test hook: sleep this many seconds inside each publication's attempt, after its request went
# out, so a test can kill a worker mid-publication. Zero in real use.
DUSK_PUBLICATION_PAUSE = env.float("DUSK_PUBLICATION_PAUSE", default=0.0)
# DUSK_PUBLICATION_MAX_WAIT + 3 x DUSK_OUTBOX_HTTP_TIMEOUT must stay under DUSK_RUN_STUCK_AFTER
# (system check dusk.E402, core/checks.py): tests and benches shorten the run's lease alone.

# --- Cutover: reminders ----------------------------------------------------------
# Reminder emails before each phase, e.g. "7d,1d" or "36h"; empty turns them off.
DUSK_REMINDER_OFFSETS = [
    int(value[:-1]) * {"d": 86400, "h": 3600, "m": 60}[value[-1]]
    for value in env.list("DUSK_REMINDER_OFFSETS", default=["7d", "1d"])
    if value
]
DUSK_REMINDER_INTERVAL = env.float("DUSK_REMINDER_INTERVAL", default=60.0)

# --- Workforce: the agent's personal page (docs/workforce.md) ----------------------------
# A link to an agent's page (in their move email, reminders and HR's replies) opens it for this
# many seconds after the email was written (default 60 days); HR can revoke every link of an
# agent at once by sending a new one.
DUSK_AGENT_LINK_MAX_AGE = env.int("DUSK_AGENT_LINK_MAX_AGE", default=60 * 86400)
# Answers and checklist ticks an agent's page accepts per hour, per move and per client address.
DUSK_AGENT_PAGE_POSTS_PER_HOUR = env.int("DUSK_AGENT_PAGE_POSTS_PER_HOUR", default=30)
# Reminders to agents who have not answered, this long after their move email went out, e.g.
# "3d,7d"; after the last one the agent is listed as "needs a conversation". Empty: none.
DUSK_AGENT_REMINDER_OFFSETS = sorted(
    int(value[:-1]) * {"d": 86400, "h": 3600, "m": 60, "s": 1}[value[-1]]
    for value in env.list("DUSK_AGENT_REMINDER_OFFSETS", default=["3d", "7d"])
    if value
)
# How often beat writes the reminders that are due and sends what is queued.
DUSK_AGENT_REMINDER_INTERVAL = env.float("DUSK_AGENT_REMINDER_INTERVAL", default=60.0)

# --- Cutover: watchdog (after retirement) --------------------------------------
# Thresholds checked every DUSK_WATCHDOG_INTERVAL seconds.
DUSK_WATCHDOG_INTERVAL = env.float("DUSK_WATCHDOG_INTERVAL", default=300.0)
DUSK_WATCHDOG_MAX_INBOUND_PER_DAY = env.int("DUSK_WATCHDOG_MAX_INBOUND_PER_DAY", default=100)
DUSK_WATCHDOG_MIN_REDIRECT_SHARE = env.float("DUSK_WATCHDOG_MIN_REDIRECT_SHARE", default=0.2)
DUSK_WATCHDOG_MIN_SAMPLE = env.int("DUSK_WATCHDOG_MIN_SAMPLE", default=50)
DUSK_WATCHDOG_MAX_FAILED_REPLIES = env.int("DUSK_WATCHDOG_MAX_FAILED_REPLIES", default=10)
# Tracked links are followed anonymously: one click row per conversation and target in this
# many seconds, and at most DUSK_TRACKED_LINK_RATE counted per client address and minute (more
# are still redirected, not counted).
DUSK_TRACKED_LINK_DEDUP_SECONDS = env.int("DUSK_TRACKED_LINK_DEDUP_SECONDS", default=3600)
DUSK_TRACKED_LINK_RATE = env.int("DUSK_TRACKED_LINK_RATE", default=30)
# On PostgreSQL a landing appends its visit to its web process's journal in this directory (one
# write, no database write on the request's path) and the process stores the journal about every
# DUSK_VISIT_JOURNAL_SECONDS (handoff/services/journal.py). A local disk that outlives the
# process; off: each landing commits its visit itself.
DUSK_VISIT_JOURNAL = env.bool("DUSK_VISIT_JOURNAL", default=True)
DUSK_VISIT_JOURNAL_DIR = env.str("DUSK_VISIT_JOURNAL_DIR", default=str(VAR_DIR / "visit-journal"))
DUSK_VISIT_JOURNAL_SECONDS = env.float("DUSK_VISIT_JOURNAL_SECONDS", default=1.0)

# --- Hand-off: the landing page at the tracked link (docs/landing-and-funnel.md) ---------
# Contact requests a customer may leave on the landing page per hour: per reference, per address.
DUSK_HANDOFF_PER_REFERENCE_PER_HOUR = env.int("DUSK_HANDOFF_PER_REFERENCE_PER_HOUR", default=3)
DUSK_HANDOFF_PER_ADDRESS_PER_HOUR = env.int("DUSK_HANDOFF_PER_ADDRESS_PER_HOUR", default=5)
# A landing page's logo: PNG, JPEG or WebP up to this many bytes, stored and served by the portal.
DUSK_LANDING_LOGO_MAX_BYTES = env.int("DUSK_LANDING_LOGO_MAX_BYTES", default=200_000)
# Handing contact requests off to a destination (Zendesk, a signed webhook): attempts before a
# hand-off is listed as failed, backoff between them (doubling, capped; never sooner than the
# destination's Retry-After), a sender's timeout, a claim a silent sender holds before another
# takes it (in doubt), and beat's sweep for what is due.
DUSK_HANDOFF_ATTEMPTS = env.int("DUSK_HANDOFF_ATTEMPTS", default=8)
DUSK_HANDOFF_BACKOFF_BASE = env.float("DUSK_HANDOFF_BACKOFF_BASE", default=10.0)
DUSK_HANDOFF_BACKOFF_MAX = env.float("DUSK_HANDOFF_BACKOFF_MAX", default=3600.0)
DUSK_HANDOFF_TIMEOUT = env.float("DUSK_HANDOFF_TIMEOUT", default=10.0)
DUSK_HANDOFF_STUCK_AFTER = env.float("DUSK_HANDOFF_STUCK_AFTER", default=120.0)
DUSK_HANDOFF_INTERVAL = env.float("DUSK_HANDOFF_INTERVAL", default=10.0)

# --- Notifications (docs/configuration.md) ---------------------------------------------
# Submission, send-back, approval, run start, run failure and undelivered messages are emailed to
# the people involved and, when this is set, posted as JSON ({"text": ...}) to this URL: a Slack or
# Microsoft Teams incoming webhook, for instance. Empty: no webhook. The URL is a secret (whoever
# has it can post): logs show its host only. It must be an https URL of a public host (core/hosts.py;
# DUSK_ALLOW_PRIVATE_PLATFORM_HOSTS lets loopback and http through for development and tests), and
# a deploy check (dusk.E601) refuses a plain http one in production.
DUSK_NOTIFY_WEBHOOK_URL = env.str("DUSK_NOTIFY_WEBHOOK_URL", default="").strip()
LOGGING["filters"]["redact"]["urls"] = [DUSK_NOTIFY_WEBHOOK_URL] if DUSK_NOTIFY_WEBHOOK_URL else []
# Each webhook request (connect, write, read) times out after this many seconds; a post that fails
# (no answer, 429, 5xx) is tried again after DUSK_NOTIFY_BACKOFF_BASE x 2^(attempt - 1) seconds (at
# most DUSK_NOTIFY_BACKOFF_MAX), DUSK_NOTIFY_WEBHOOK_ATTEMPTS times in all, then recorded as failed
# in the plan's History.
DUSK_NOTIFY_WEBHOOK_TIMEOUT = env.float("DUSK_NOTIFY_WEBHOOK_TIMEOUT", default=10.0)
DUSK_NOTIFY_WEBHOOK_ATTEMPTS = env.int("DUSK_NOTIFY_WEBHOOK_ATTEMPTS", default=8)
DUSK_NOTIFY_BACKOFF_BASE = env.float("DUSK_NOTIFY_BACKOFF_BASE", default=10.0)
DUSK_NOTIFY_BACKOFF_MAX = env.float("DUSK_NOTIFY_BACKOFF_MAX", default=3600.0)
# Notices are sent right after the commit that wrote them; beat sends again, this often, what is
# due (webhook retries, and anything a lost task or a stopped mail server left behind).
DUSK_NOTIFY_INTERVAL = env.float("DUSK_NOTIFY_INTERVAL", default=10.0)
# A notice claimed by a sender that then went silent this long is sent by another.
DUSK_NOTIFY_STUCK_AFTER = env.float("DUSK_NOTIFY_STUCK_AFTER", default=120.0)

# --- Web ------------------------------------------------------------------------
# Where customers' tracked links point: the portal's public address.
DUSK_PUBLIC_URL = env.str("DUSK_PUBLIC_URL", default="http://127.0.0.1:8000").rstrip("/")
# API requests per signed-in person (channels_app/api/throttling.py).
DUSK_API_RATE_USER = env.str("DUSK_API_RATE_USER", default="1200/minute")

# --- Operations: health, metrics, logs (docs/operations.md) --------------------
# /healthz answers 503 when beat's last sweep for due phases (a heartbeat row the sweep task
# writes every DUSK_SWEEP_INTERVAL) or the oldest due phase nobody claimed is older than this.
DUSK_BEAT_STALE_AFTER = env.float("DUSK_BEAT_STALE_AFTER", default=60.0)
# /metrics (Prometheus text format) answers a bearer token, or callers from these addresses
# (the client address as DUSK_PROXY_COUNT reads it); with neither set it answers no one.
DUSK_METRICS_TOKEN = env.str("DUSK_METRICS_TOKEN", default="")
DUSK_METRICS_ALLOWED_IPS = env.list("DUSK_METRICS_ALLOWED_IPS", default=[])
# Load balancers and Prometheus reach these over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
# One JSON object per log line, with request, run, plan and channel ids as fields.
DUSK_LOG_JSON = env.bool("DUSK_LOG_JSON", default=False)
if DUSK_LOG_JSON:
    LOGGING["handlers"]["console"]["formatter"] = "json"

# --- Scale: nodes (docs/scaling.md) ---------------------------------------------
# How many machines (or containers) run the web server or workers against this database. Above 1,
# state that must be shared (the API rate-limit counters in the cache) cannot live in one process:
# the system check dusk.E401 refuses a per-process cache (LocMem, dummy) at start.
DUSK_NODES = env.int("DUSK_NODES", default=1)

# =============================================================================
# Celery
# =============================================================================

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's transport with whole-message writes (portal/filesystem_broker.py).
    CELERY_BROKER_TRANSPORT = "portal.filesystem_broker:Transport"
    _queue_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir / "out"),
        "data_folder_out": str(_queue_dir / "out"),
        "processed_folder": str(_queue_dir / "processed"),
        "store_processed": False,
        # kombu keeps its exchange table here; the default is ./control in the working directory.
        "control_folder": str(_queue_dir / "control"),
    }
    for _sub in ("out", "processed", "control"):
        (_queue_dir / _sub).mkdir(parents=True, exist_ok=True)
else:
    # An unacknowledged message returns to the queue after this long; the
    # run reaper re-queues stuck cutovers much sooner, so keep it modest.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=600),
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Queues (docs/scaling.md): a cutover never waits behind a backlog of replies, polls or emails.
# A worker started without -Q consumes every queue below (`make run`); production runs a worker
# per queue, or per group of queues (`-Q cutover`, `-Q replies`, `-Q polling,email,celery`).
# Routing lives here only: a task not listed goes to the default queue, `celery`.
DUSK_QUEUES = ["cutover", "replies", "polling", "email", "celery"]
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = [Queue(name, routing_key=name) for name in DUSK_QUEUES]
CELERY_TASK_ROUTES = {
    # Cutover: the beat sweep that claims due phases, the run itself and the reaper that re-queues
    # stuck runs. A run queues its emails to people on the email queue and writes its hand-off
    # replies to the outbox, which the replies queue delivers: the run never waits on another queue.
    "channels_app.tasks.sweep_due_phases_task": {"queue": "cutover"},
    "channels_app.tasks.run_cutover_task": {"queue": "cutover"},
    "channels_app.tasks.reap_stuck_runs_task": {"queue": "cutover"},
    # A run's public changes retried from the run page (platform calls, like the run's own step).
    "channels_app.tasks.publish_run_changes_task": {"queue": "cutover"},
    # Replies and publications to the platforms (the outbox sender).
    "channels_app.inbound_tasks.send_due_replies_task": {"queue": "replies"},
    # Pollers of platforms without webhooks.
    "channels_app.inbound_tasks.poll_youtube_task": {"queue": "polling"},
    "channels_app.inbound_tasks.poll_youtube_channel_task": {"queue": "polling"},
    "channels_app.inbound_tasks.poll_email_task": {"queue": "polling"},
    "channels_app.inbound_tasks.poll_email_channel_task": {"queue": "polling"},
    # Email to people: reminders before a phase, agents' notices.
    "channels_app.tasks.send_reminders_task": {"queue": "email"},
    "channels_app.tasks.send_agent_notices_task": {"queue": "email"},
    # Agents' reminders to answer about their move, and HR's replies to their answers.
    "channels_app.tasks.send_agent_messages_task": {"queue": "email"},
    # Email to people about a run: its start and end (send_run_emails) and, when notices to
    # customers failed, to the plan's owners.
    "channels_app.tasks.send_run_emails_task": {"queue": "email"},
    "channels_app.tasks.send_owner_notices_task": {"queue": "email"},
    # What a plan tells people as it moves (submission, send-back, approval, run start and
    # failures): emails and the outgoing webhook.
    "channels_app.tasks.send_plan_notices_task": {"queue": "email"},
    # Contact requests from the landing page, handed off to Zendesk or a webhook.
    "channels_app.tasks.send_handoffs_task": {"queue": "replies"},
    # The after-sunset watchdog stays on the default queue, `celery`.
}

# Every periodic task. A run no worker took before it expires is dropped rather than queued
# behind the next one, which does the same work.
CELERY_BEAT_SCHEDULE = {
    # Cutover
    "sweep-due-phases": {
        "task": "channels_app.tasks.sweep_due_phases_task",
        "schedule": DUSK_SWEEP_INTERVAL,
        "options": {"expires": max(DUSK_SWEEP_INTERVAL * 5, 5)},
    },
    "send-plan-notices": {
        "task": "channels_app.tasks.send_plan_notices_task",
        "schedule": DUSK_NOTIFY_INTERVAL,
        "options": {"expires": max(DUSK_NOTIFY_INTERVAL * 2, 5)},
    },
    "send-reminders": {
        "task": "channels_app.tasks.send_reminders_task",
        "schedule": DUSK_REMINDER_INTERVAL,
        "options": {"expires": max(DUSK_REMINDER_INTERVAL * 2, 5)},
    },
    "watchdog": {
        "task": "channels_app.tasks.watchdog_task",
        "schedule": DUSK_WATCHDOG_INTERVAL,
        "options": {"expires": max(DUSK_WATCHDOG_INTERVAL, 5)},
    },
    "send-handoffs": {
        "task": "channels_app.tasks.send_handoffs_task",
        "schedule": DUSK_HANDOFF_INTERVAL,
        "options": {"expires": max(DUSK_HANDOFF_INTERVAL * 2, 5)},
    },
    "reap-stuck-runs": {
        "task": "channels_app.tasks.reap_stuck_runs_task",
        "schedule": DUSK_REAP_INTERVAL,
        "options": {"expires": max(DUSK_REAP_INTERVAL * 2, 5)},
    },
    # Workforce
    "send-agent-notices": {
        "task": "channels_app.tasks.send_agent_notices_task",
        "schedule": DUSK_NOTICE_SWEEP_INTERVAL,
        "options": {"expires": max(DUSK_NOTICE_SWEEP_INTERVAL, 5)},
    },
    "send-agent-messages": {
        "task": "channels_app.tasks.send_agent_messages_task",
        "schedule": DUSK_AGENT_REMINDER_INTERVAL,
        "options": {"expires": max(DUSK_AGENT_REMINDER_INTERVAL * 2, 5)},
    },
    # Platforms
    "send-due-replies": {
        "task": "channels_app.inbound_tasks.send_due_replies_task",
        "schedule": DUSK_OUTBOX_SWEEP_INTERVAL,
        "options": {"expires": max(DUSK_OUTBOX_SWEEP_INTERVAL * 5, 5)},
    },
    "poll-youtube": {
        "task": "channels_app.inbound_tasks.poll_youtube_task",
        "schedule": DUSK_YOUTUBE_POLL_INTERVAL,
        "options": {"expires": max(DUSK_YOUTUBE_POLL_INTERVAL, 5)},
    },
    "poll-email": {
        "task": "channels_app.inbound_tasks.poll_email_task",
        "schedule": DUSK_IMAP_POLL_INTERVAL,
        "options": {"expires": max(DUSK_IMAP_POLL_INTERVAL, 5)},
    },
}
