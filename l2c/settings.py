"""L2C settings. The environment is read here and nowhere else.

Variables (all optional for the embedded default):
  DATABASE_URL        default sqlite:///<L2C_VAR_DIR>/l2c.sqlite3 (WAL mode)
  SECRET_KEY          default: generated once into <L2C_VAR_DIR>/secret_key
  DEBUG               "1"/"true" to turn on (off by default)
  ALLOWED_HOSTS       comma separated, default "127.0.0.1,localhost"
  CSRF_TRUSTED_ORIGINS comma separated origins (https://l2c.example.com)
  CELERY_BROKER_URL   default filesystem:// under <L2C_VAR_DIR>/broker (no server needed)
  EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS, EMAIL_USE_SSL,
  DEFAULT_FROM_EMAIL  SMTP settings
  L2C_SECURE          "1" behind HTTPS: secure cookies, HSTS, SSL redirect
  L2C_VAR_DIR         where the embedded database, secret and broker live (default ./var)
  CACHE_URL           redis://… (production) or unset: a table in the database (shared by all processes)
  L2C_WEBFORM_RATE_PER_MINUTE, L2C_WEBFORM_RATE_PER_HOUR, L2C_WEBFORM_MAX_BYTES  public form limits
  L2C_BASE_URL        the server's public address, for portal links in e-mails (default http://127.0.0.1:8000)
  L2C_PORTAL_LINK_DAYS  validity of a quote's portal link (default 30)
  L2C_SIGNING_PKCS12, L2C_SIGNING_PASSWORD  the company's signing certificate (default: self-signed, generated once)
  L2C_WEBHOOKS_ALLOW_PRIVATE  webhooks may target private/loopback addresses (default: on under DEBUG and tests)
  L2C_EMAIL_RATE_PER_MINUTE  nurture e-mails per sending domain and minute (default 600; 0: no limit)
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent
VAR_DIR = Path(os.environ.get("L2C_VAR_DIR", Path.cwd() / "var")).resolve()


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {value!r}")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc


def _secret_key() -> str:
    """The SECRET_KEY from the environment, or one generated once and kept in VAR_DIR."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = VAR_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(64)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


SECRET_KEY = _secret_key()
if env_bool("L2C_SECURE") and not os.environ.get("SECRET_KEY"):
    # Several web servers must share one key, or sessions and signed links break between them.
    raise ImproperlyConfigured("SECRET_KEY must be set in the environment when L2C_SECURE=1 (production)")
DEBUG = env_bool("DEBUG")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "axes",
    "ninja",  # its templates and static files: /api/v1/docs serves Swagger UI locally, no CDN
    # the flow, in order
    "l2c.core",
    "l2c.identity",
    "l2c.customers",
    "l2c.leads",
    "l2c.pipeline",
    "l2c.quoting",
    "l2c.contracts",
    "l2c.orders",
    "l2c.ledger",
    "l2c.billing",
    "l2c.banking",
    "l2c.receivables",
    "l2c.revenue",
    "l2c.portal",
    "l2c.analytics",
    "l2c.automation",  # cross-cutting: reacts to domain events, imports no stage
    "l2c.nurture",  # cross-cutting: e-mail templates, consent, suppression list, unsubscribe
    "l2c.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # every error under /api/ as problem+json (405, 413, Django's 400s, 500); outside all that can fail
    "l2c.core.problems.ApiProblemMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "l2c.core.idempotency.IdempotencyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # AxesMiddleware last: it turns a lock-out into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "l2c.urls"
WSGI_APPLICATION = "l2c.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "l2c.core.context_processors.l2c",
            ],
        },
    },
]

