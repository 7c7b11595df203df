"""pro-app export alerts: the study's safety reporting."""

import json
import sys

import click
from flask.cli import AppGroup
from sqlalchemy import select

from pro_app.alerts.models import Alert
from pro_app.db import db
from pro_app.exports.csvfile import write_rows

COLUMNS = ("id", "study_id", "rule", "severity", "state", "opened_at", "last_seen_at", "occurrences",
           "escalation_level", "owner", "claimed_at", "acknowledged_at", "resolved_at", "action", "note")


@click.group("export", cls=AppGroup)
def export_cli():
    """Export study data."""


def alert_rows(session):
    """Yield every alert as a flat dict, oldest first (UTC times in ISO 8601)."""
    for alert in session.scalars(select(Alert).order_by(Alert.opened_at, Alert.id)):
        yield {
            "id": alert.id, "study_id": alert.participant.study_id, "rule": alert.rule,
            "severity": alert.severity, "state": alert.state.value,
            "opened_at": alert.opened_at.isoformat(), "last_seen_at": alert.last_seen_at.isoformat(),
            "occurrences": alert.occurrences, "escalation_level": alert.escalation_level,
            "owner": alert.owner.email if alert.owner else None,
            "claimed_at": alert.claimed_at.isoformat() if alert.claimed_at else None,
            "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None,
            "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
            "action": alert.action, "note": alert.note,
        }


@export_cli.command("alerts")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="File to write (default: stdout).")
def export_alerts(fmt, out):
    """Export every alert with its triage for safety reporting."""
    rows = list(alert_rows(db.session))
    handle = open(out, "w", newline="", encoding="utf-8") if out else sys.stdout  # noqa: SIM115
    try:
        if fmt == "json":
            json.dump(rows, handle, ensure_ascii=False, indent=1)
            handle.write("\n")
        else:
            write_rows(handle, COLUMNS, rows)
    finally:
        if out:
            handle.close()
    if out:
        click.echo(f"wrote {len(rows)} alert(s) to {out}", err=True)
