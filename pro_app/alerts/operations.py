"""Raising, escalating and closing alerts; callers own the transaction."""

import re
from datetime import timedelta

from sqlalchemy import and_, func, or_, select, update

from pro_app.alerts.episodes import headline, joins, nurse_text_due, rises
from pro_app.alerts.models import ACTIVE, Alert, AlertOccurrence, AlertState
from pro_app.alerts.phones import BLOCKED, FAILED_LAST, phone_problems
from pro_app.alerts.rules import evaluate, missed_finding, missed_in_a_row, unreachable_finding
from pro_app.audit.operations import SYSTEM, Actor, record
from pro_app.clock import local_to_utc, to_local
from pro_app.oncall.operations import on_call_at
from pro_app.participants.models import Contact, Participant
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


#: The highest escalation level: everyone responsible.
TOP_LEVEL = 2


def recipients(session, level, now=None):
    """Return who is texted: the on-call nurses first, then investigators, then everyone responsible.

    On call means on the rota's shift at `now`; with no one on shift, the accounts marked on call.
    """
    staff = session.scalars(select(StaffUser).where(StaffUser.active.is_(True), StaffUser.phone.is_not(None))
                            .order_by(StaffUser.id)).all()
    on_shift = on_call_at(session, now) if now is not None else []
    on_call = on_shift or [s for s in staff if s.on_call]
    investigators = [s for s in staff if s.role == StaffRole.INVESTIGATOR]
    if level == 0:
        return on_call or investigators
    if level == 1:
        return investigators or on_call
    on_call_ids = {s.id for s in on_call}
    return [s for s in staff if s.id in on_call_ids or s.role in (StaffRole.INVESTIGATOR, StaffRole.ADMIN)]


def notify(session, alert, level, *, now, public_url, protocol, due=None):
    """Queue the alert text for this escalation level; return the dedupe keys queued.

    A recipient whose number is opted out or unreachable is not texted, and one whose last text
    went undelivered may not get this one: either way the next level is texted at once, and the
    alert's level is where the texts went.
    """
    keys, rows, texted = [], [], set()
    due = due or now
    while True:
        people = recipients(session, level, now)
        problems = phone_problems(session, [p.phone for p in people])
        for person in people:
            if person.id in texted or problems.get(person.phone) in BLOCKED:
                continue
            texted.add(person.id)
            lang = person.language if person.language in protocol.site_name else "zh-CN"
            # The severity is in the key: after amber turns red, the red texts of each level must
            # not be taken for the amber ones already sent at that level.
            key = f"alert:{alert.id}:{alert.severity}:l{level}:s{person.id}"
            keys.append(key)
            rows.append(message_row(
                key=key, participant_id=None, contact_id=None, phone=person.phone, template="staff_alert",
                language=lang, due_at=due, ignore_quiet_hours=True, now=now,
                body=render("staff_alert", lang, site=protocol.site_name[lang], study_id=alert.participant.study_id,
                            severity=SEVERITY_WORDS[lang][alert.severity], notice=level + 1,
                            url=f"{public_url}/staff/alerts/{alert.id}"),
            ))
        troubled = {p.email: problems[p.phone] for p in people if p.phone in problems}
        if (people and not troubled) or level >= TOP_LEVEL:
            break
        record(session, actor=SYSTEM, action="alert.rerouted", entity="alert", entity_id=alert.id,
               participant_id=alert.participant_id, now=now,
               after={"from_level": level, "to_level": level + 1, "phones": troubled or "nobody to text"})
        level += 1
    alert.escalation_level = level
    enqueue(session, rows)
    return keys


SEVERITY_WORDS = {"zh-CN": {"red": "红色", "amber": "黄色"}, "en": {"red": "RED", "amber": "AMBER"}}


