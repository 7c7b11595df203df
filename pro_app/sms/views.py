"""Staff pages for texts: a participant's message log, the inbox of replies, number status."""

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from pro_app.audit.operations import Actor, record
from pro_app.clock import utcnow
from pro_app.db import db
from pro_app.participants.views import get_participant_or_404
from pro_app.sms.models import InboundMessage, Message, MessageState, PhoneNumber
from pro_app.staff.auth import staff_required
from pro_app.staff.models import WRITE_ROLES

bp = Blueprint("messages", __name__, url_prefix="/staff")
PAGE_SIZE = 200


def phone_statuses(phones):
    """Return {phone: PhoneNumber} for the numbers that have a status."""
    if not phones:
        return {}
    rows = db.session.scalars(select(PhoneNumber).where(PhoneNumber.phone.in_(phones))).all()
    return {row.phone: row for row in rows}


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
                           statuses=phone_statuses([c.phone for c in participant.contacts]))


@bp.get("/inbox")
@staff_required()
def inbox():
    show_all = request.args.get("all") == "1"
    stmt = select(InboundMessage).order_by(InboundMessage.received_at.desc()).limit(PAGE_SIZE)
    if not show_all:
        stmt = stmt.where(InboundMessage.handled_at.is_(None))
    return render_template("sms/inbox.html", replies=db.session.scalars(stmt).all(), show_all=show_all)


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