# --- database -------------------------------------------------------------
DEFAULT_SQLITE = f"sqlite:///{VAR_DIR / 'l2c.sqlite3'}"
DATABASE_URL = os.environ.get("DATABASE_URL") or DEFAULT_SQLITE
try:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
except Exception as exc:  # dj-database-url raises several types for a bad URL
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from exc
if _db["ENGINE"] == "django.db.backends.sqlite3":
    Path(_db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    _db["CONN_MAX_AGE"] = 0
    _db["OPTIONS"] = {
        # WAL: readers never block the writer; IMMEDIATE: a write transaction takes the write
        # lock up front, so two writers queue (busy timeout) instead of failing on upgrade.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
elif _db["ENGINE"] == "django.db.backends.postgresql":
    # No JIT compilation: L2C's queries are short (reports over up to a few hundred thousand rows), where
    # compiling costs more than it saves; a report whose plan looks expensive (a correlated subquery per row
    # that never runs) spent ~0.5 s compiling before reading a row (measured: MRR on 100,000 subscriptions,
    # 0.62 s with JIT, 0.13 s without). L2C_PG_OPTIONS adds or overrides server settings ("-c name=value …").
    _db.setdefault("OPTIONS", {})["options"] = ("-c jit=off " + os.environ.get("L2C_PG_OPTIONS", "")).strip()
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Covering indexes (Index(include=...)) serve the reports on PostgreSQL; SQLite builds them without the extra
# columns, which is what we want there, so its warning about it is noise.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

# --- auth -----------------------------------------------------------------
AUTH_USER_MODEL = "identity.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Lock-out: 5 failed log-ins for one user name from one address lock it for 15 minutes.
AXES_FAILURE_LIMIT = env_int("L2C_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
AXES_ENABLE_ACCESS_FAILURE_LOG = False

# --- i18n -----------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- static ---------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns at start when it is missing
STATICFILES_DIRS = [BASE_DIR / "static"]  # l2c/static: the project's CSS, JS and vendored HTMX/SortableJS
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MEDIA_ROOT = VAR_DIR / "media"

# --- security -------------------------------------------------------------
SECURE = env_bool("L2C_SECURE")
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
SECURE_SSL_REDIRECT = SECURE
SECURE_HSTS_SECONDS = 31536000 if SECURE else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE
SECURE_HSTS_PRELOAD = SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("L2C_BEHIND_PROXY") else None
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("L2C_MAX_REQUEST_BYTES", 10 * 1024 * 1024)

# --- e-mail ---------------------------------------------------------------
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL")
EMAIL_TIMEOUT = 30
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "L2C <l2c@localhost>")

# --- celery ---------------------------------------------------------------
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
    }
    if CELERY_BROKER_URL.startswith("filesystem://")
    else {}
)
if CELERY_BROKER_URL.startswith("filesystem://"):  # a command may queue a task before `serve` starts a worker
    for _folder in ("queue", "processed"):
        (BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER")
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Scheduled jobs are declared in one place: l2c/celery.py (BEAT_SCHEDULE).

# --- logging --------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # WeasyPrint logs every layout step of every PDF at INFO, and fontTools every subsetting step
    "loggers": {"axes": {"level": "WARNING"}, "weasyprint": {"level": "WARNING"}, "fontTools": {"level": "WARNING"}},
}

# --- cache (shared between processes) and the web-form rate limit ---------
# CACHE_URL: redis://host:6379/0 (or rediss://) in production: Django's RedisCache, atomic INCRBY.
# Unset (embedded default): a table in the application database (l2c.core.cache.DatabaseCache, table
# l2c_cache created by a migration), shared by every gunicorn process with a one-statement atomic
# incr. locmem:// is per process (tests, one-process dev only); db://<table> names another table.
# Not offered: file:// (FileBasedCache's add/incr race between processes, so limits would leak).
CACHE_URL = os.environ.get("CACHE_URL", "")
if not CACHE_URL:
    CACHES = {"default": {"BACKEND": "l2c.core.cache.DatabaseCache", "LOCATION": "l2c_cache",
                          "OPTIONS": {"MAX_ENTRIES": 1_000_000}}}
