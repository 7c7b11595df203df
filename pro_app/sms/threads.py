"""Conversations with one contact: what they wrote, what went to them, and a nurse's reply."""

from datetime import timedelta

from sqlalchemy import func, select, update

from pro_app.audit.operations import record
from pro_app.reminders.operations import enqueue, message_row
from pro_app.reminders.texts import render
from pro_app.sms.models import InboundMessage, Message, MessageState

#: What one reply may hold: Alibaba's approved template carries a variable of at most 35 characters.
REPLY_CHARACTERS = {"aliyun": 35}
REPLY_MAX = 300
#: A reply to someone who wrote within this long goes even in their quiet hours: they are awake.
AWAKE = timedelta(hours=1)
REPLY_VALID = timedelta(days=1)
SHOWN = (MessageState.SENT, MessageState.DELIVERED, MessageState.PENDING, MessageState.SENDING)


def unread_count(session):
    """Return how many texts from families wait for a nurse."""
    return session.scalar(select(func.count()).select_from(InboundMessage)
                          .where(InboundMessage.handled_at.is_(None))) or 0


def thread(session, contact):
    """Return [(direction, instant, text, row)] of one contact's texts, oldest first."""
    received = session.scalars(select(InboundMessage).where(InboundMessage.from_phone == contact.phone)).all()
    sent = session.scalars(select(Message).where(Message.to_phone == contact.phone,
                                                 Message.state.in_(SHOWN))).all()
    items = [("in", r.received_at, r.body, r) for r in received]
    items += [("out", m.sent_at or m.due_at, m.body, m) for m in sent]
    return sorted(items, key=lambda item: (item[1], item[0]))


def reply(session, contact, text, *, actor, now, protocol, route=None):
    """Queue a nurse's reply to a contact and audit it; flush. Return the outbox row's key."""
    text = " ".join((text or "").split())
    limit = REPLY_CHARACTERS.get(route, REPLY_MAX)
    if not text or len(text) > limit:
        raise ValueError(limit)
    lang = contact.language
    last_in = session.scalar(select(func.max(InboundMessage.received_at))
                             .where(InboundMessage.from_phone == contact.phone))
    key = f"staff-reply:c{contact.id}:{now.isoformat()}"
    enqueue(session, [message_row(
        key=key, participant_id=contact.participant_id, contact_id=contact.id, phone=contact.phone,
        template="staff_reply", language=lang, due_at=now, expires_at=now + REPLY_VALID, now=now,
        ignore_quiet_hours=last_in is not None and now - last_in <= AWAKE,
        body=render("staff_reply", lang, site=protocol.site_name[lang], text=text),
    )])
    record(session, actor=actor, action="reply.sent", entity="contact", entity_id=contact.id,
           participant_id=contact.participant_id, now=now, after={"to": contact.phone, "text": text})
    session.flush()
    return key


def mark_done(session, contact, *, actor, user_id, now):
    """Mark every open text from a contact's number handled (the thread is done); audit it."""
    done = session.execute(update(InboundMessage).where(
        InboundMessage.from_phone == contact.phone, InboundMessage.handled_at.is_(None),
    ).values(handled_at=now, handled_by=user_id).execution_options(synchronize_session=False)).rowcount
    if done:
        record(session, actor=actor, action="thread.done", entity="contact", entity_id=contact.id,
               participant_id=contact.participant_id, now=now, after={"texts": done})
    session.flush()
    return done
