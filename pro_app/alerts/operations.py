"""Raising, escalating and closing alerts; callers own the transaction."""

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from pro_app.alerts.models import ACTIVE, Alert, AlertOccurrence, AlertState
from pro_app.alerts.rules import evaluate, missed_finding, missed_in_a_row, unreachable_finding
from pro_app.audit.operations import SYSTEM, Actor, record
from pro_app.clock import local_to_utc, to_local
from pro_app.participants.models import Contact
from pro_app.questionnaires.models import Assignment, AssignmentState, Response
from pro_app.reminders.operations import enqueue, message_row
from pro_app.reminders.texts import render
from pro_app.sms.models import Message
from pro_app.staff.models import StaffRole, StaffUser


class AlertChangeError(ValueError):
    """A worklist step that does not fit the alert's state."""


def next_escalation(severity, since, settings, tz):
    """Return when an unacknowledged alert escalates: minutes for red, business days for amber."""
    if severity == "red":
        return since + timedelta(minutes=settings["red_minutes"])
    local = to_local(since, tz)
    day, left = local.date(), settings["amber_business_days"]
    while left:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return local_to_utc(day, local.time().replace(tzinfo=None), tz)


def recipients(session, level):
    """Return who is texted: the on-call nurses first, then investigators, then everyone responsible."""
    staff = session.scalars(select(StaffUser).where(StaffUser.active.is_(True), StaffUser.phone.is_not(None))
                            .order_by(StaffUser.id)).all()
    on_call = [s for s in staff if s.on_call]
    investigators = [s for s in staff if s.role == StaffRole.INVESTIGATOR]
    if level == 0:
        return on_call or investigators
    if level == 1:
        return investigators or on_call
    return [s for s in staff if s.on_call or s.role in (StaffRole.INVESTIGATOR, StaffRole.ADMIN)]


def notify(session, alert, level, *, now, public_url, protocol):
    """Queue the alert text for this escalation level; return the dedupe keys queued."""
    keys = []
    rows = []
    for person in recipients(session, level):
        lang = person.language if person.language in protocol.site_name else "zh-CN"
        # The severity is in the key: after amber turns red, the red texts of each level must
        # not be taken for the amber ones already sent at that level.
        key = f"alert:{alert.id}:{alert.severity}:l{level}:s{person.id}"
        keys.append(key)
        rows.append(message_row(
            key=key, participant_id=None, contact_id=None, phone=person.phone, template="staff_alert",
            language=lang, due_at=now, ignore_quiet_hours=True, now=now,
            body=render("staff_alert", lang, site=protocol.site_name[lang], study_id=alert.participant.study_id,
                        severity=SEVERITY_WORDS[lang][alert.severity], level=level,
                        url=f"{public_url}/staff/alerts/{alert.id}"),
        ))
    enqueue(session, rows)
    return keys


SEVERITY_WORDS = {"zh-CN": {"red": "红色", "amber": "黄色"}, "en": {"red": "RED", "amber": "AMBER"}}


def raise_findings(session, participant, findings, *, now, settings, public_url, protocol, response=None):
    """Open an alert per new finding or attach it to the active one; return keys of texts to send now."""
    keys = []
    for finding in findings:
        alert = _active(session, participant.id, finding.rule)
        if alert is None:
            alert = Alert(participant=participant, rule=finding.rule, severity=finding.severity,
                          detail=finding.detail, response_id=response.id if response else None,
                          opened_at=now, last_seen_at=now, state=AlertState.OPEN,
                          next_escalation_at=next_escalation(finding.severity, now, settings, protocol.timezone))
            try:
                with session.begin_nested():
                    session.add(alert)
                    session.flush()
            except IntegrityError:  # another request opened it a moment ago
                alert = _active(session, participant.id, finding.rule)
            else:
                record(session, actor=SYSTEM, action="alert.opened", entity="alert", entity_id=alert.id,
                       participant_id=participant.id, now=now,
                       after={"rule": finding.rule, "severity": finding.severity})
                if finding.severity == "red":
                    keys += notify(session, alert, 0, now=now, public_url=public_url, protocol=protocol)
                _occurrence(session, alert, finding, now, response)
                continue
        alert.occurrences += 1
        alert.last_seen_at = now
        if finding.severity == "red" and alert.severity != "red":
            # Worse than when it opened: the nurses hear now, and the red clock starts.
            alert.severity, alert.escalation_level = "red", 0
            if alert.state == AlertState.OPEN:
                alert.next_escalation_at = next_escalation("red", now, settings, protocol.timezone)
            keys += notify(session, alert, 0, now=now, public_url=public_url, protocol=protocol)
        _occurrence(session, alert, finding, now, response)
    session.flush()
    return keys


def _active(session, participant_id, rule):
    return session.scalar(select(Alert).where(Alert.participant_id == participant_id, Alert.rule == rule,
                                              Alert.state.in_(ACTIVE)))


def _occurrence(session, alert, finding, now, response):
    session.add(AlertOccurrence(alert_id=alert.id, at=now, severity=finding.severity, detail=finding.detail,
                                response_id=response.id if response else None))


