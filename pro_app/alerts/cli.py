"""The alerts as rows for `pro-app export alerts`, the study's safety reporting."""

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from pro_app.alerts.models import Alert, AlertOccurrence
from pro_app.participants.models import Participant

COLUMNS = ("id", "study_id", "rule", "severity", "state", "opened_at", "last_seen_at", "occurrences",
           "escalation_level", "owner", "claimed_at", "acknowledged_at", "resolved_at", "action", "note",
           "rules", "unfinished")


def _fired(session, alert_ids):
    """Return {alert id: (every rule that fired, first first; whether it came from an unfinished questionnaire)}."""
    fired = {}
    for alert_id, rule, assignment_id, response_id in session.execute(
            select(AlertOccurrence.alert_id, AlertOccurrence.rule, AlertOccurrence.assignment_id,
                   AlertOccurrence.response_id).where(AlertOccurrence.alert_id.in_(alert_ids))
            .order_by(AlertOccurrence.at, AlertOccurrence.id)):
        rules, unfinished = fired.get(alert_id, ([], False))
        if rule not in rules:
            rules.append(rule)
        fired[alert_id] = (rules, unfinished or (assignment_id is not None and response_id is None))
    return fired


def alert_rows(session, narrow=lambda stmt: stmt):
    """Yield every alert as a flat dict, oldest first (UTC times in ISO 8601).

    `narrow` narrows a statement joined to Participant, e.g. to one participant (exports' filtered).
    """
    alerts = narrow(select(Alert, Participant.study_id).join(Participant, Participant.id == Alert.participant_id))
    fired = _fired(session, alerts.with_only_columns(Alert.id))
    for alert, study_id in session.execute(alerts.options(selectinload(Alert.owner))
                                           .order_by(Alert.opened_at, Alert.id).execution_options(yield_per=500)):
        rules, unfinished = fired.get(alert.id, ([alert.rule], False))
        yield {
            "id": alert.id, "study_id": study_id, "rule": alert.rule,
            "severity": alert.severity, "state": alert.state.value,
            "opened_at": alert.opened_at.isoformat(), "last_seen_at": alert.last_seen_at.isoformat(),
            "occurrences": alert.occurrences, "escalation_level": alert.escalation_level,
            "owner": alert.owner.email if alert.owner else None,
            "claimed_at": alert.claimed_at.isoformat() if alert.claimed_at else None,
            "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None,
            "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
            "action": alert.action, "note": alert.note,
            "rules": "; ".join(rules), "unfinished": unfinished,
        }
