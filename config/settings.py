"""Settings, driven by environment variables with embedded defaults (SQLite, in-memory layer, eager jobs)."""

import os
import secrets
import socket
from pathlib import Path

import dj_database_url

from config.datadir import secure_data_dir
from config.logs import JSON_FIELDS, JSON_RENAMES

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("DATA_DIR", BASE_DIR / "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, "1" if default else "0").lower() in {"1", "true", "yes", "on"}


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept in DATA_DIR (mode 0600)."""
    if key := os.environ.get("SECRET_KEY"):
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = _env_bool("DEBUG")
# Demo mode (make run): creates the demo users with well-known passwords. Never on in production.
DEMO_MODE = _env_bool("DEMO")
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "axes",  # login attempts rate-limited per user and per address (see "Accounts" below)
    "tasks",
    "terminal",
    "baselining",
    "horizons",
]

MIDDLEWARE = [
    "config.metrics.RequestMetrics",  # first: it times the whole answer
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into the lockout page
]

ROOT_URLCONF = "config.urls"
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
                "tasks.context_processors.open_flags",
                "config.context_processors.limits",  # {{ maxlen.<field> }}: config/limits.py
            ],
        },
    },
]
ASGI_APPLICATION = "config.asgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}"), conn_max_age=0
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout: the embedded default serves web requests and jobs from one file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    # A file, not memory, so that servers the tests start as subprocesses share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-db.sqlite3")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and _env_bool("DATABASE_POOL"):
    # A pool per process (psycopg_pool), as Django advises under ASGI instead of persistent connections:
    # without it every request, and every database call of a WebSocket, opened a connection of its own
    # (half of a contractor's Start, docs/terminal-protocol.md). On in the web process (config/asgi.py) and
    # the session host (manage.py); off by default elsewhere: a Celery prefork worker must not inherit a
    # pool's sockets.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {  # (the URL's own options, e.g. sslmode, kept)
        "min_size": 1,
        "max_size": int(os.environ.get("DATABASE_POOL_SIZE", "8")),
        # how long a call waits for a connection; the session host, whose database calls queue on one
        # thread, waits 5 s (manage.py), so an outage does not stack 30 s waits
        "timeout": float(os.environ.get("DATABASE_POOL_TIMEOUT", "30")),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True
    CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SOFT_TIME_LIMIT = int(os.environ.get("CELERY_TASK_SOFT_TIME_LIMIT", "600"))
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 60
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # the worker logs through LOGGING (LOG_FORMAT=json included)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_HTTPONLY = True
# Production is served over HTTPS by a TLS proxy (docs/deployment.md): HTTPS=1 makes cookies secure-only,
# redirects http to https (but /healthz, which the container's health check asks over http), trusts the
# proxy's X-Forwarded-Proto and sends HSTS. `manage.py check --deploy` is clean with it.
HTTPS = _env_bool("HTTPS")
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = _env_bool("HSTS_PRELOAD", default=True)
# --- Accounts: failed logins (django-axes, in the database: SQLite or PostgreSQL) -----------------------
# A username, or an address, with LOGIN_FAILURE_LIMIT failed logins is locked out for LOGIN_COOLOFF_MINUTES
# (each failure during the lockout starts it again). Only password logins count: API tokens and sessions
# never go through authenticate(). The address is REMOTE_ADDR, which uvicorn sets from X-Forwarded-For for
# the proxies it trusts (FORWARDED_ALLOW_IPS, docs/deployment.md).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out login before the password check
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("LOGIN_COOLOFF_MINUTES", "15")) / 60  # hours, as axes reads it
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each on its own: per user, and per address
AXES_RESET_ON_SUCCESS = True
# A failure during a lockout does not start it again: the lockout ends on time (and its row stops growing).
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "config.lockout.lockout_response"  # 429 and a page that says how long to wait
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", DATA_DIR / "static"))
STATICFILES_DIRS = [BASE_DIR / "frontend" / "dist"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Upload limit for task-suite archives (the archive itself; extraction has its own limit).
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
TASK_UPLOAD_MAX_BYTES = int(os.environ.get("TASK_UPLOAD_MAX_BYTES", str(200 * 1024 * 1024)))

# --- Sandboxes -------------------------------------------------------------------------------
SANDBOX_BACKEND = os.environ.get("SANDBOX_BACKEND", "bubblewrap")  # or "docker" (docs/sandbox.md)
# docker backend: the Task Standard images' base (scripts/docker-base-image.sh builds one locally) and the
# network image builds use (install() may need the package registries; sandboxes never get one).
DOCKER_BASE_IMAGE = os.environ.get("DOCKER_BASE_IMAGE", "baselines/base:bookworm")
DOCKER_BUILD_NETWORK = os.environ.get("DOCKER_BUILD_NETWORK", "host")
# Immutable, content-addressed snapshots of every imported family version.
FAMILY_STORE = Path(os.environ.get("FAMILY_STORE", DATA_DIR / "families"))
# Live sandboxes' writable state (homes, the family copy under /root).
SANDBOX_DIR = Path(os.environ.get("SANDBOX_DIR", DATA_DIR / "sandboxes"))
# When the server runs as root, sandboxes get their own range of 65536 unprivileged host uids from here.
SANDBOX_UID_BASE = int(os.environ.get("SANDBOX_UID_BASE", "200000"))
# Wall-clock limit for a TaskFamily method run by the importer (get_tasks and friends).
TASK_IMPORT_TIMEOUT = float(os.environ.get("TASK_IMPORT_TIMEOUT", "60"))
TASK_METHOD_TIMEOUT = float(os.environ.get("TASK_METHOD_TIMEOUT", "600"))
# Environment variables offered to families that list them in required_environment_variables:
# TASK_ENV_<NAME>=value makes NAME available.
TASK_ENVIRONMENT = {
    k.removeprefix("TASK_ENV_"): v for k, v in os.environ.items() if k.startswith("TASK_ENV_")
}

# LOG_FORMAT=json: one JSON object per line (time, level, logger, message, the session id where there is
# one), for a log collector; text otherwise.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"session": {"()": "config.logs.SessionIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": JSON_FIELDS,
            "rename_fields": JSON_RENAMES,
        },
        "text": {"format": "%(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["session"],
            "formatter": "json" if LOG_FORMAT == "json" else "text",
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
# Prometheus metrics (config/metrics.py; docs/deployment.md lists them). The web serves /metrics to
# `Authorization: Bearer METRICS_TOKEN`, or to loopback only while no token is set; the worker and the
# session host serve theirs on these ports (0: not served) at METRICS_ADDRESS.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
METRICS_ADDRESS = os.environ.get("METRICS_ADDRESS", "127.0.0.1")
WORKER_METRICS_PORT = int(os.environ.get("WORKER_METRICS_PORT", "0"))
SESSION_HOST_METRICS_PORT = int(os.environ.get("SESSION_HOST_METRICS_PORT", "0"))
# Memory, process and CPU limits need cgroups; without them a sandbox refuses to start unless this is off.
SANDBOX_REQUIRE_CGROUPS = _env_bool("SANDBOX_REQUIRE_CGROUPS", default=True)
# asciicast recordings of terminal sessions.
RECORDINGS_DIR = Path(os.environ.get("RECORDINGS_DIR", DATA_DIR / "recordings"))
# DATA_DIR and what is made in it are private (0700 directories, 0600 SQLite files); DATA_DIR itself is
# 0711 when SANDBOX_DIR is under it (bubblewrap sandboxes' roots must walk to their own state): whatever
# backend this process uses, another process of the same platform may use bubblewrap (config/datadir.py).
secure_data_dir(
    DATA_DIR,
    private_dirs=[FAMILY_STORE, RECORDINGS_DIR, DATA_DIR / "imports"],
    sqlite_file=(
        Path(DATABASES["default"]["NAME"])
        if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
        else None
    ),
    traversable=SANDBOX_DIR.resolve().is_relative_to(DATA_DIR),
)
# A recording's size cap (MiB); past it the terminal goes on and the recording keeps a marker and samples.
RECORDING_MAX_MB = float(os.environ.get("RECORDING_MAX_MB", "100"))
# Past the cap, how much of each minute's terminal traffic the recording keeps (KiB).
RECORDING_SAMPLE_KB = int(os.environ.get("RECORDING_SAMPLE_KB", "64"))
# New sessions are refused while DATA_DIR, RECORDINGS_DIR or SANDBOX_DIR has less free space than this (MiB).
MIN_FREE_DISK_MB = int(os.environ.get("MIN_FREE_DISK_MB", "1024"))
# Production: the session host's Unix socket (manage.py session_host). Unset: the host runs in-process.
SESSION_HOST_SOCKET = os.environ.get("SESSION_HOST_SOCKET", "")
# Several sandbox machines (docs/deployment.md): each session host registers itself under this name, also
# listens on SESSION_HOST_LISTEN ("HOST:PORT", for web processes and workers on other machines), and
# takes at most SESSION_HOST_CAPACITY live (and starting) sessions: placement and the host itself refuse
# the next one with a message and the page retries (docs/deployment.md, Sizing). Every connection but the
# Unix socket's must carry SESSION_HOST_SECRET (the same on every machine of the platform).
SESSION_HOST_NAME = os.environ.get("SESSION_HOST_NAME", "") or socket.gethostname()
SESSION_HOST_LISTEN = os.environ.get("SESSION_HOST_LISTEN", "")
SESSION_HOST_SECRET = os.environ.get("SESSION_HOST_SECRET", "")
SESSION_HOST_CAPACITY = int(os.environ.get("SESSION_HOST_CAPACITY", "300"))
# Sandboxes started at once on one machine, the rest queued in order (the page shows each its place);
# 0: two per core (a start is mostly CPU, with waits).
SANDBOX_START_CONCURRENCY = int(os.environ.get("SANDBOX_START_CONCURRENCY", "0"))
# Warm starts: while a contractor reads an assignment's instructions, its sandbox is prepared (start()
# included; the clock does not run), so Start finds it ready. One per contractor; unclaimed for
# WARM_SANDBOX_MINUTES, it is ended and removed (docs/terminal-protocol.md, Warm starts).
WARM_SANDBOXES = _env_bool("WARM_SANDBOXES", default=True)
WARM_SANDBOX_MINUTES = float(os.environ.get("WARM_SANDBOX_MINUTES", "30"))
HOST_HEARTBEAT_SECONDS = float(os.environ.get("HOST_HEARTBEAT_SECONDS", "5"))
# A session's provisioning and scoring go to the Celery queue of its machine ("host.NAME"), which that
# machine's worker consumes (`celery worker -Q celery,host.NAME`): on, once every machine runs one.
JOBS_ON_HOST_QUEUES = _env_bool("JOBS_ON_HOST_QUEUES", default=False)
# A host whose heartbeat is older than this is down: its sessions' clocks pause (platform) until it is back.
HOST_DOWN_AFTER = float(os.environ.get("HOST_DOWN_AFTER", "30"))
# Default sandbox limits; a task's manifest resources (memory_gb, cpus, storage_gb) override them,
# up to the caps.
SANDBOX_MEMORY_MB = int(os.environ.get("SANDBOX_MEMORY_MB", "2048"))
SANDBOX_HOME_MB = int(os.environ.get("SANDBOX_HOME_MB", "1024"))
SANDBOX_CPUS = float(os.environ.get("SANDBOX_CPUS", "1"))
SANDBOX_PIDS = int(os.environ.get("SANDBOX_PIDS", "512"))
SANDBOX_MAX_MEMORY_MB = int(os.environ.get("SANDBOX_MAX_MEMORY_MB", "8192"))
SANDBOX_MAX_HOME_MB = int(os.environ.get("SANDBOX_MAX_HOME_MB", "8192"))
SANDBOX_MAX_CPUS = float(os.environ.get("SANDBOX_MAX_CPUS", "2"))
# Assignments: at most this many open per contractor; a reservation not started in time expires.
MAX_OPEN_ASSIGNMENTS = int(os.environ.get("MAX_OPEN_ASSIGNMENTS", "3"))
# A session paused this long has its sandbox parked (docker: files kept in a snapshot, CPU and memory
# freed; Resume restores it). 0: never.
PARK_PAUSED_AFTER_HOURS = float(os.environ.get("PARK_PAUSED_AFTER_HOURS", "8"))
RESERVATION_HOURS = float(os.environ.get("RESERVATION_HOURS", "72"))

# The clock (docs/timing.md): no input for this long pauses it (the idle stretch is not counted); a browser
# gone for this long pauses it from the moment it went; working time at this limit ends the session.
IDLE_PAUSE_AFTER = float(os.environ.get("IDLE_PAUSE_AFTER", "600"))
DISCONNECT_PAUSE_AFTER = float(os.environ.get("DISCONNECT_PAUSE_AFTER", "60"))
TIME_LIMIT_HOURS = float(os.environ.get("TIME_LIMIT_HOURS", "8"))
# The largest submission (typed, or /home/agent/submission.txt read as the agent), in bytes.
SUBMISSION_MAX_BYTES = int(os.environ.get("SUBMISSION_MAX_BYTES", str(1024 * 1024)))
# Periodic jobs, all in one place. Without Redis they run on a timer inside the web process.
CELERY_BEAT_SCHEDULE = {
    "enforce-time-limits": {"task": "baselining.enforce_time_limits", "schedule": 30.0},
    "expire-reservations": {"task": "baselining.expire_reservations", "schedule": 300.0},
    "reap-sandboxes": {"task": "terminal.reap_sandboxes", "schedule": 120.0},
    "watch-hosts": {"task": "terminal.watch_hosts", "schedule": 10.0},
    "park-paused": {"task": "baselining.park_paused", "schedule": 300.0},
    "cool-warm-sandboxes": {"task": "baselining.cool_warm_sandboxes", "schedule": 60.0},
}
PERIODIC_JOBS_EMBEDDED = not REDIS_URL

# Staff e-mailed about every new task flag (comma-separated), through Django's mail settings (MAILERS).
FLAG_NOTIFY_EMAILS = [e for e in os.environ.get("FLAG_NOTIFY_EMAILS", "").split(",") if e]
# Flags a non-staff person may raise per hour (docs/qa.md); past it, a clear refusal.
FLAG_RATE_PER_HOUR = int(os.environ.get("FLAG_RATE_PER_HOUR", "20"))
# A contractor's blocking flag holds its task when raised (on), or only once staff confirm it (off).
FLAG_HOLD_ON_RAISE = _env_bool("FLAG_HOLD_ON_RAISE", default=True)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "baselines@localhost")

# Statistics and exports (docs/exports.md)
# Which time becomes a task's human_minutes: the first source in this order that the task has.
HUMAN_SOURCE_ORDER = tuple(
    s.strip() for s in os.environ.get("HUMAN_SOURCE_ORDER", "baseline,qa,estimate").split(",") if s.strip()
)
# The pooled fit's shared spread: one for the whole suite, or one per family (docs/exports.md).
POOLED_SIGMA_BY = os.environ.get("POOLED_SIGMA_BY", "suite")
# Which estimate is a task's baseline time: "adjusted" (contractor effects removed: the default, as the
# validation report in docs/exports.md found it best), "gmean" (success-only geometric mean, METR's),
# "censored" or "pooled".
BASELINE_ESTIMATE = os.environ.get("BASELINE_ESTIMATE", "adjusted")
# A task whose chosen estimate and the success-only mean (or, when that is the one chosen, the censored
# median) are more than this factor apart "needs more baselines" (the Statistics page lists it); with
# PRIORITISE_UNSETTLED on, "Get my next task" offers those tasks first (docs/exports.md).
ESTIMATES_DISAGREE_FACTOR = float(os.environ.get("ESTIMATES_DISAGREE_FACTOR", "1.5"))
PRIORITISE_UNSETTLED = _env_bool("PRIORITISE_UNSETTLED")
# "Get my next task" offers a contractor the tasks done so far by baseliners the other way from them (fast
# for a slow one) first: off, as the adjusted estimate (the default) gains nothing from it (docs/exports.md).
BALANCE_CONTRACTOR_MIX = _env_bool("BALANCE_CONTRACTOR_MIX")
EXPORT_TASK_SOURCE = os.environ.get("EXPORT_TASK_SOURCE", "platform")  # the `task_source` of metr rows
HUMAN_HOURLY_RATE = float(os.environ.get("HUMAN_HOURLY_RATE", "143.61"))  # for metr rows' human_cost (USD)

# --- REST API (api/, docs/api.md): read-only, staff only, DRF tokens; schema and docs served locally ----
INSTALLED_APPS += [
    "rest_framework",
    "api",  # API keys stored as digests: `manage.py api_token USERNAME` makes one (docs/api.md)
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files as static files: no CDN
]
REST_FRAMEWORK = {
    # Token first: a request without credentials gets 401 with `WWW-Authenticate: Token`, not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.HashedTokenAuthentication",  # DRF's `Token <key>` scheme, keys kept hashed
        "rest_framework.authentication.SessionAuthentication",  # staff already logged in, in a browser
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Baselines API",
    "DESCRIPTION": "Read-only, staff-only access to tasks, baseline sessions, flags, statistics and exports.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAdminUser"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Time horizons (docs/horizons.md): bootstrap replicates for the staff page and the command's default.
HORIZON_BOOTSTRAP = int(os.environ.get("HORIZON_BOOTSTRAP", "1000"))
