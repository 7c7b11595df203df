"""pro_app: patient-reported outcomes and SMS reminders for a phase II trial."""

import functools
import hashlib
import logging
import os
from pathlib import Path

from flask import Flask, redirect, url_for

from pro_app import config

ROOT = Path(__file__).resolve().parent.parent
#: Where a built wheel carries the top-level templates/, static/ and questionnaires/ (setup.py).
BUNDLED = Path(__file__).resolve().parent / "_bundled"


def is_checkout():
    """Tell whether the app runs from the repository rather than from an installed wheel."""
    # A checkout or an editable install has no copy of the top-level folders in the package.
    return not BUNDLED.is_dir()


def resource_folder(name):
    """Return the folder of templates, static files or shipped instruments."""
    # An installed wheel reads its own copy only: in site-packages, ROOT/name may belong to another package.
    return (ROOT if is_checkout() else BUNDLED) / name


@functools.lru_cache(maxsize=64)
def _content_hash(folder, filename):
    try:
        return hashlib.sha256((Path(folder) / filename).read_bytes()).hexdigest()[:12]
    except OSError:
        return None


def create_app(test_config=None, instance_path=None):
    """Create and configure the Flask application."""
    app = Flask(
        __name__,
        # An installed app's default instance folder is inside its virtualenv; services set their own.
        instance_path=instance_path or os.environ.get("PRO_INSTANCE_PATH") or None,
        instance_relative_config=True,
        template_folder=str(resource_folder("templates")),
        static_folder=str(resource_folder("static")),
    )
    app.config.from_object(config.Defaults)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("PRO")
    if test_config is not None:
        app.config.update(test_config)
    config.finalise(app)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # The SDK logs every request with its parameters: phone numbers and text bodies.
    logging.getLogger("twilio").setLevel(logging.WARNING)

    from pro_app import (
        alerts,
        audit,
        cli,
        consent,
        demo,
        exports,
        health,
        i18n,
        inputs,
        oncall,
        overview,
        participants,
        protocol,
        questionnaires,
        reminders,
        scheduler,
        security,
        sms,
        staff,
        timefmt,
        visits,
    )
    from pro_app.db import db
    from pro_app.extensions import csrf, limiter

    db.init_app(app)
    inputs.init_app(app)
    protocol.init_app(app)
    questionnaires.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    i18n.init_app(app)
    timefmt.init_app(app)
    security.init_app(app)
    staff.init_app(app)
    participants.init_app(app)
    visits.init_app(app)
    audit.init_app(app)
    oncall.init_app(app)
    consent.init_app(app)
    alerts.init_app(app)
    overview.init_app(app)
    exports.init_app(app)
    reminders.init_app(app)
    sms.init_app(app)
    scheduler.init_app(app)
    app.register_blueprint(health.bp)
    demo.init_app(app)
    cli.init_app(app)

    @app.url_defaults
    def static_version(endpoint, values):
        # nginx serves static files with year-long, immutable cache lifetimes (deploy/nginx):
        # a changed file must get a new URL, so each carries a hash of its content.
        if endpoint == "static" and "filename" in values:
            values.setdefault("v", _content_hash(app.static_folder, values["filename"]))

    @app.get("/")
    def index():
        return redirect(url_for("staff.home"))

    return app
