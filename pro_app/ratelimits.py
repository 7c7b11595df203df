"""Rate-limit keys and limits: per client address, per staff account tried, per link token.

Keys never hold a raw link token or an email address: the counters may live in a shared Redis.
"""

import hashlib

from flask import current_app, request
from flask_limiter.util import get_remote_address


def _digest(kind, value):
    return f"{kind}:{hashlib.sha256(value.encode('utf-8', 'replace')).hexdigest()[:32]}"


def client_address():
    """Key a limit by the client's address (the real one behind trusted proxies)."""
    return get_remote_address() or "unknown"


def account_tried():
    """Key a login limit by the account tried, written the way login compares it."""
    email = (request.form.get("email") or "").strip().lower()[:254]
    return _digest("account", email)


def link_token():
    """Key a limit by the link token in the URL, hashed."""
    return _digest("link", str((request.view_args or {}).get("token", "")))


def failed(response):
    """Count an attempt against a login limit only when it did not log in."""
    return response.status_code != 303


def login_per_address():
    return current_app.config["LOGIN_RATE_LIMIT"]


def login_per_account():
    return current_app.config["LOGIN_ACCOUNT_RATE_LIMIT"]


def per_link():
    return current_app.config["LINK_RATE_LIMIT"]


def links_per_address():
    # Generous: families behind one carrier NAT share an address.
    return current_app.config["LINK_ADDRESS_RATE_LIMIT"]
