"""Acting on texts families send back; replies go through the outbox, never with health data."""

from datetime import timedelta

from sqlalchemy import select

from pro_app.audit.operations import Actor, record
from pro_app.db import insert_new
from pro_app.participants.models import Contact
from pro_app.protocol.hotline import hotline
from pro_app.reminders.operations import enqueue, message_row
from pro_app.reminders.preferences import choices_for, set_preferences
from pro_app.reminders.texts import render
from pro_app.sms.keywords import parse_preference, parse_reply
from pro_app.sms.models import InboundMessage, Message
from pro_app.sms.operations import mark_reachable, opt_in, opt_out
from pro_app.visits.models import OPEN_STATUSES, Visit, VisitStatus

REPLY_VALID = timedelta(hours=1)
#: A number that keeps writing gets the automatic acknowledgement at most this often.
ACK_EVERY = timedelta(hours=12)
#: The confirmation of a STOP: the one text an opted-out number still gets.
STOP_CONFIRMATION = "reply_opt_out"


def provider_confirms_stop(config, provider):
    """Tell whether a provider itself answers STOP with a confirmation (Twilio's long codes do)."""
    return provider in {p.strip() for p in str(config.get("SMS_STOP_CONFIRMED_BY") or "").split(",")}


def receive(session, *, provider_sid, from_phone, to_phone, body, protocol, now, provider_confirms_stop=False):
    """Store one inbound text and act on it; a repeat of the same provider id does nothing.

    STOP and START are confirmed (STOP only where the provider does not confirm it itself), and so
    is a change of language or evening reminder time (in the new setting); any
    other free text gets an acknowledgement with the hotline and office hours, at most every 12
    hours per number, and waits in the inbox for a nurse.
    """
    contacts = session.scalars(select(Contact).where(Contact.phone == from_phone).order_by(Contact.id)).all()
    action = parse_reply(body)
    participants = {c.participant_id for c in contacts}
    # Providers repeat a webhook or push they think failed, even while the first is running:
    # only the request whose row goes in acts on it.
    inbound_id = session.scalar(insert_new(session, InboundMessage, ["provider_sid"]).values(
        provider_sid=provider_sid, from_phone=from_phone, to_phone=to_phone, body=body[:1600],
        action=action, received_at=now,
        participant_id=next(iter(participants)) if len(participants) == 1 else None,
    ).returning(InboundMessage.id))
    if inbound_id is None:
        return None
    inbound = session.get(InboundMessage, inbound_id)
    actor = Actor(label=f"sms:contact {contacts[0].id}" if contacts else "sms:unknown number")
    contact = contacts[0] if contacts else None
    reply = None
    mark_reachable(session, from_phone, now=now)  # a number that texts us can be texted
    if action == "opt_out":
        opt_out(session, from_phone, source="keyword", now=now, actor=actor)
        inbound.handled_at = now
        if not provider_confirms_stop:
            reply = (STOP_CONFIRMATION, {"phone": hotline(protocol.site_phone).display})
    elif action == "opt_in":
        opt_in(session, from_phone, now=now, actor=actor)
        inbound.handled_at = now
        reply = ("reply_opt_in", {})
    elif action == "help":
        inbound.handled_at = now
        # Written as on the hospital's card ("022-2390 9999"), which phones still turn into a link.
        reply = ("reply_help", {"phone": hotline(protocol.site_phone).display})
    elif action == "confirm" and len(participants) == 1:
        visit = _next_visit(session, contact.participant_id, now)
        if visit is not None:
            if visit.status != VisitStatus.CONFIRMED:
                before = visit.snapshot()
                visit.status, visit.updated_at = VisitStatus.CONFIRMED, now
                record(session, actor=actor, action="visit.confirmed", entity="visit", entity_id=visit.id,
                       participant_id=visit.participant_id, now=now, before=before,
                       after=visit.snapshot(), reason="confirmed by text reply")
            inbound.handled_at = now
            reply = ("reply_confirmed", {"date": visit.local_start.strftime("%Y-%m-%d")})
    elif action in ("language", "evening_time") and contacts:
        inbound.handled_at = now
        reply = _set_by_keyword(session, contacts, *parse_preference(body), protocol=protocol, actor=actor, now=now)
    elif action == "reschedule" and contacts:
        reply = ("reply_reschedule", {})  # stays open in the inbox for a nurse to call back
    elif action == "other" and contact is not None and not _acknowledged_lately(session, from_phone, now):
        lang = contact.language
        reply = ("reply_ack", {"hours": protocol.office_hours[lang], "phone": hotline(protocol.site_phone).display})
    session.flush()
    if reply and contact is not None:
        template, params = reply
        lang = contact.language
        enqueue(session, [message_row(
            key=f"reply:{provider_sid}", participant_id=contact.participant_id, contact_id=contact.id,
            phone=from_phone, template=template, language=lang, due_at=now,
            expires_at=now + REPLY_VALID, ignore_quiet_hours=True, now=now,
            body=render(template, lang, site=protocol.site_name[lang], **params),
        )])
    return inbound


def _set_by_keyword(session, contacts, setting, value, *, protocol, actor, now):
    """Apply a language or evening-time keyword to every contact on the number; return the reply to send."""
    if setting == "evening_time" and value not in choices_for(contacts[0], protocol):
        times = choices_for(contacts[0], protocol)
        sep = "、" if contacts[0].language == "zh-CN" else ", "
        return "reply_evening_choices", {"times": sep.join(t.strftime("%H:%M") for t in times)}
    for contact in contacts:
        if setting == "evening_time" and value not in choices_for(contact, protocol):
            continue  # a contact with quiet hours of their own that this time falls in
        set_preferences(session, contact, protocol, actor=actor, now=now, reason="by text reply",
                        **{setting: value})
    if setting == "language":
        return "reply_language", {}
    return "reply_evening_time", {"time": value.strftime("%H:%M")}


def _acknowledged_lately(session, phone, now):
    return session.scalar(select(Message.id).where(
        Message.to_phone == phone, Message.template == "reply_ack", Message.created_at > now - ACK_EVERY,
    ).limit(1)) is not None


def _next_visit(session, participant_id, now):
    return session.scalar(
        select(Visit)
        .where(Visit.participant_id == participant_id, Visit.status.in_(OPEN_STATUSES),
               Visit.starts_at > now)
        .order_by(Visit.starts_at)
        .limit(1)
    )
