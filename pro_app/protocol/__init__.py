"""The study protocol and the visit planner."""

from flask import current_app

from pro_app.protocol.model import Protocol, ProtocolError, load_protocol  # noqa: F401


def init_app(app):
    """Load the protocol once, failing fast with a clear message when it is invalid."""
    app.extensions["pro_protocol"] = load_protocol(app.config.get("PROTOCOL_FILE"))


def current_protocol() -> Protocol:
    """Return the protocol loaded for this app."""
    return current_app.extensions["pro_protocol"]
