"""Alerts: rules on answers, the nurses' worklist and escalation."""

from flask import current_app


def settings(config):
    """Return the alert settings from the app configuration."""
    fever = config.get("FEVER_CELSIUS")
    return {
        "red_minutes": float(config["ALERT_RED_ESCALATE_MINUTES"]),
        "amber_business_days": int(config["ALERT_AMBER_ESCALATE_BUSINESS_DAYS"]),
        "fever_celsius": float(fever) if fever not in (None, "") else None,
    }


def context():
    """Return what raising an alert needs from the running app: settings, public URL, protocol."""
    return {
        "settings": settings(current_app.config),
        "public_url": current_app.config["PUBLIC_URL"].rstrip("/"),
        "protocol": current_app.extensions["pro_protocol"],
    }


def init_app(app):
    from pro_app.alerts import timeline, views

    app.register_blueprint(views.bp)
    app.register_blueprint(timeline.bp)
    app.add_template_global(views.open_alerts_of, "open_alerts_of")
    # `pro-app export alerts` is one of the exports (pro_app/exports/cli.py), built on alert_rows().
