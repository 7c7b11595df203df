"""Alibaba Cloud's HTTP batch push: delivery reports (SmsReport) and replies (SmsUp).

Alibaba signs nothing here, so each URL carries an unguessable path segment from the
configuration (PRO_ALIYUN_PUSH_SECRET); a wrong one is 404, as if the URL did not exist.
"""

import hmac
import logging
import re

from flask import Blueprint, abort, current_app, jsonify, request
from sqlalchemy import select

from pro_app.clock import utcnow
from pro_app.db import db
from pro_app.extensions import csrf
from pro_app.protocol import current_protocol
from pro_app.sms.inbound import provider_confirms_stop, receive
from pro_app.sms.models import STATE_RANK, Message, MessageState
from pro_app.sms.operations import mark_unreachable

bp = Blueprint("aliyun_push", __name__, url_prefix="/sms/aliyun")
csrf.exempt(bp)
log = logging.getLogger(__name__)

DIGITS = re.compile(r"[0-9]{5,16}")
BIZ_ID = re.compile(r"[0-9A-Za-z^_-]{1,64}")
OK = {"code": 0, "msg": "成功"}


def _check_secret(secret):
    expected = str(current_app.config.get("ALIYUN_PUSH_SECRET") or "")
    if not expected or not hmac.compare_digest(secret.encode(), expected.encode()):
        abort(404)


def _items(fields):
    """Return the pushed JSON array, or 400 when any item lacks a field or has the wrong type."""
    items = request.get_json(silent=True)
    if not isinstance(items, list) or not items or len(items) > 1000:
        abort(400)
    for item in items:
        if not isinstance(item, dict):
            abort(400)
        for name, kind in fields.items():
            if not isinstance(item.get(name), kind):
                abort(400)
    return items


def e164(number):
    """Turn the number Alibaba pushes (13800138000, 8613800138000) into E.164."""
    digits = number.lstrip("+")
    if len(digits) == 11 and digits.startswith("1"):
        return "+86" + digits
    return "+" + digits


@bp.post("/<secret>/report")
def report(secret):
    _check_secret(secret)
    items = _items({"phone_number": str, "success": bool, "biz_id": str})
    for item in items:
        if not DIGITS.fullmatch(item["phone_number"]) or not BIZ_ID.fullmatch(item["biz_id"]):
            abort(400)
        if item.get("out_id") not in (None, "") and not (isinstance(item["out_id"], str) and item["out_id"].isdigit()):
            abort(400)
        if not isinstance(item.get("err_code") or "", str):
            abort(400)
    now = utcnow()
    # One query for the push (Alibaba batches up to a thousand reports), not one per report.
    by_sid = {m.provider_sid: m for m in db.session.scalars(
        select(Message).where(Message.provider_sid.in_({item["biz_id"] for item in items})))}
    for item in items:
        message = _reported(item, by_sid)
        if message is None:
            continue  # not ours
        new = MessageState.DELIVERED if item["success"] else MessageState.UNDELIVERED
        if STATE_RANK[new] <= STATE_RANK[message.state]:
            continue  # repeated or late: states only move forward
        message.state, message.updated_at = new, now
        if item["success"]:
            message.delivered_at = now
        else:
            code = (item.get("err_code") or "")[:40]
            message.error_message = f"{code}: {str(item.get('err_msg') or '')[:100]}"[:200]
            mark_unreachable(db.session, message.to_phone, code=None, now=now)
    db.session.commit()
    return jsonify(OK)


def _reported(item, by_sid):
    """Find the text a report is about: by Alibaba's id (`by_sid`), or by our outbox id for an outcome unknown."""
    message = by_sid.get(item["biz_id"])
    if message is not None:
        return message if not item.get("out_id") or str(message.id) == item["out_id"] else None
    if not item.get("out_id") or len(item["out_id"]) > 18:
        return None
    message = db.session.get(Message, int(item["out_id"]))
    if message is None or message.state != MessageState.UNKNOWN or message.provider_sid is not None:
        return None
    # Its answer was lost (a timeout), but Alibaba took it: the report settles the outcome.
    message.provider_sid = item["biz_id"]
    by_sid[message.provider_sid] = message
    return message


@bp.post("/<secret>/up")
def up(secret):
    _check_secret(secret)
    items = _items({"phone_number": str, "content": str})
    for item in items:
        if not DIGITS.fullmatch(item["phone_number"]) or not isinstance(item.get("sequence_id"), int | str):
            abort(400)
        if not str(item["sequence_id"]).isdigit() or len(str(item["sequence_id"])) > 30:
            abort(400)
    protocol, now = current_protocol(), utcnow()
    for item in items:
        # PostgreSQL text cannot hold NUL; it never belongs in a text message anyway.
        receive(db.session, provider_sid=f"aliyun-up-{item['sequence_id']}", from_phone=e164(item["phone_number"]),
                to_phone=None, body=item["content"].replace("\x00", ""), protocol=protocol, now=now,
                provider_confirms_stop=provider_confirms_stop(current_app.config, "aliyun"))
    db.session.commit()
    return jsonify(OK)
