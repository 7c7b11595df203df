"""Twilio webhooks: delivery status and inbound texts, signature-checked and idempotent."""

import logging
import re

from flask import Blueprint, abort, current_app, request
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from pro_app.clock import utcnow
from pro_app.db import db
from pro_app.extensions import csrf
from pro_app.inputs import bounded_code
from pro_app.protocol import current_protocol
from pro_app.sms.gateway import OPTED_OUT_CODES, UNREACHABLE_CODES, auth_token
from pro_app.sms.inbound import provider_confirms_stop, receive
from pro_app.sms.models import STATE_RANK, Message, MessageState
from pro_app.sms.operations import mark_unreachable, opt_out

bp = Blueprint("sms", __name__, url_prefix="/sms")
csrf.exempt(bp)
log = logging.getLogger(__name__)

E164 = re.compile(r"\+[1-9][0-9]{6,14}")
PROVIDER_SID = re.compile(r"[A-Z]{2}[0-9a-f]{32}")
PROVIDER_STATES = {
    "queued": MessageState.SENT, "accepted": MessageState.SENT, "sending": MessageState.SENT,
    "sent": MessageState.SENT, "delivered": MessageState.DELIVERED,
    "undelivered": MessageState.UNDELIVERED, "failed": MessageState.FAILED,
}


def _verify():
    """Refuse any request not signed by Twilio for our public URL."""
    token = auth_token(current_app.config)
    signature = request.headers.get("X-Twilio-Signature", "")
    url = current_app.config["PUBLIC_URL"].rstrip("/") + request.full_path.rstrip("?")
    if not token or not signature or not RequestValidator(token).validate(url, request.form.to_dict(), signature):
        log.warning("refused an unsigned or wrongly signed webhook on %s", request.path)
        abort(403)


@bp.post("/status")
def status():
    _verify()
    sid = request.form.get("MessageSid", "")
    new = PROVIDER_STATES.get(request.form.get("MessageStatus", ""))
    if not PROVIDER_SID.fullmatch(sid) or new is None:
        abort(400)
    now = utcnow()
    message = db.session.scalar(select(Message).where(Message.provider_sid == sid))
    if message is None:
        return "", 204  # not ours, or an outcome we recorded as unknown
    # Twilio codes are five digits; anything else is noise, not something to store.
    code = bounded_code(request.form.get("ErrorCode"))
    if STATE_RANK[new] > STATE_RANK[message.state]:
        message.state, message.updated_at = new, now
        if new == MessageState.DELIVERED:
            message.delivered_at = now
        if code:
            message.error_code = code
        if code in OPTED_OUT_CODES:
            opt_out(db.session, message.to_phone, source=f"error {code}", now=now)
        elif code in UNREACHABLE_CODES:
            mark_unreachable(db.session, message.to_phone, code=code, now=now)
        db.session.commit()
    return "", 204


@bp.post("/inbound")
def inbound():
    _verify()
    sid, sender, to = (request.form.get(k, "") for k in ("MessageSid", "From", "To"))
    if not PROVIDER_SID.fullmatch(sid) or not E164.fullmatch(sender) or (to and not E164.fullmatch(to)):
        abort(400)
    # PostgreSQL text cannot hold NUL; it never belongs in a text message anyway.
    body = request.form.get("Body", "").replace("\x00", "")
    receive(db.session, provider_sid=sid, from_phone=sender, to_phone=to or None, body=body,
            protocol=current_protocol(), now=utcnow(),
            provider_confirms_stop=provider_confirms_stop(current_app.config, "twilio"))
    db.session.commit()
    # Replies go through the outbox (logged, rate-limited, opt-out checked), not TwiML.
    return '<?xml version="1.0" encoding="UTF-8"?><Response></Response>', 200, {"Content-Type": "text/xml"}
