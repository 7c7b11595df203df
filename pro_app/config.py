"""Configuration defaults and the derived settings computed once per app."""

import secrets
from pathlib import Path

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("", "0", "false", "no", "off")


class ConfigError(RuntimeError):
    """A setting that would make the app unsafe or unable to run."""


class Defaults:
    """Settings every instance starts from; overridden by instance/config.py and PRO_* vars."""

    SECRET_KEY = None
    DATABASE_URL = None
    #: PostgreSQL role the app runs as; `pro-app db upgrade`, run as the owner, grants it (dbroles.py).
    DATABASE_RUNTIME_ROLE = None
    PUBLIC_URL = "http://127.0.0.1:5000"
    SMS_BACKEND = "console"
    SMS_RATE = 0
    SMS_BATCH = 50
    SMS_CLAIM_LEASE_SECONDS = 120
    #: Texts one sender process has at the provider at once (threads, each with its own connection).
    SMS_CONCURRENCY = 4
    #: Providers that answer STOP with their own confirmation (Twilio's default on long codes),
    #: comma-separated; the app confirms a STOP itself on every other one.
    SMS_STOP_CONFIRMED_BY = "twilio"
    TWILIO_TIMEOUT = 10
    SCHEDULER_INTERVAL_SECONDS = 3
    ALERT_RED_ESCALATE_MINUTES = 15
    ALERT_AMBER_ESCALATE_BUSINESS_DAYS = 1
    FEVER_CELSIUS = 38.0
    TIMEZONE = "Asia/Shanghai"
    PROTOCOL_FILE = None
    DEMO = False
    TRUSTED_PROXIES = 0
    DATABASE_CONNECT_TIMEOUT = 3
    DATABASE_STATEMENT_TIMEOUT_MS = 15000
    DATABASE_POOL_TIMEOUT = 3
    STAFF_IDLE_MINUTES = 30
    STAFF_SESSION_HOURS = 12
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_KEY_PREFIX = "pro"
    RATELIMIT_HEADERS_ENABLED = True
    # A rate-limit store that is down must not keep families from answering: count in memory meanwhile.
    RATELIMIT_SWALLOW_ERRORS = True
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    LOGIN_RATE_LIMIT = "20 per minute;100 per hour"
    # Above LOGIN_LOCK_AFTER: the lock answers first and says until when; this stops guessing on.
    LOGIN_ACCOUNT_RATE_LIMIT = "30 per 15 minutes"
    #: Every staff member signs in with a second factor (TOTP); enrolment at the first login.
    REQUIRE_2FA = True
    #: The name authenticator apps show beside the study's codes.
    TOTP_ISSUER = "PRO study"
    #: Wrong passwords in a row that lock an account (15 min, doubling with each lock, a day at most).
    LOGIN_LOCK_AFTER = 10
    STAFF_INVITATION_DAYS = 7
    #: The consent document version recorded when an enrolment names none.
    CONSENT_DOCUMENT_VERSION = "1.0"
    LINK_RATE_LIMIT = "30 per minute"
    LINK_ADDRESS_RATE_LIMIT = "600 per minute"
    BABEL_DEFAULT_LOCALE = "zh_CN"
    BABEL_DEFAULT_TIMEZONE = "UTC"
    LANGUAGES = ("zh-CN", "en")
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = 8 * 3600
    WTF_CSRF_TIME_LIMIT = 8 * 3600
    # Flask-WTF's https check wants a Referer, which pages with a strict referrer policy (and
    # some in-app browsers) never send; security.check_origin checks Origin, then Referer.
    WTF_CSRF_SSL_STRICT = False
    MAX_CONTENT_LENGTH = 1024 * 1024


def finalise(app):
    """Fill in settings that depend on the instance folder or on other settings."""
    config = app.config
    config["DEMO"] = _flag(config, "DEMO")
    config["REQUIRE_2FA"] = _flag(config, "REQUIRE_2FA")
    config["TRUSTED_PROXIES"] = _count(config, "TRUSTED_PROXIES")
    for name in ("STAFF_IDLE_MINUTES", "STAFF_SESSION_HOURS", "DATABASE_STATEMENT_TIMEOUT_MS"):
        config[name] = _count(config, name)
    instance = Path(app.instance_path)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _instance_secret(instance / "secret_key")
    if not app.config["DATABASE_URL"]:
        instance.mkdir(parents=True, exist_ok=True)
        app.config["DATABASE_URL"] = f"sqlite:///{instance / 'pro.db'}"
    secure = str(app.config["PUBLIC_URL"]).startswith("https://")
    # Browsers drop Secure cookies on plain http, so the flag follows the public URL:
    # every real deployment is https and gets it; the loopback demo still works.
    if secure:
        app.config["SESSION_COOKIE_SECURE"] = True
        app.config["REMEMBER_COOKIE_SECURE"] = True
    app.config["PREFERRED_URL_SCHEME"] = "https" if secure else "http"
    # The console backend shows every family's texts and live links on /dev/phone: a public
    # https site must not run it by accident, only as an explicit demo.
    if secure and config["SMS_BACKEND"] == "console" and not config["DEMO"]:
        raise ConfigError(
            "PRO_SMS_BACKEND is 'console' but PRO_PUBLIC_URL is https: set PRO_SMS_BACKEND=twilio "
            "for a real deployment, or PRO_DEMO=1 for a demonstration site"
        )


def _flag(config, name):
    """Read an on/off setting given as a bool, a number or a word."""
    value = config.get(name)
    if isinstance(value, bool | int):
        return bool(value)
    word = str(value or "").strip().lower()
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS
    raise ConfigError(f"PRO_{name} must be on or off (1 or 0), not {value!r}")


def _count(config, name):
    """Read a whole number that is zero or more."""
    value = config.get(name)
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if isinstance(value, bool) or number < 0 or str(number) != str(value).strip():
        raise ConfigError(f"PRO_{name} must be a whole number of 0 or more, not {value!r}")
    return number


def _instance_secret(path):
    """Read the instance's secret key, creating it once with owner-only permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        key = secrets.token_hex(32)
        try:
            with open(path, "x", opener=lambda p, f: __import__("os").open(p, f, 0o600)) as fh:
                fh.write(key)
        except FileExistsError:
            return path.read_text().strip()
        return key
