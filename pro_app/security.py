"""Security headers and friendly error pages."""

import logging

from flask import render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

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


def render_error(code, detail=None):
    title, hint = _messages().get(code, (_("Error"), ""))
    return render_template("error.html", code=code, title=title, hint=detail or hint), code


def init_app(app):
    app.after_request(set_headers)

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