elif CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    import importlib.util

    if importlib.util.find_spec("redis") is None:
        raise ImproperlyConfigured("CACHE_URL is a Redis URL, but the `redis` package is not installed "
                                   "(pip install redis)")
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
elif CACHE_URL.startswith("db://"):
    CACHES = {"default": {"BACKEND": "l2c.core.cache.DatabaseCache",
                          "LOCATION": CACHE_URL.removeprefix("db://") or "l2c_cache",
                          "OPTIONS": {"MAX_ENTRIES": 1_000_000}}}
elif CACHE_URL.startswith("locmem://"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                          "LOCATION": CACHE_URL.removeprefix("locmem://") or "l2c"}}
else:
    raise ImproperlyConfigured(f"CACHE_URL must start with redis://, rediss://, unix://, db:// or locmem://, "
                               f"got {CACHE_URL!r}")
# Public web forms (POST /f/<key>): at most this many submissions per form and IP address per minute,
# and per IP address per hour (all forms); more is answered 429 with Retry-After.
L2C_WEBFORM_RATE_PER_MINUTE = env_int("L2C_WEBFORM_RATE_PER_MINUTE", 10)
L2C_WEBFORM_RATE_PER_HOUR = env_int("L2C_WEBFORM_RATE_PER_HOUR", 100)
L2C_WEBFORM_MAX_BYTES = env_int("L2C_WEBFORM_MAX_BYTES", 20 * 1024)

# --- L2C ------------------------------------------------------------------
L2C_COMPANY_CURRENCY = os.environ.get("L2C_COMPANY_CURRENCY", "USD")
# The address customers reach this server at: portal links in e-mails are built from it.
L2C_BASE_URL = os.environ.get("L2C_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
# How long a portal link sent with a quote stays valid (days).
L2C_PORTAL_LINK_DAYS = env_int("L2C_PORTAL_LINK_DAYS", 30)
# The company's signing certificate for signed PDFs (PKCS#12); empty: a self-signed one is generated
# once into <L2C_VAR_DIR>/signing/ on first use.
L2C_SIGNING_PKCS12 = os.environ.get("L2C_SIGNING_PKCS12", "")
# The customer portal's per-IP limits on sign/decline posts, and how many days before the end of an
# auto-renew contract its renewal opportunity and quote are created.
L2C_PORTAL_RATE_PER_MINUTE = env_int("L2C_PORTAL_RATE_PER_MINUTE", 10)
L2C_PORTAL_RATE_PER_HOUR = env_int("L2C_PORTAL_RATE_PER_HOUR", 60)
L2C_RENEWAL_LEAD_DAYS = env_int("L2C_RENEWAL_LEAD_DAYS", 30)
# Nurture e-mails (sequences): at most this many per sending domain (the From address's) and minute; more
# wait for the next minute. 0: no limit.
L2C_EMAIL_RATE_PER_MINUTE = env_int("L2C_EMAIL_RATE_PER_MINUTE", 600)
# Printed on invoices under the totals (bank account, IBAN, payment reference rules).
L2C_PAYMENT_INSTRUCTIONS = os.environ.get("L2C_PAYMENT_INSTRUCTIONS", "")
L2C_SIGNING_PASSWORD = os.environ.get("L2C_SIGNING_PASSWORD", "")
L2C_DEFAULT_PHONE_REGION = os.environ.get("L2C_DEFAULT_PHONE_REGION", "US")
L2C_PAGE_SIZE = 25
# Webhook URLs may point at private and loopback addresses (10.x, 192.168.x, 127.0.0.1, localhost) only when
# this is on: off in production so a webhook cannot reach internal services; on by default under DEBUG and tests.
L2C_WEBHOOKS_ALLOW_PRIVATE = env_bool("L2C_WEBHOOKS_ALLOW_PRIVATE", DEBUG or "pytest" in sys.modules)
# Largest import file taken from the UI or API (the CLI reads any size; files are streamed, never loaded whole).
L2C_IMPORT_MAX_BYTES = env_int("L2C_IMPORT_MAX_BYTES", 512 * 1024 * 1024)
