"""A contact's own settings: the evening reminder time and the language of their texts."""

from datetime import time, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from pro_app.audit.operations import Actor, record
from pro_app.participants.models import LANGUAGES, Contact
from pro_app.questionnaires import current_instruments
from pro_app.questionnaires.operations import text_title
from pro_app.reminders.operations import (
    change_text,
    enqueue,
    visit_reminder_rows,
    welcome_text,
)
from pro_app.reminders.plan import is_evening_step
from pro_app.reminders.quiet import in_quiet_hours
from pro_app.reminders.texts import render
from pro_app.sms.models import Message, MessageState
from pro_app.tokens import lookup_hash, new_token
from pro_app.visits.models import Visit

#: The evening times a family may choose from, besides the protocol's own (inside allowed hours only).
EVENING_TIMES = (time(18, 0), time(19, 0), time(20, 0))
#: How long the preferences link in the welcome text works; the keywords work for good.
PREFERENCES_LINK_VALID = timedelta(days=90)
CHANGE_TEXTS = ("visit_moved", "visit_cancelled", "visit_added")
INVITATIONS = ("questionnaire_invite", "questionnaire_nudge")
#: The baseline item whose answer (an hour) sets the evening time.
BASELINE_ITEM = "evening_time"


def protocol_evening_time(protocol):
    """Return the protocol's time for the evening-before reminders, or None if it has none."""
    return next((step.time for step in protocol.visit_reminders if is_evening_step(step)), None)


def evening_choices(protocol, quiet_start, quiet_end):
    """Return the evening times a contact may choose: the usual ones and the protocol's, outside quiet hours."""
    default = protocol_evening_time(protocol)
    if default is None:
        return []
    times = set(EVENING_TIMES) | {default}
    return sorted(t for t in times if not in_quiet_hours(t, quiet_start, quiet_end))


def choices_for(contact, protocol):
    """Return the evening times this contact may choose."""
    return evening_choices(protocol, contact.quiet_start, contact.quiet_end)


def evening_time_of(contact, protocol):
    """Return the time a contact's evening-before reminders go at."""
    return contact.evening_time or protocol_evening_time(protocol)


def new_preferences_token(contact, now):
    """Give a contact a fresh preferences link token (only its hash is stored); an earlier one stops working."""
    token, contact.preferences_token_hash = new_token()
    contact.preferences_token_at = now
    return token


def contact_by_token(session, token, now):
    """Return (contact, state) for a preferences link: state is "open", "expired" or "unknown"."""
    token_hash = lookup_hash(token)
    contact = token_hash and session.scalar(select(Contact).where(Contact.preferences_token_hash == token_hash))
    if contact is None:
        return None, "unknown"
    if contact.preferences_token_at is None or now >= contact.preferences_token_at + PREFERENCES_LINK_VALID:
        return contact, "expired"
    return contact, "open"


def parse_form(form, choices):
    """Read the posted language and evening time; return (values, errors) against this contact's choices."""
    errors = {}
    language = form.get("language", "")
    if language not in LANGUAGES:
        errors["language"] = True
    evening = form.get("evening_time", "")
    chosen = next((t for t in choices if t.strftime("%H:%M") == evening), None)
    if chosen is None:
        errors["evening_time"] = True
    return {"language": language, "evening_time": chosen}, errors


class BadPreference(ValueError):
    """A language or evening time this contact cannot have."""


def set_preferences(session, contact, protocol, *, actor, now, language=None, evening_time=None, reason):
    """Change a contact's language and/or evening time, audited, and re-plan their pending texts; flush.

    Returns the names of the settings that changed (none: nothing is written).
    """
    if language is not None and language not in LANGUAGES:
        raise BadPreference("language")
    if evening_time is not None and evening_time not in choices_for(contact, protocol):
        raise BadPreference("evening_time")
    before = {"language": contact.language, "evening_time": _clock(evening_time_of(contact, protocol))}
    changed = []
    if language is not None and language != contact.language:
        contact.language = language
        changed.append("language")
    if evening_time is not None and evening_time != evening_time_of(contact, protocol):
        contact.evening_time = evening_time
        changed.append("evening_time")
    if not changed:
        return changed
    after = {"language": contact.language, "evening_time": _clock(evening_time_of(contact, protocol))}
    record(session, actor=actor, action="contact.preferences", entity="contact", entity_id=contact.id,
           participant_id=contact.participant_id, now=now, before=before, after=after, reason=reason)
    session.flush()
    replan_contact(session, contact, protocol, now)
    return changed


