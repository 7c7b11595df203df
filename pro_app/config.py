"""Configuration defaults and the derived settings computed once per app."""

import secrets
from pathlib import Path


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
    TWILIO_TIMEOUT = 10
    SCHEDULER_INTERVAL_SECONDS = 3
    ALERT_RED_ESCALATE_MINUTES = 15
    ALERT_AMBER_ESCALATE_BUSINESS_DAYS = 1
    FEVER_CELSIUS = 38.0
    TIMEZONE = "Asia/Shanghai"
    PROTOCOL_FILE = None
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    LOGIN_RATE_LIMIT = "10 per minute;50 per hour"
    BABEL_DEFAULT_LOCALE = "zh_CN"
    BABEL_DEFAULT_TIMEZONE = "UTC"
    LANGUAGES = ("zh-CN", "en")
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = 8 * 3600
    WTF_CSRF_TIME_LIMIT = 8 * 3600
    MAX_CONTENT_LENGTH = 1024 * 1024


def finalise(app):
    """Fill in settings that depend on the instance folder or on other settings."""
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
