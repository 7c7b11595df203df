"""Visits, messages, alerts, the audit log and contacts as flat rows, streamed."""

import json
from datetime import date

from sqlalchemy import select

from pro_app.alerts.cli import alert_rows as all_alerts
from pro_app.alerts.models import Alert
from pro_app.audit.models import AuditEvent
from pro_app.exports.records import BATCH, filtered, local_iso, study_day
from pro_app.participants.models import Contact, Participant
from pro_app.sms.models import Message, MessageState
from pro_app.visits.models import Visit

VISIT_COLUMNS = (
    "visit_id", "study_id", "kind", "protocol_key", "label", "dose_number", "planned_local_date",
    "planned_study_day", "scheduled_local_date", "scheduled_local_time", "scheduled_study_day", "starts_at_utc",
    "window_opens_on", "window_closes_on", "status", "actual_local_date", "moves", "updated_at_utc",
)
MESSAGE_COLUMNS = (
    "message_id", "study_id", "recipient_role", "kind", "step", "language", "visit_id", "assignment_id",
    "state", "state_reason", "attempts", "due_at_utc", "sent_at_utc", "delivered_at_utc", "failed", "error_code",
    "created_at_utc",
)
AUDIT_COLUMNS = ("event_id", "at_utc", "actor", "action", "entity", "entity_id", "study_id", "before", "after",
                 "reason")
CONTACT_COLUMNS = ("contact_id", "study_id", "role", "name", "phone", "language", "timezone",
                   "receives_visit_reminders", "receives_questionnaires", "consent_at_utc")
#: Moves of a visit as the audit log records them (a moved visit and the later ones shifted with it).
MOVES = ("visit.moved", "visit.shifted")
FAILED = {MessageState.FAILED, MessageState.UNDELIVERED}
#: Keys of audit snapshots that hold a person's name or number: never in an export but contacts.
PRIVATE_KEYS = ("phone", "name", "body", "to", "from")


def _iso(instant):
    return instant.isoformat() if instant else None


def visit_moves(session):
    """Return {visit id: (number of moves, the local date first planned)} from the audit log."""
    moves = {}
    stmt = (select(AuditEvent.entity_id, AuditEvent.before).where(AuditEvent.entity == "visit",
                                                                  AuditEvent.action.in_(MOVES))
            .order_by(AuditEvent.id).execution_options(yield_per=BATCH))
    for visit_id, before in session.execute(stmt):
        count, first = moves.get(visit_id, (0, None))
        moves[visit_id] = (count + 1, first or (before or {}).get("local_date"))
    return moves


def visit_rows(session, filters):
    """Yield every visit: planned (as first scheduled), scheduled now, status, and how often it moved."""
    moves = visit_moves(session)
    stmt = (select(Visit, Participant.study_id, Participant.timezone, Participant.start_date)
            .join(Participant, Participant.id == Visit.participant_id)
            .order_by(Participant.study_id, Visit.starts_at, Visit.id).execution_options(yield_per=BATCH))
    for visit, sid, tz, start in session.execute(filtered(stmt, filters, Visit.updated_at)):
        local = local_iso(visit.starts_at, tz)
        local_date = local[:10]
        count, first = moves.get(visit.id, (0, None))
        planned = first or local_date
        yield {
            "visit_id": visit.id, "study_id": sid, "kind": visit.kind.value, "protocol_key": visit.protocol_key,
            "label": visit.label, "dose_number": visit.dose_number, "planned_local_date": planned,
            "planned_study_day": _day(start, planned), "scheduled_local_date": local_date,
            "scheduled_local_time": local[11:16], "scheduled_study_day": _day(start, local_date),
            "starts_at_utc": visit.starts_at.isoformat(), "window_opens_on": visit.window_opens_on.isoformat(),
            "window_closes_on": visit.window_closes_on.isoformat(), "status": visit.status.value,
            "actual_local_date": local_date if visit.status.value == "done" else None, "moves": count,
            "updated_at_utc": visit.updated_at.isoformat(),
        }