def assess_response(session, response, instrument, *, now, settings, public_url, protocol):
    """Evaluate a new response against the respondent's previous and baseline answers."""
    earlier = session.scalars(
        select(Response).where(Response.contact_id == response.contact_id,
                               Response.instrument_id == response.instrument_id, Response.id != response.id,
                               Response.submitted_at <= response.submitted_at)
        .order_by(Response.submitted_at, Response.id)
    ).all()
    previous, baseline = (earlier[-1], earlier[0]) if earlier else (None, None)
    findings = evaluate(
        instrument, response.answers, response.scores,
        previous=previous.answers if previous else None, baseline=baseline.answers if baseline else None,
        previous_scores=previous.scores if previous else None, baseline_scores=baseline.scores if baseline else None,
        fever_celsius=settings.get("fever_celsius"),
    )
    keys = raise_findings(session, response.assignment.participant, findings, now=now, settings=settings,
                          public_url=public_url, protocol=protocol, response=response)
    return findings, keys


def missed_questionnaires(session, assignment_ids, *, now, settings, public_url, protocol):
    """Raise an amber alert when a respondent has now missed two questionnaires in a row."""
    keys = []
    seen = set()  # windows closing together (baseline and quality of life) are one miss to report
    for assignment in session.scalars(select(Assignment).where(Assignment.id.in_(assignment_ids))
                                      .order_by(Assignment.closes_at, Assignment.id)):
        if assignment.contact_id in seen:
            continue
        states = session.scalars(
            select(Assignment.state).where(Assignment.contact_id == assignment.contact_id,
                                           Assignment.state.in_((AssignmentState.COMPLETED, AssignmentState.EXPIRED)),
                                           Assignment.closes_at <= assignment.closes_at)
            .order_by(Assignment.closes_at.desc()).limit(2)
        ).all()
        if missed_in_a_row([s.value for s in reversed(states)]):
            seen.add(assignment.contact_id)
            keys += raise_findings(session, assignment.participant, [missed_finding(assignment.instrument_id, 2)],
                                   now=now, settings=settings, public_url=public_url, protocol=protocol)
    return keys


def unreachable_contact(session, phone, reason, *, now, settings, public_url, protocol, error_code=None):
    """Raise an amber alert for each participant a number that can no longer be reached belongs to."""
    participants = {c.participant for c in session.scalars(select(Contact).where(Contact.phone == phone))}
    for participant in participants:
        raise_findings(session, participant, [unreachable_finding(reason, error_code)], now=now, settings=settings,
                       public_url=public_url, protocol=protocol)


def escalate(session, *, now, settings, public_url, protocol):
    """Escalate every unacknowledged alert whose time has come; return how many escalated."""
    due = session.scalars(
        select(Alert).where(Alert.state == AlertState.OPEN, Alert.next_escalation_at <= now)
        .order_by(Alert.next_escalation_at).with_for_update(skip_locked=True)
    ).all()
    for alert in due:
        alert.escalation_level += 1
        notify(session, alert, alert.escalation_level, now=now, public_url=public_url, protocol=protocol)
        alert.next_escalation_at = next_escalation(alert.severity, now, settings, protocol.timezone)
        record(session, actor=SYSTEM, action="alert.escalated", entity="alert", entity_id=alert.id,
               participant_id=alert.participant_id, now=now, after={"level": alert.escalation_level})
    session.flush()
    return len(due)


def _step(session, alert, staff, now, action, before, after, reason=None):
    record(session, actor=Actor.staff(staff), action=f"alert.{action}", entity="alert", entity_id=alert.id,
           participant_id=alert.participant_id, now=now, before=before, after=after, reason=reason)
    session.flush()


def claim(session, alert, staff, now):
    """Take an alert: the worklist shows who is on it."""
    if not alert.is_active:
        raise AlertChangeError("resolved")
    before = {"owner": alert.owner.email if alert.owner else None}
    alert.owner, alert.claimed_at = staff, now
    _step(session, alert, staff, now, "claimed", before, {"owner": staff.email})


def acknowledge(session, alert, staff, now):
    """Acknowledge an alert: a person has it in hand, so it stops escalating."""
    if alert.state != AlertState.OPEN:
        raise AlertChangeError(alert.state.value)
    alert.state, alert.acknowledged_at, alert.next_escalation_at = AlertState.ACKNOWLEDGED, now, None
    if alert.owner is None:
        alert.owner, alert.claimed_at = staff, now
    _step(session, alert, staff, now, "acknowledged", {"state": "open"}, {"state": "acknowledged"})


def resolve(session, alert, staff, now, *, action, note):
    """Close an alert with the action taken and a note."""
    if not alert.is_active:
        raise AlertChangeError("resolved")
    before = {"state": alert.state.value}
    if alert.acknowledged_at is None:
        alert.acknowledged_at = now
    alert.state, alert.resolved_at, alert.next_escalation_at = AlertState.RESOLVED, now, None
    alert.action, alert.note = action, note
    _step(session, alert, staff, now, "resolved", before, {"state": "resolved", "action": action}, reason=note)


def pending_keys_to_ids(session, keys):
    """Turn dedupe keys into message ids (for sending them right away)."""
    if not keys:
        return []
    return session.scalars(select(Message.id).where(Message.dedupe_key.in_(keys))).all()


