"""The alerts as rows for `pro-app export alerts`, the study's safety reporting."""

from sqlalchemy import select

from pro_app.alerts.models import Alert

COLUMNS = ("id", "study_id", "rule", "severity", "state", "opened_at", "last_seen_at", "occurrences",
           "escalation_level", "owner", "claimed_at", "acknowledged_at", "resolved_at", "action", "note")


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
