"""/dev/phone: every text each contact received, and a box to reply as that phone (demo only)."""

import secrets

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from sqlalchemy import select

from pro_app.clock import utcnow
from pro_app.db import db
from pro_app.participants.models import Contact, Participant
from pro_app.protocol import current_protocol
from pro_app.sms.inbound import provider_confirms_stop, receive
from pro_app.sms.models import InboundMessage, Message, MessageState

bp = Blueprint("devphone", __name__, url_prefix="/dev/phone")
SHOWN = (MessageState.SENT, MessageState.DELIVERED)


@bp.get("/")
def index():
    contacts = db.session.execute(
        select(Contact, Participant.study_id).join(Participant).order_by(Participant.study_id, Contact.id)
    ).all()
    return render_template("sms/devphone_index.html", contacts=contacts)


@bp.get("/<phone>")
def thread(phone):
    sent = db.session.scalars(select(Message).where(Message.to_phone == phone, Message.state.in_(SHOWN))
                              .order_by(Message.sent_at)).all()
    received = db.session.scalars(select(InboundMessage).where(InboundMessage.from_phone == phone)
                                  .order_by(InboundMessage.received_at)).all()
    items = sorted([("in", m.sent_at, m.body) for m in sent] + [("out", r.received_at, r.body) for r in received],
                   key=lambda item: item[1])
    return render_template("sms/devphone_thread.html", phone=phone, items=items)


@bp.post("/<phone>")
def reply(phone):
    body = (request.form.get("body") or "").strip()[:1600]
    if body:
        receive(db.session, provider_sid="DEV" + secrets.token_hex(16), from_phone=phone, to_phone=None,
                body=body, protocol=current_protocol(), now=utcnow(),
                provider_confirms_stop=provider_confirms_stop(current_app.config, "console"))
        db.session.commit()
    return redirect(url_for(".thread", phone=phone), code=303)


def init_app(app):
    # It shows every family's numbers, texts and live links: demo mode only, never in production.
    if app.config["DEMO"]:
        app.register_blueprint(bp)