def raise_findings(session, participant, findings, *, now, settings, public_url, protocol, response=None,
                   assignment=None):
    """Put findings into the participant's episode (or open one); return keys of texts to send now.

    Findings of one questionnaire (a response, or an `assignment` still being answered) go to its
    episode; other findings join the participant's open episode unless it was acknowledged or is
    over a day old. A red episode, new or worsened, texts the on-call nurse.
    """
    if not findings:
        return []
    # One episode at a time per participant: concurrent answers wait here rather than open two.
    session.execute(select(Participant.id).where(Participant.id == participant.id).with_for_update())
    assignment_id = assignment.id if assignment is not None else (response.assignment_id if response else None)
    top = headline(findings)
    alert = _episode(session, participant.id, assignment_id, now)
    keys = []
    if alert is None:
        alert = Alert(participant=participant, rule=top.rule, severity=top.severity, detail=top.detail,
                      response_id=response.id if response else None, opened_at=now, last_seen_at=now,
                      state=AlertState.OPEN, occurrences=0,
                      next_escalation_at=next_escalation(top.severity, now, settings, protocol.timezone))
        session.add(alert)
        session.flush()
        record(session, actor=SYSTEM, action="alert.opened", entity="alert", entity_id=alert.id,
               participant_id=participant.id, now=now,
               after={"rule": top.rule, "severity": top.severity, "rules": [f.rule for f in findings]})
        if top.severity == "red":
            keys += _text_nurse(session, alert, now=now, settings=settings, public_url=public_url,
                                protocol=protocol)
    else:
        alert.last_seen_at = now
        if alert.response_id is None and response is not None:
            alert.response_id = response.id
        if rises(alert.severity, top.severity):
            # Worse than before: the headline changes, the nurses hear now and the clock restarts.
            before = {"severity": alert.severity, "rule": alert.rule}
            alert.severity, alert.rule, alert.detail, alert.escalation_level = top.severity, top.rule, top.detail, 0
            if alert.state == AlertState.OPEN:
                alert.next_escalation_at = next_escalation(top.severity, now, settings, protocol.timezone)
            record(session, actor=SYSTEM, action="alert.worsened", entity="alert", entity_id=alert.id,
                   participant_id=participant.id, now=now, before=before,
                   after={"severity": top.severity, "rule": top.rule})
            if top.severity == "red":
                keys += _text_nurse(session, alert, now=now, settings=settings, public_url=public_url,
                                    protocol=protocol, rose=True)
    recorded = {}
    if assignment_id is not None:
        recorded = {o.rule: o for o in session.scalars(select(AlertOccurrence).where(
            AlertOccurrence.alert_id == alert.id, AlertOccurrence.assignment_id == assignment_id))}
    for finding in findings:
        _occurrence(session, alert, finding, now, response, assignment_id, recorded)
    session.flush()
    return keys


def _episode(session, participant_id, assignment_id, now):
    """Return the active episode new findings join, or None when they open a new one."""
    if assignment_id is not None:
        alert = session.scalar(
            select(Alert).join(AlertOccurrence, AlertOccurrence.alert_id == Alert.id)
            .where(AlertOccurrence.assignment_id == assignment_id, Alert.state.in_(ACTIVE))
            .order_by(Alert.id.desc()).limit(1))
        if alert is not None:
            return alert
    alert = session.scalar(select(Alert).where(Alert.participant_id == participant_id, Alert.state.in_(ACTIVE))
                           .order_by(Alert.opened_at.desc(), Alert.id.desc()).limit(1))
    if alert is None or not joins(state=alert.state.value, opened_at=alert.opened_at, now=now,
                                  same_questionnaire=False):
        return None
    return alert


def _text_nurse(session, alert, *, now, settings, public_url, protocol, rose=False):
    """Queue the level-0 texts of a new or worsened red episode, spaced per participant; return keys due now."""
    last = session.scalar(select(func.max(Alert.nurse_texted_at)).where(Alert.participant_id == alert.participant_id))
    due = nurse_text_due(now, last, rose=rose)
    alert.nurse_texted_at = due
    if alert.state == AlertState.OPEN:
        # A text held back by the 15-minute spacing gives the nurse the full time before escalating.
        alert.next_escalation_at = next_escalation(alert.severity, due, settings, protocol.timezone)
    keys = notify(session, alert, 0, now=now, public_url=public_url, protocol=protocol, due=due)
    return keys if due <= now else []


def _occurrence(session, alert, finding, now, response, assignment_id, recorded):
    """Record a fired rule in its episode; the same rule again in the same questionnaire updates its row.

    `recorded` is {rule: occurrence} of this episode and questionnaire (empty without one).
    """
    row = recorded.get(finding.rule)
    if row is None:
        alert.occurrences += 1
        row = AlertOccurrence(alert_id=alert.id, rule=finding.rule, label=finding.label, at=now,
                              severity=finding.severity, detail=finding.detail,
                              response_id=response.id if response else None, assignment_id=assignment_id)
        session.add(row)
        if assignment_id is not None:
            recorded[finding.rule] = row
        return
    row.severity, row.detail, row.label = finding.severity, finding.detail, finding.label
    if response is not None:
        row.response_id = response.id


def _earlier(session, contact_id, instrument_id, before, exclude=None):
    """Return (previous, baseline) responses of a respondent to an instrument submitted by `before`."""
    earlier = select(Response.id).where(Response.contact_id == contact_id, Response.instrument_id == instrument_id,
                                        Response.id != (exclude or 0), Response.submitted_at <= before)
    # Only the first and the last are compared with: a year of weekly answers stays in the database.
    first = earlier.order_by(Response.submitted_at, Response.id).limit(1).scalar_subquery()
    last = earlier.order_by(Response.submitted_at.desc(), Response.id.desc()).limit(1).scalar_subquery()
    found = session.scalars(select(Response).where(Response.id.in_([first, last]))
                            .order_by(Response.submitted_at, Response.id)).all()
    return (found[-1], found[0]) if found else (None, None)


def _fresh(session, assignment_id, findings):
    """Keep the findings not yet recorded, at this severity, for this questionnaire."""
    if not findings:
        return []
    recorded = dict(session.execute(select(AlertOccurrence.rule, AlertOccurrence.severity)
                                    .where(AlertOccurrence.assignment_id == assignment_id)).all())
    return [f for f in findings if recorded.get(f.rule) != f.severity]