def _day(start, iso_date):
    return study_day(start, date.fromisoformat(iso_date))


def message_step(template, dedupe_key):
    """Name a text's step: a visit reminder's is the last part of its dedupe key (2 days before, ...)."""
    if template == "visit_reminder":
        return dedupe_key.rsplit(":", 1)[-1]
    return template


def message_rows(session, filters):
    """Yield every text in the outbox: kind, step, states and times; never its body or number."""
    stmt = (select(Message.id, Participant.study_id, Contact.role, Message.template, Message.dedupe_key,
                   Message.language, Message.visit_id, Message.assignment_id, Message.state, Message.state_reason,
                   Message.attempts, Message.due_at, Message.sent_at, Message.delivered_at, Message.error_code,
                   Message.created_at)
            .outerjoin(Participant, Participant.id == Message.participant_id)
            .outerjoin(Contact, Contact.id == Message.contact_id)
            .order_by(Message.id).execution_options(yield_per=BATCH))
    for (mid, sid, role, template, key, lang, visit_id, assignment_id, state, reason, attempts, due, sent,
         delivered, error, created) in session.execute(filtered(stmt, filters, Message.created_at)):
        yield {
            "message_id": mid, "study_id": sid, "recipient_role": role.value if role else "staff",
            "kind": template, "step": message_step(template, key), "language": lang, "visit_id": visit_id,
            "assignment_id": assignment_id, "state": state.value, "state_reason": reason, "attempts": attempts,
            "due_at_utc": _iso(due), "sent_at_utc": _iso(sent), "delivered_at_utc": _iso(delivered),
            "failed": int(state in FAILED), "error_code": error, "created_at_utc": _iso(created),
        }


def scrub(value):
    """Return an audit snapshot with every name and phone number taken out."""
    if isinstance(value, dict):
        return {k: ("[removed]" if any(p in k.lower() for p in PRIVATE_KEYS) else scrub(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def audit_rows(session, filters):
    """Yield every audit event, oldest first, with names and phone numbers taken out of its snapshots."""
    stmt = (select(AuditEvent, Participant.study_id)
            .outerjoin(Participant, Participant.id == AuditEvent.participant_id)
            .order_by(AuditEvent.id).execution_options(yield_per=BATCH))
    for event, sid in session.execute(filtered(stmt, filters, AuditEvent.at)):
        yield {
            "event_id": event.id, "at_utc": event.at.isoformat(), "actor": event.actor, "action": event.action,
            "entity": event.entity, "entity_id": event.entity_id, "study_id": sid,
            "before": snapshot_json(event.before), "after": snapshot_json(event.after), "reason": event.reason,
        }


def _json(value):
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def snapshot_json(value):
    """Return an audit snapshot as JSON for a file, names and phone numbers taken out."""
    return _json(scrub(value))


def alert_rows(session, filters):
    """Yield every alert with its triage (the safety report's rows), filtered."""
    return all_alerts(session, lambda stmt: filtered(stmt, filters, Alert.opened_at))


def contact_rows(session, filters):
    """Yield every contact with name and number: for administrators only."""
    stmt = (select(Contact, Participant.study_id).join(Participant, Participant.id == Contact.participant_id)
            .order_by(Participant.study_id, Contact.id).execution_options(yield_per=BATCH))
    for contact, sid in session.execute(filtered(stmt, filters, Contact.created_at)):
        yield {
            "contact_id": contact.id, "study_id": sid, "role": contact.role.value, "name": contact.name,
            "phone": contact.phone, "language": contact.language, "timezone": contact.timezone,
            "receives_visit_reminders": int(contact.receives_visit_reminders),
            "receives_questionnaires": int(contact.receives_questionnaires),
            "consent_at_utc": _iso(contact.consent_at),
        }
