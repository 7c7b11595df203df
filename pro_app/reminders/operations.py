"""Writing reminders to the outbox: at enrolment and whenever a visit changes."""

import re
from datetime import timedelta

from sqlalchemy import and_, or_, update

from pro_app.db import insert_new
from pro_app.reminders.plan import Recipient, plan_visit_reminders
from pro_app.reminders.texts import VISIT_NAMES, render, visit_params
from pro_app.sms.models import Message, MessageState
from pro_app.tokens import new_token
from pro_app.visits.models import VisitKind

WELCOME_VALID = timedelta(days=7)
#: Where the calendar link goes in the welcome text; the token is made when the text is sent.
CALENDAR_LINK = "{calendar}"
#: The same calendar as a webcal:// link, which a phone subscribes to (an https .ics it imports once).
WEBCAL_LINK = "{webcal}"
#: Where the preferences link goes in the welcome text; its token too is made when the text is sent.
PREFERENCES_LINK = "{preferences}"
#: A link token in a text: /q/<token>, /cal/<token>.ics or /p/<token>.
LINK_TOKEN = re.compile(r"(/(?:q|cal|p)/)([A-Za-z0-9_-]{5,})")


def new_calendar_token(contact):
    """Give a contact a fresh calendar token (only its hash is stored); an earlier one stops working."""
    token, contact.calendar_token_hash = new_token()
    return token


def shorten_tokens(text):
    """Cut every link token in a text to its first four characters, for pages and the outbox."""
    return LINK_TOKEN.sub(lambda m: m.group(1) + m.group(2)[:4] + "…", text or "")


def recipients_of(participant):
    """Return the participant's contacts who agreed to texts, as the planner sees them."""
    return [
        Recipient(c.id, c.phone, c.language, c.timezone, c.quiet_start, c.quiet_end,
                  c.receives_visit_reminders, c.evening_time)
        for c in participant.contacts if c.agreed_to_texts
    ]


def enqueue(session, rows):
    """Insert outbox rows, skipping any whose dedupe key is already there."""
    if not rows:
        return
    session.execute(insert_new(session, Message, ["dedupe_key"]), rows)


def message_row(*, key, participant_id, contact_id, phone, template, language, body, due_at, now,
                expires_at=None, visit_id=None, assignment_id=None, ignore_quiet_hours=False):
    """Build one outbox row for enqueue()."""
    params = getattr(body, "params", None)
    return {
        "dedupe_key": key, "participant_id": participant_id, "contact_id": contact_id,
        "visit_id": visit_id, "assignment_id": assignment_id, "to_phone": phone, "template": template,
        "language": language,
        "body": str(body), "params": dict(params) if params is not None else None,
        "due_at": due_at, "expires_at": expires_at,
        "ignore_quiet_hours": ignore_quiet_hours, "state": MessageState.PENDING,
        "attempts": 0, "created_at": now, "updated_at": now,
    }


def preparation_key(visit):
    """Return which preparation a visit's texts and calendar event carry (the first infusion is longer)."""
    if visit.kind == VisitKind.INFUSION:
        return "infusion-first" if visit.dose_number == 1 else "infusion"
    return visit.kind.value


def visit_reminder_rows(visit, protocol, now):
    """Plan and render the outbox rows for one visit's reminders."""
    participant = visit.participant
    if not visit.is_open or not participant.is_active:
        return []
    planned = plan_visit_reminders(
        visit_id=visit.id, revision=visit.revision, starts_at=visit.starts_at,
        visit_zone=participant.timezone, recipients=recipients_of(participant),
        steps=protocol.visit_reminders, now=now,
    )
    local_start = visit.local_start
    days_before = {step.step: step.days_before for step in protocol.visit_reminders}
    visit_type = visit.kind.value
    rows = []
    for p in planned:
        language = p.recipient.language
        # Each step says which day it is (in 2 days, tomorrow, today), so no two read the same.
        body = render("visit_reminder", language, site=protocol.site_name[language],
                      **visit_params(language, local_start, participant.timezone, p.recipient.timezone,
                                     preparation_key(visit), days_before=days_before[p.step],
                                     place=protocol.place(visit_type, language)))
        rows.append(message_row(
            key=p.dedupe_key, participant_id=participant.id, contact_id=p.recipient.contact_id,
            visit_id=visit.id, phone=p.recipient.phone, template="visit_reminder",
            language=language, body=body, due_at=p.due_at, expires_at=p.expires_at,
            ignore_quiet_hours=p.during_quiet_hours, now=now,
        ))
    return rows


