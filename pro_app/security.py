"""Security headers, the proxy in front, same-origin form posts and friendly error pages."""

import logging
from urllib.parse import urlsplit

from flask import current_app, g, render_template, request, session
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

log = logging.getLogger(__name__)

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


def set_headers(response):
    """Add the headers every response carries."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if request.path.startswith("/staff"):
        headers.setdefault("Cache-Control", "no-store")
    return response


def _messages():
    return {
        400: (_("The request could not be understood"), _("Please go back and try again.")),
        403: (_("Not allowed"), _("Your account cannot see or change this.")),
        404: (_("Page not found"), _("The link may be mistyped or out of date.")),
        405: (_("Not allowed"), _("This page cannot be used that way.")),
        413: (_("Too much data"), _("The form sent was too large.")),
        429: (_("Too many attempts"), _("Please wait a minute and try again.")),
        500: (_("Something went wrong"), _("The error has been logged. Please try again later.")),
        503: (_("Service unavailable"), _("Please try again in a few minutes.")),
    }


#: Pages a family reaches from a text: their error pages offer the study hotline, not the staff login.
PATIENT_PREFIXES = ("/q/", "/cal/", "/p/")
DEFAULT_PORTS = {"http": 80, "https": 443}


def is_patient_page():
    """Tell whether this request is for a respondent's page."""
    return request.path.startswith(PATIENT_PREFIXES) or request.path == "/q"


def render_error(code, detail=None):
    title, hint = _messages().get(code, (_("Error"), ""))
    return render_template("error.html", code=code, title=title, hint=detail or hint,
                           patient_page=is_patient_page()), code


def origin_of(url):
    """Return scheme://host[:port] of a URL, lower-case and without a default port; None if it has none."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except (ValueError, AttributeError):
        return None
    if not parts.scheme or not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def is_same_origin(origin, referrer, own_origins):
    """Decide whether a form post came from our own pages.

    A browser sends Origin on every form post; "null" (privacy settings, some in-app browsers)
    says nothing, and then the Referer decides when there is one. With neither, the CSRF token
    alone has to do: it is tied to the session cookie, which is SameSite.
    """
    if origin and origin.strip() != "null":
        return origin_of(origin) in own_origins
    if referrer:
        return origin_of(referrer) in own_origins
    return True


def check_origin():
    """Refuse a form post whose Origin or Referer names another site."""
    own = {origin_of(request.host_url), origin_of(str(current_app.config["PUBLIC_URL"]))}
    if not is_same_origin(request.headers.get("Origin"), request.headers.get("Referer"), own):
        log.info("form post from another origin refused on %s", request.path)
        raise CSRFError("The request came from another site.")


def _database_unavailable(exc):
    """Answer 503 with a calm page when the database cannot be reached or does not answer in time."""
    from flask_login import AnonymousUserMixin

    from pro_app.db import db
    from pro_app.i18n import LOCALES

    log.warning("database unavailable on %s %s (%s)", request.method, request.path, type(exc).__name__)
    try:
        db.session.remove()
    except Exception:  # the connection is already broken: nothing in the session is worth keeping
        log.debug("discarding the session failed", exc_info=True)
    # The page must not ask the database anything: who is logged in, or which respondent this is.
    g._login_user = AnonymousUserMixin()
    # The staff member's language was put in the session at login; respondents without a
    # chosen language get the study default.
    fallback = "zh-CN" if is_patient_page() else session.get("staff_lang")
    if fallback in LOCALES:
        g.respondent_language = fallback
    body, code = render_error(503)
    return body, code, {"Retry-After": "30", "Cache-Control": "no-store"}


def init_app(app):
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:
        # Only as many X-Forwarded-* hops as there are proxies of ours: a client cannot forge the rest.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies)
    app.after_request(set_headers)
    for error in (OperationalError, PoolTimeoutError, DisconnectionError):
        app.register_error_handler(error, _database_unavailable)

    @app.errorhandler(CSRFError)
    def _csrf(exc):
        return render_error(400, _("The form had expired or was sent from elsewhere. Reload the page and try again."))

    @app.errorhandler(HTTPException)
    def _http(exc):
        return render_error(exc.code or 500)

    @app.errorhandler(Exception)
    def _unexpected(exc):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render_error(500)
