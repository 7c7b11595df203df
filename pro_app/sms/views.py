"""Staff pages for texts: a participant's message log, the inbox of replies, number status."""

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from pro_app.audit.operations import Actor, record
from pro_app.clock import utcnow
from pro_app.db import db
from pro_app.participants.models import Contact
from pro_app.participants.operations import get_participant_or_404
from pro_app.protocol import current_protocol
from pro_app.sms import threads
from pro_app.sms.models import InboundMessage, Message, MessageState
from pro_app.sms.operations import phone_statuses
from pro_app.sms.routing import route_of_phone
from pro_app.staff.auth import staff_required
from pro_app.staff.models import WRITE_ROLES

bp = Blueprint("messages", __name__, url_prefix="/staff")
PAGE_SIZE = 200


@bp.get("/participants/<study_id>/messages")
@staff_required()
def participant_messages(study_id):
    participant = get_participant_or_404(study_id)
    upcoming = db.session.scalars(
        select(Message).where(Message.participant_id == participant.id, Message.state == MessageState.PENDING)
        .order_by(Message.due_at, Message.id).limit(20)
    ).all()
    log = db.session.scalars(
        select(Message).where(Message.participant_id == participant.id, Message.state != MessageState.PENDING)
        .order_by(Message.updated_at.desc(), Message.id.desc()).limit(PAGE_SIZE)
    ).all()
    counts = dict(db.session.execute(
        select(Message.state, func.count()).where(Message.participant_id == participant.id)
        .group_by(Message.state)
    ).all())
    replies = db.session.scalars(
        select(InboundMessage).where(InboundMessage.participant_id == participant.id)
        .order_by(InboundMessage.received_at.desc()).limit(50)
    ).all()
    return render_template("sms/participant_messages.html", p=participant, upcoming=upcoming, log=log,
                           counts=counts, replies=replies,
                           statuses=phone_statuses(db.session, [c.phone for c in participant.contacts]))


@bp.get("/inbox")
@staff_required()
def inbox():
    show_all = request.args.get("all") == "1"
    stmt = (select(InboundMessage).options(selectinload(InboundMessage.participant))
            .order_by(InboundMessage.received_at.desc()).limit(PAGE_SIZE))
    if not show_all:
        stmt = stmt.where(InboundMessage.handled_at.is_(None))
    replies = db.session.scalars(stmt).all()
    return render_template("sms/inbox.html", replies=replies, show_all=show_all, contacts=_contacts_of(replies))


def _contacts_of(replies):
    """Return {(participant id, phone): contact} for the senders of these texts."""
    phones = {r.from_phone for r in replies}
    if not phones:
        return {}
    senders = db.session.scalars(select(Contact).where(Contact.phone.in_(phones)))
    return {(c.participant_id, c.phone): c for c in senders}


@bp.app_context_processor
def inbox_unread():
    """Put the number of texts waiting for a nurse in the navigation."""
    if not getattr(current_user, "is_authenticated", False) or not hasattr(current_user, "role"):
        return {}
    return {"inbox_unread": threads.unread_count(db.session)}


def _contact_or_404(contact_id):
    contact = db.session.get(Contact, contact_id)
    if contact is None:
        abort(404)
    return contact


def _render_thread(contact, error=None, text="", code=200):
    route = route_of_phone(current_app.config, contact.phone)
    return render_template("sms/thread.html", contact=contact, items=threads.thread(db.session, contact),
                           limit=threads.REPLY_CHARACTERS.get(route, threads.REPLY_MAX), error=error,
                           text=text), code


@bp.get("/inbox/contacts/<dbid:contact_id>")
@staff_required()
def thread(contact_id):
    return _render_thread(_contact_or_404(contact_id))


@bp.post("/inbox/contacts/<dbid:contact_id>/reply")
@staff_required(*WRITE_ROLES)
def reply(contact_id):
    contact = _contact_or_404(contact_id)
    text = (request.form.get("text") or "")[:2000]
    try:
        threads.reply(db.session, contact, text, actor=Actor.staff(current_user), now=utcnow(),
                      protocol=current_protocol(), route=route_of_phone(current_app.config, contact.phone))
    except ValueError as exc:
        db.session.rollback()
        return _render_thread(contact, error=_("Write a reply of 1 to %(n)s characters.", n=exc.args[0]),
                              text=text, code=400)
    db.session.commit()
    flash(_("Reply queued; it shows in the thread once sent."))
    return redirect(url_for(".thread", contact_id=contact.id), code=303)


@bp.post("/inbox/contacts/<dbid:contact_id>/done")
@staff_required(*WRITE_ROLES)
def thread_done(contact_id):
    contact = _contact_or_404(contact_id)
    threads.mark_done(db.session, contact, actor=Actor.staff(current_user), user_id=current_user.id, now=utcnow())
    db.session.commit()
    return redirect(url_for(".inbox"), code=303)


@bp.post("/inbox/<dbid:reply_id>/handled")
@staff_required(*WRITE_ROLES)
def mark_handled(reply_id):
    reply = db.session.get(InboundMessage, reply_id)
    if reply is None:
        abort(404)
    if reply.handled_at is None:
        now = utcnow()
        reply.handled_at, reply.handled_by = now, current_user.id
        record(db.session, actor=Actor.staff(current_user), action="reply.handled", entity="inbound_message",
               entity_id=reply.id, participant_id=reply.participant_id, now=now,
               after={"action": reply.action})
        db.session.commit()
    return redirect(url_for(".inbox"), code=303)
