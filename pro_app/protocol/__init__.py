"""The study protocol and the visit planner."""

from flask import current_app

from pro_app.protocol.hotline import Hotline, hotline  # noqa: F401
from pro_app.protocol.model import Protocol, ProtocolError, load_protocol  # noqa: F401


def init_app(app):
    """Load the protocol once, failing fast with a clear message when it is invalid."""
    app.extensions["pro_protocol"] = load_protocol(app.config.get("PROTOCOL_FILE"))
    line = app.extensions["pro_protocol"].hotline

    # Every page (patient pages, error pages) can show the hotline: {{ hotline.tel }}, {{ hotline.display }}.
    @app.context_processor
    def _hotline():
        return {"hotline": line}


def current_hotline() -> Hotline:
    """Return the study hotline, as a tel: target and as families write it."""
    return current_protocol().hotline


def current_protocol() -> Protocol:
    """Return the protocol loaded for this app."""
    return current_app.extensions["pro_protocol"]