def change_text_rows(visit, change, protocol, now, *, old_local=None):
    """Render the one text telling each contact a visit was moved, cancelled or added.

    It goes at once, or when the contact's quiet hours end, and lapses when the visit (for a
    cancellation, the one that was planned) begins. Its outbox row belongs to the visit, so a
    further change before it went cancels it with the reminders.
    """
    participant = visit.participant
    if not participant.is_active or visit.starts_at <= now:
        return []
    template = f"visit_{change}"
    rows = []
    old_date = old_local.strftime("%Y-%m-%d") if old_local is not None else None
    for r in recipients_of(participant):
        if not r.wants_visit_reminders:
            continue
        rows.append(message_row(
            key=f"change:visit:{visit.id}:r{visit.revision}:c{r.contact_id}", participant_id=participant.id,
            contact_id=r.contact_id, visit_id=visit.id, phone=r.phone, template=template, language=r.language,
            body=change_text(visit, template, protocol, r.language, r.timezone, old_date=old_date),
            due_at=now, expires_at=visit.starts_at, now=now,
        ))
    return rows


def change_text(visit, template, protocol, lang, contact_zone, *, old_date=None):
    """Render a visit's change text (visit_moved, visit_cancelled or visit_added) for one contact."""
    reminder = visit_params(lang, visit.local_start, visit.participant.timezone, contact_zone, "other",
                            place=protocol.place(visit.kind.value, lang))
    params = {key: reminder[key] for key in ("date", "weekday", "time", "zone_note", "place")}
    params["visit_name"] = VISIT_NAMES[(visit.kind.value, lang)]
    if old_date is not None:
        params["old_date"] = old_date
    return render(template, lang, site=protocol.site_name[lang], **params)


def welcome_text(protocol, lang):
    """Render the welcome text with the placeholders its links are put in when it is sent."""
    return render("welcome", lang, site=protocol.site_name[lang], calendar_url=CALENDAR_LINK,
                  webcal_url=WEBCAL_LINK, preferences_url=PREFERENCES_LINK)


def plan_participant(session, participant, protocol, *, public_url, now):
    """Queue the welcome text (with calendar and preferences links) and every visit reminder; flush."""
    rows = []
    for contact in participant.contacts:
        if not contact.agreed_to_texts:
            continue
        lang = contact.language
        # The calendar and preferences tokens are made when the text goes out, so the outbox never
        # holds them whole.
        rows.append(message_row(
            key=f"welcome:c{contact.id}", participant_id=participant.id, contact_id=contact.id,
            phone=contact.phone, template="welcome", language=lang, due_at=now,
            expires_at=now + WELCOME_VALID, now=now, body=welcome_text(protocol, lang),
        ))
    for visit in participant.visits:
        rows.extend(visit_reminder_rows(visit, protocol, now))
    enqueue(session, rows)
    session.flush()


def replan_visit(session, visit, protocol, now, instruments=None):
    """Cancel a changed visit's pending and claimed-but-untried texts and plan them again; flush."""
    visit.revision += 1
    session.execute(
        update(Message)
        .where(Message.visit_id == visit.id,
               or_(Message.state == MessageState.PENDING,
                   and_(Message.state == MessageState.SENDING, Message.attempted_at.is_(None))))
        .values(state=MessageState.CANCELLED, state_reason="visit changed", claimed_at=None, claimed_by=None,
                updated_at=now)
    )
    session.flush()
    enqueue(session, visit_reminder_rows(visit, protocol, now))
    if instruments is not None:
        from pro_app.questionnaires.operations import replan_for_visit

        replan_for_visit(session, visit, protocol, instruments, now)