def _evaluate(instrument, answers, scores, previous, baseline, settings):
    return evaluate(
        instrument, answers, scores,
        previous=previous.answers if previous else None, baseline=baseline.answers if baseline else None,
        previous_scores=previous.scores if previous else None, baseline_scores=baseline.scores if baseline else None,
        fever_celsius=settings.get("fever_celsius"),
    )


def assess_draft(session, assignment, draft, instrument, *, now, settings, public_url, protocol):
    """Assess the answers saved so far in an unfinished questionnaire; return (new findings, keys to send now)."""
    previous, baseline = _earlier(session, assignment.contact_id, assignment.instrument_id, now)
    # Scores wait for the submit: a half-answered form's scores would compare wrongly with baseline.
    findings = _evaluate(instrument, draft.answers, {}, previous, baseline, settings)
    new = _fresh(session, assignment.id, findings)
    if not new:  # most pages: nothing new, so the participant is neither loaded nor locked
        return [], []
    keys = raise_findings(session, assignment.participant, new, now=now, settings=settings, public_url=public_url,
                          protocol=protocol, assignment=assignment)
    return new, keys


def assess_response(session, response, instrument, *, now, settings, public_url, protocol):
    """Evaluate a new response against the respondent's previous and baseline answers."""
    previous, baseline = _earlier(session, response.contact_id, response.instrument_id, response.submitted_at,
                                  exclude=response.id)
    findings = _evaluate(instrument, response.answers, response.scores, previous, baseline, settings)
    # What was raised while it was being answered now belongs to the response.
    session.execute(update(AlertOccurrence).where(AlertOccurrence.assignment_id == response.assignment_id,
                                                  AlertOccurrence.response_id.is_(None))
                    .values(response_id=response.id).execution_options(synchronize_session="fetch"))
    session.execute(update(Alert).where(Alert.response_id.is_(None), Alert.id.in_(
        select(AlertOccurrence.alert_id).where(AlertOccurrence.assignment_id == response.assignment_id)))
        .values(response_id=response.id).execution_options(synchronize_session="fetch"))
    new = _fresh(session, response.assignment_id, findings)
    if not new:
        return findings, []
    keys = raise_findings(session, response.assignment.participant, new, now=now, settings=settings,
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


STAFF_ALERT_KEY = re.compile(r"alert:(\d+):(red|amber):l(\d+):s\d+")


def reroute_undelivered(session, *, now, settings, public_url, protocol):
    """Send an open alert to the next level at once when a text of its current level came back undelivered."""
    failed = set()  # (alert id, severity, level) of each staff text that failed in the last day
    for key in session.scalars(select(Message.dedupe_key).where(
            Message.template == "staff_alert", Message.state.in_(FAILED_LAST),
            Message.updated_at >= now - timedelta(days=1))):
        found = STAFF_ALERT_KEY.fullmatch(key)
        if found and int(found[3]) < TOP_LEVEL:
            failed.add((int(found[1]), found[2], int(found[3])))
    if not failed:
        return 0
    # Only alerts still at the level whose text failed are locked: the others already moved on,
    # and the failed texts stay in this look for a day.
    still_there = or_(*(and_(Alert.id == alert_id, Alert.severity == severity, Alert.escalation_level == level)
                        for alert_id, severity, level in sorted(failed)))
    moved = 0
    for alert in session.scalars(select(Alert).where(Alert.state == AlertState.OPEN, still_there)
                                 .order_by(Alert.id).with_for_update(skip_locked=True)):
        level = alert.escalation_level
        record(session, actor=SYSTEM, action="alert.rerouted", entity="alert", entity_id=alert.id,
               participant_id=alert.participant_id, now=now,
               after={"from_level": level, "to_level": level + 1, "phones": "a text was not delivered"})
        notify(session, alert, level + 1, now=now, public_url=public_url, protocol=protocol)
        alert.next_escalation_at = next_escalation(alert.severity, now, settings, protocol.timezone)
        moved += 1
    session.flush()
    return moved


def escalate(session, *, now, settings, public_url, protocol):
    """Escalate every unacknowledged alert whose time has come; return how many escalated."""
    # Undelivered texts first: those alerts should not wait for their 15 minutes.
    rerouted = reroute_undelivered(session, now=now, settings=settings, public_url=public_url, protocol=protocol)
    due = session.scalars(
        select(Alert).where(Alert.state == AlertState.OPEN, Alert.next_escalation_at <= now)
        .order_by(Alert.next_escalation_at).with_for_update(skip_locked=True)
    ).all()
    for alert in due:
        notify(session, alert, alert.escalation_level + 1, now=now, public_url=public_url, protocol=protocol)
        alert.next_escalation_at = next_escalation(alert.severity, now, settings, protocol.timezone)
        record(session, actor=SYSTEM, action="alert.escalated", entity="alert", entity_id=alert.id,
               participant_id=alert.participant_id, now=now, after={"level": alert.escalation_level})
    session.flush()
    return len(due) + rerouted


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