def apply_baseline_answer(session, response, protocol, *, now):
    """Set the respondent's evening reminder time from a baseline answer, audited; flush.

    The baseline questionnaire asks the hour of the evening reminder with the page's choices;
    whoever answered (patient or caregiver) gets the time. Returns the settings that changed.
    """
    hour = (response.answers or {}).get(BASELINE_ITEM) if response.instrument_id == "baseline" else None
    if not isinstance(hour, int) or isinstance(hour, bool) or not 0 <= hour <= 23:
        return []
    contact = session.get(Contact, response.contact_id)
    if contact is None or time(hour) not in choices_for(contact, protocol):
        return []
    return set_preferences(session, contact, protocol, actor=Actor(label=f"questionnaire:contact {contact.id}"),
                           now=now, evening_time=time(hour), reason="baseline questionnaire answer")


def replan_contact(session, contact, protocol, now):
    """Plan a contact's pending visit reminders again and re-render their other pending texts; flush.

    The welcome text, change texts and questionnaire invitations and nudges still pending are
    written again in the contact's language.

    Only texts still pending change: one already claimed by a sender or sent stays as it is.
    Each reminder keeps its key, so a step already sent is never planned a second time.
    """
    participant = contact.participant
    pending = (Message.contact_id == contact.id, Message.state == MessageState.PENDING)
    if participant.is_active:
        open_visits = [v for v in participant.visits if v.is_open]
        planned = {row["dedupe_key"]: row
                   for visit in open_visits for row in visit_reminder_rows(visit, protocol, now)
                   if row["contact_id"] == contact.id}
        for key, row in planned.items():
            session.execute(update(Message).where(Message.dedupe_key == key, *pending).values(
                due_at=row["due_at"], expires_at=row["expires_at"], body=row["body"], params=row["params"],
                language=row["language"], updated_at=now))
        # A step the new time leaves no room for (its day is already over) is not sent late.
        if open_visits:
            session.execute(update(Message).where(
                *pending, Message.template == "visit_reminder",
                Message.visit_id.in_([v.id for v in open_visits]), Message.dedupe_key.not_in(list(planned) or [""]),
            ).values(state=MessageState.CANCELLED, state_reason="preferences changed", updated_at=now))
        enqueue(session, list(planned.values()))
    lang = contact.language
    welcome = welcome_text(protocol, lang)
    session.execute(update(Message).where(*pending, Message.template == "welcome", Message.language != lang)
                    .values(body=str(welcome), params=dict(welcome.params), language=lang, updated_at=now))
    for message in session.scalars(select(Message).where(
            *pending, Message.template.in_(CHANGE_TEXTS), Message.language != lang)):
        body = change_text(session.get(Visit, message.visit_id), message.template, protocol, lang, contact.timezone,
                           old_date=(message.params or {}).get("old_date"))
        session.execute(update(Message).where(Message.id == message.id, *pending).values(
            body=str(body), params=dict(body.params), language=lang, updated_at=now))
    _rerender_invitations(session, contact, protocol, now)
    session.flush()


def _rerender_invitations(session, contact, protocol, now):
    """Write a contact's pending questionnaire invitations and nudges again in their language."""
    lang = contact.language
    instruments = current_instruments()
    for message in session.scalars(select(Message).where(
            Message.contact_id == contact.id, Message.state == MessageState.PENDING,
            Message.template.in_(INVITATIONS), Message.language != lang, Message.assignment_id.is_not(None))
            .options(selectinload(Message.assignment))):
        params = {**(message.params or {}), "site": protocol.site_name[lang],
                  "title": text_title(instruments, message.assignment, lang)}
        body = render(message.template, lang, **params)
        session.execute(update(Message).where(Message.id == message.id, Message.state == MessageState.PENDING)
                        .values(body=str(body), params=dict(body.params), language=lang, updated_at=now))


def _clock(t):
    return t.strftime("%H:%M") if t is not None else None
