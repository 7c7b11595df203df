"""Twilio webhooks (status callbacks, inbound texts), opt-out, replies, staff text pages and text privacy.

Webhooks are posted with the Flask test client and signatures computed as Twilio computes them
(for PUBLIC_URL + path with the fake's auth token); texts go out through the real Twilio SDK to
the loopback fake. The webhooks' clock is frozen so that "now" fits the ticks' timeline.
"""

import html
import re
from datetime import date, timedelta

import pytest
from conftest import NOW
from fake_twilio import twilio_signature
from sqlalchemy import select, text

from pro_app.audit.models import AuditEvent
from pro_app.db import db
from pro_app.participants.models import Participant
from pro_app.sms.models import InboundMessage, Message, MessageState, PhoneNumber
from pro_app.visits.models import Visit, VisitStatus

PUBLIC = "http://localhost"
PATIENT = "+8613800138001"      # zh-CN
CAREGIVER = "+447911123456"     # en
OTHER_CAREGIVER = "+8613900139002"  # zh-CN
SENDER = "+15005550006"
START = date(2026, 3, 9)
TABLES = ("messages", "inbound_messages", "phone_numbers", "audit_events")
FORBIDDEN = ["daratumumab", "darzalex", "leukaemia", "leukemia", "mrd", "cd38", "白血病", "达雷妥尤单抗",
             "dara-tall", "t-all"]


@pytest.fixture
def app_config(twilio_config, reminders_only_protocol):
    """Send through the real Twilio SDK to the fake; webhooks are checked with the fake's token.

    Questionnaire invitations are left out here: these tests count visit reminders and replies.
    """
    return {**twilio_config, "PROTOCOL_FILE": reminders_only_protocol}


@pytest.fixture
def clock(clock):
    clock.now = NOW + timedelta(hours=1)
    return clock


@pytest.fixture
def enrolled(make_participant, tick, fake_twilio):
    """P-001: a zh-CN patient with an English caregiver; the welcome texts sent at NOW."""
    make_participant("P-001", start=START, lang="zh-CN", phone=PATIENT,
                     caregivers=[{"phone": CAREGIVER, "name": "Mum", "lang": "en"}])
    tick(NOW)
    assert {m["to"] for m in fake_twilio.messages} == {PATIENT, CAREGIVER}
    return "P-001"


# --- helpers -------------------------------------------------------------------------------

def signed_post(client, path, params, *, token, url=None, signature=None):
    """POST a form as Twilio would, signed for url (default PUBLIC_URL + path) with token."""
    if signature is None:
        signature = twilio_signature(token, url or PUBLIC + path, params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


def status_params(sid, status, error_code=None, to=PATIENT, account="AC" + "0" * 32):
    params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": account, "MessageStatus": status,
              "SmsStatus": status, "To": to, "From": SENDER, "ApiVersion": "2010-04-01"}
    if error_code is not None:
        params["ErrorCode"] = str(error_code)
    return params


_inbound_counter = iter(range(10**6))


def inbound_params(from_, body, sid=None):
    sid = sid or f"SM{next(_inbound_counter):032x}"
    return {"MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "0" * 32,
            "From": from_, "To": SENDER, "Body": body, "NumMedia": "0", "NumSegments": "1",
            "SmsStatus": "received", "ApiVersion": "2010-04-01"}


def post_status(client, fake, sid, status, error_code=None, to=PATIENT):
    return signed_post(client, "/sms/status", status_params(sid, status, error_code, to, fake.account_sid),
                       token=fake.auth_token)


def post_inbound(client, fake, from_, body, sid=None):
    params = inbound_params(from_, body, sid)
    params["AccountSid"] = fake.account_sid
    return signed_post(client, "/sms/inbound", params, token=fake.auth_token)


def snapshot(app):
    """Every row of the tables a webhook may touch."""
    with app.app_context():
        out = {}
        for table in TABLES:
            key = "phone" if table == "phone_numbers" else "id"
            out[table] = [tuple(row) for row in db.session.execute(text(f"SELECT * FROM {table} ORDER BY {key}"))]
        return out


def message(app, **where):
    """The one outbox row matching where (column=value)."""
    with app.app_context():
        rows = db.session.scalars(select(Message).filter_by(**where)).all()
        assert len(rows) == 1, rows
        db.session.expunge_all()
        return rows[0]


def messages(app, **where):
    with app.app_context():
        rows = db.session.scalars(select(Message).filter_by(**where).order_by(Message.due_at, Message.id)).all()
        db.session.expunge_all()
        return rows


def phone_row(app, phone):
    with app.app_context():
        row = db.session.get(PhoneNumber, phone)
        if row is not None:
            db.session.expunge(row)
        return row


def audit_actions(app, action=None):
    with app.app_context():
        stmt = select(AuditEvent).order_by(AuditEvent.id)
        if action:
            stmt = stmt.where(AuditEvent.action == action)
        rows = db.session.scalars(stmt).all()
        db.session.expunge_all()
        return rows


def inbound_rows(app):
    with app.app_context():
        rows = db.session.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
        db.session.expunge_all()
        return rows


def reminder_times(app, after=None, phone=None):
    """Distinct due instants of pending visit reminders, earliest first."""
    with app.app_context():
        stmt = select(Message.due_at).where(Message.state == MessageState.PENDING,
                                            Message.template == "visit_reminder")
        if after is not None:
            stmt = stmt.where(Message.due_at > after)
        if phone is not None:
            stmt = stmt.where(Message.to_phone == phone)
        return sorted(set(db.session.scalars(stmt).all()))


def run_reminder_ticks(app, tick, n, after=None):
    """Tick at each of the next n reminder due times; return those times."""
    times = reminder_times(app, after=after)[:n]
    assert len(times) == n, times
    for at in times:
        tick(at)
    return times


def reminders_to(fake, phone):
    return [m for m in fake.messages_to(phone) if "Reply 1" in m["body"] or "回复 1" in m["body"]]


# --- signatures ------------------------------------------------------------------------------

BAD_SIGNATURES = ["missing", "empty", "garbage", "other_path", "other_host", "https", "other_token", "tampered"]


def _bad_post(client, fake, path, params, case):
    token = fake.auth_token
    if case == "missing":
        return client.post(path, data=params)
    if case == "empty":
        return client.post(path, data=params, headers={"X-Twilio-Signature": ""})
    if case == "garbage":
        return client.post(path, data=params, headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"})
    if case == "other_path":
        other = "/sms/inbound" if path == "/sms/status" else "/sms/status"
        return signed_post(client, path, params, token=token, url=PUBLIC + other)
    if case == "other_host":
        return signed_post(client, path, params, token=token, url="http://evil.example" + path)
    if case == "https":
        return signed_post(client, path, params, token=token, url="https://localhost" + path)
    if case == "other_token":
        return signed_post(client, path, params, token="0" * 32)
    if case == "tampered":
        original = dict(params)
        original["Body" if "Body" in params else "MessageStatus"] = "hello" if "Body" in params else "sent"
        signature = twilio_signature(token, PUBLIC + path, original)
        return client.post(path, data=params, headers={"X-Twilio-Signature": signature})
    raise AssertionError(case)


@pytest.mark.parametrize("case", BAD_SIGNATURES)
def test_status_callback_with_a_bad_signature_is_refused(app, client, fake_twilio, enrolled, clock, case):
    welcome = message(app, template="welcome", to_phone=PATIENT)
    params = status_params(welcome.provider_sid, "undelivered", 21610, account=fake_twilio.account_sid)
    before = snapshot(app)
    response = _bad_post(client, fake_twilio, "/sms/status", params, case)
    assert response.status_code == 403
    assert snapshot(app) == before
    assert message(app, id=welcome.id).state == MessageState.SENT


@pytest.mark.parametrize("case", BAD_SIGNATURES)
def test_inbound_with_a_bad_signature_is_refused(app, client, fake_twilio, enrolled, clock, case):
    params = inbound_params(PATIENT, "STOP")
    before = snapshot(app)
    response = _bad_post(client, fake_twilio, "/sms/inbound", params, case)
    assert response.status_code == 403
    assert snapshot(app) == before
    assert phone_row(app, PATIENT) is None or phone_row(app, PATIENT).opted_out_at is None


@pytest.mark.parametrize("app_config", [{"SMS_BACKEND": "console", "TWILIO_AUTH_TOKEN": ""}])
@pytest.mark.parametrize("path", ["/sms/status", "/sms/inbound"])
def test_without_an_auth_token_every_webhook_is_refused(app, client, make_participant, monkeypatch, path):
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    make_participant("P-001", start=START, phone=PATIENT)
    params = inbound_params(PATIENT, "STOP") if path == "/sms/inbound" else status_params("SM" + "1" * 32, "sent")
    before = snapshot(app)
    # A signature made with an empty key must not pass either.
    assert signed_post(client, path, params, token="").status_code == 403
    assert client.post(path, data=params).status_code == 403
    assert snapshot(app) == before


def test_webhooks_take_only_post(client):
    assert client.get("/sms/status").status_code == 405
    assert client.get("/sms/inbound").status_code == 405


# --- malformed but signed ---------------------------------------------------------------------

MALFORMED_STATUS = {
    "no MessageSid": {"MessageStatus": "delivered", "To": PATIENT},
    "empty MessageSid": {"MessageSid": "", "MessageStatus": "delivered"},
    "no MessageStatus": {"MessageSid": "SM" + "a" * 32},
    "unknown MessageStatus": {"MessageSid": "SM" + "a" * 32, "MessageStatus": "exploded"},
    "upper-case MessageStatus": {"MessageSid": "SM" + "a" * 32, "MessageStatus": "DELIVERED "},
    "empty form": {},
}


@pytest.mark.parametrize("params", MALFORMED_STATUS.values(), ids=MALFORMED_STATUS.keys())
def test_malformed_signed_status_callbacks_are_400(app, client, fake_twilio, enrolled, clock, params):
    before = snapshot(app)
    response = signed_post(client, "/sms/status", params, token=fake_twilio.auth_token)
    assert response.status_code == 400
    assert snapshot(app) == before


def test_malformed_status_of_a_real_message_changes_nothing(app, client, fake_twilio, enrolled, clock):
    welcome = message(app, template="welcome", to_phone=PATIENT)
    before = snapshot(app)
    response = signed_post(client, "/sms/status", {"MessageSid": welcome.provider_sid, "MessageStatus": "nope",
                                                   "ErrorCode": "21610"}, token=fake_twilio.auth_token)
    assert response.status_code == 400
    assert snapshot(app) == before


def test_a_non_numeric_error_code_is_not_a_server_error(app, client, fake_twilio, enrolled, clock):
    welcome = message(app, template="welcome", to_phone=PATIENT)
    params = status_params(welcome.provider_sid, "delivered", account=fake_twilio.account_sid)
    params["ErrorCode"] = "thirty"
    response = signed_post(client, "/sms/status", params, token=fake_twilio.auth_token)
    assert response.status_code in (204, 400)


MALFORMED_INBOUND = {
    "no MessageSid": {"From": PATIENT, "To": SENDER, "Body": "STOP"},
    "empty MessageSid": {"MessageSid": "", "From": PATIENT, "To": SENDER, "Body": "STOP"},
    "no From": {"MessageSid": "SM" + "b" * 32, "To": SENDER, "Body": "STOP"},
    "From without +": {"MessageSid": "SM" + "b" * 32, "From": PATIENT.lstrip("+"), "To": SENDER, "Body": "STOP"},
    "From with spaces": {"MessageSid": "SM" + "b" * 32, "From": "+86 138 0013 8001", "To": SENDER, "Body": "STOP"},
    "From with letters": {"MessageSid": "SM" + "b" * 32, "From": "+abc", "To": SENDER, "Body": "STOP"},
    "From just +": {"MessageSid": "SM" + "b" * 32, "From": "+", "To": SENDER, "Body": "STOP"},
    "From too long": {"MessageSid": "SM" + "b" * 32, "From": "+" + "8" * 30, "To": SENDER, "Body": "STOP"},
    "From a short name": {"MessageSid": "SM" + "b" * 32, "From": "Twilio", "To": SENDER, "Body": "hi"},
}


@pytest.mark.parametrize("params", MALFORMED_INBOUND.values(), ids=MALFORMED_INBOUND.keys())
def test_malformed_signed_inbound_is_400(app, client, fake_twilio, enrolled, clock, params):
    before = snapshot(app)
    response = signed_post(client, "/sms/inbound", params, token=fake_twilio.auth_token)
    assert response.status_code == 400
    assert snapshot(app) == before


@pytest.mark.parametrize("params", [
    {"MessageSid": "SM" + "c" * 200, "From": PATIENT, "To": SENDER, "Body": "hello"},
    {"MessageSid": "SM" + "c" * 32, "From": PATIENT, "To": "+" + "1" * 40, "Body": "hello"},
], ids=["overlong MessageSid", "overlong To"])
def test_overlong_signed_inbound_fields_are_400_not_500(app, client, fake_twilio, enrolled, clock, params):
    before = snapshot(app)
    response = signed_post(client, "/sms/inbound", params, token=fake_twilio.auth_token)
    assert response.status_code == 400
    assert snapshot(app) == before


def test_a_nul_character_in_a_signed_inbound_body_is_not_a_server_error(app, client, fake_twilio, enrolled,
                                                                        clock):
    before = snapshot(app)
    response = post_inbound(client, fake_twilio, CAREGIVER, "see you\x00 soon")
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert snapshot(app) == before
    else:
        [row] = inbound_rows(app)
        assert "\x00" not in row.body and row.action == "other"


def test_a_nul_character_in_a_signed_status_sid_is_not_a_server_error(app, client, fake_twilio, enrolled, clock):
    before = snapshot(app)
    params = status_params("SM\x00" + "d" * 30, "delivered", account=fake_twilio.account_sid)
    response = signed_post(client, "/sms/status", params, token=fake_twilio.auth_token)
    assert response.status_code in (204, 400)
    assert snapshot(app) == before


# --- status callbacks ------------------------------------------------------------------------

def test_status_moves_forward_only_and_repeats_are_idempotent(app, client, fake_twilio, enrolled, clock):
    welcome = message(app, template="welcome", to_phone=PATIENT)
    assert welcome.state == MessageState.SENT and welcome.provider_sid
    assert welcome.delivered_at is None

    assert post_status(client, fake_twilio, welcome.provider_sid, "delivered").status_code == 204
    delivered = message(app, id=welcome.id)
    assert delivered.state == MessageState.DELIVERED
    assert delivered.delivered_at == clock.now
    after_delivery = snapshot(app)

    # The same callback again, then late or out-of-order earlier states: nothing moves.
    clock.now += timedelta(minutes=5)
    for status in ("delivered", "sent", "queued", "sending", "accepted", "delivered"):
        assert post_status(client, fake_twilio, welcome.provider_sid, status).status_code == 204
        assert snapshot(app) == after_delivery, status
    # A failure reported after delivery does not undo it either.
    assert post_status(client, fake_twilio, welcome.provider_sid, "undelivered", 30003).status_code == 204
    assert snapshot(app) == after_delivery
    assert phone_row(app, PATIENT) is None or phone_row(app, PATIENT).unreachable_at is None


def test_sent_after_queued_and_delivered_after_sent(app, client, fake_twilio, enrolled, clock):
    welcome = message(app, template="welcome", to_phone=CAREGIVER)
    assert post_status(client, fake_twilio, welcome.provider_sid, "sent", to=CAREGIVER).status_code == 204
    assert message(app, id=welcome.id).state == MessageState.SENT
    assert post_status(client, fake_twilio, welcome.provider_sid, "delivered", to=CAREGIVER).status_code == 204
    assert message(app, id=welcome.id).state == MessageState.DELIVERED
    # The other welcome was not touched.
    assert message(app, template="welcome", to_phone=PATIENT).state == MessageState.SENT


def test_unknown_message_sid_is_acknowledged_and_ignored(app, client, fake_twilio, enrolled, clock):
    before = snapshot(app)
    response = post_status(client, fake_twilio, "SM" + "f" * 32, "undelivered", 21610)
    assert response.status_code == 204
    assert snapshot(app) == before


def test_undelivered_30003_marks_the_number_unreachable(app, client, fake_twilio, enrolled, clock, tick):
    welcome = message(app, template="welcome", to_phone=PATIENT)
    assert post_status(client, fake_twilio, welcome.provider_sid, "undelivered", 30003).status_code == 204

    updated = message(app, id=welcome.id)
    assert updated.state == MessageState.UNDELIVERED and updated.error_code == 30003
    row = phone_row(app, PATIENT)
    assert row.unreachable_at == clock.now and row.unreachable_code == 30003
    assert row.opted_out_at is None
    events = audit_actions(app, "phone.unreachable")
    assert len(events) == 1 and events[0].after == {"phone": PATIENT, "error_code": 30003}

    # Later texts to that number are dropped, the caregiver still gets hers.
    fake_twilio.clear()
    run_reminder_ticks(app, tick, 3)
    assert fake_twilio.messages_to(PATIENT) == []
    assert len(reminders_to(fake_twilio, CAREGIVER)) == 3
    dropped = [m for m in messages(app, to_phone=PATIENT, template="visit_reminder")
               if m.state == MessageState.SUPPRESSED]
    assert len(dropped) == 3 and {m.state_reason for m in dropped} == {"number unreachable"}


@pytest.mark.parametrize("status", ["undelivered", "failed"])
def test_error_21610_in_a_callback_opts_the_number_out(app, client, fake_twilio, enrolled, clock, tick, status):
    welcome = message(app, template="welcome", to_phone=CAREGIVER)
    response = post_status(client, fake_twilio, welcome.provider_sid, status, 21610, to=CAREGIVER)
    assert response.status_code == 204
    updated = message(app, id=welcome.id)
    assert updated.state == MessageState(status) and updated.error_code == 21610
    row = phone_row(app, CAREGIVER)
    assert row.opted_out_at == clock.now and row.opt_out_source == "error 21610"
    events = audit_actions(app, "phone.opted_out")
    assert len(events) == 1 and events[0].after["phone"] == CAREGIVER

    fake_twilio.clear()
    run_reminder_ticks(app, tick, 2)
    assert fake_twilio.messages_to(CAREGIVER) == []
    assert len(reminders_to(fake_twilio, PATIENT)) == 2


# --- inbound texts ----------------------------------------------------------------------------

@pytest.mark.parametrize("word", ["STOP", "退订", "stop!", "ＳＴＯＰ", "退订。", "Unsubscribe", "TD"])
def test_stop_opts_the_number_out_at_once(app, client, fake_twilio, tick, clock, make_participant, word):
    make_participant("P-001", start=START, lang="zh-CN", phone=PATIENT,
                     caregivers=[{"phone": CAREGIVER, "name": "Mum", "lang": "en"},
                                 {"phone": OTHER_CAREGIVER, "name": "Dad", "lang": "zh-CN"}])
    tick(NOW)
    fake_twilio.clear()

    response = post_inbound(client, fake_twilio, PATIENT, word)
    assert response.status_code == 200
    assert response.mimetype == "text/xml" and "<Message" not in response.get_data(as_text=True)

    row = phone_row(app, PATIENT)
    assert row.opted_out_at == clock.now and row.opt_out_source == "keyword"
    events = audit_actions(app, "phone.opted_out")
    assert len(events) == 1 and events[0].after == {"phone": PATIENT, "source": "keyword"}
    assert events[0].actor.startswith("sms:contact ")
    [reply] = inbound_rows(app)
    assert reply.action == "opt_out" and reply.handled_at is not None and reply.body == word
    # No text is queued in answer to STOP (the carrier confirms it).
    assert messages(app, template="reply_opt_in") == messages(app, template="reply_help") == []

    run_reminder_ticks(app, tick, 3)
    assert fake_twilio.messages_to(PATIENT) == []
    assert len(reminders_to(fake_twilio, CAREGIVER)) == 3
    assert len(reminders_to(fake_twilio, OTHER_CAREGIVER)) == 3
    suppressed = [m for m in messages(app, to_phone=PATIENT) if m.state == MessageState.SUPPRESSED]
    assert len(suppressed) == 3 and {m.state_reason for m in suppressed} == {"opted out"}


def test_start_opts_back_in_and_replies(app, client, fake_twilio, tick, clock, enrolled):
    assert post_inbound(client, fake_twilio, PATIENT, "STOP").status_code == 200
    fake_twilio.clear()
    first = run_reminder_ticks(app, tick, 1)[0]
    assert fake_twilio.messages_to(PATIENT) == []
    assert len(reminders_to(fake_twilio, CAREGIVER)) == 1

    clock.now = first + timedelta(minutes=10)
    assert post_inbound(client, fake_twilio, PATIENT, "start").status_code == 200
    row = phone_row(app, PATIENT)
    assert row.opted_out_at is None and row.opt_out_source is None
    opted_in = audit_actions(app, "phone.opted_in")
    assert len(opted_in) == 1 and opted_in[0].after == {"phone": PATIENT}
    reply = message(app, template="reply_opt_in")
    assert reply.to_phone == PATIENT and reply.state == MessageState.PENDING and reply.language == "zh-CN"
    assert reply.due_at == clock.now

    tick(reply.due_at)
    assert [m["body"] for m in fake_twilio.messages_to(PATIENT)] == [reply.body]
    assert message(app, id=reply.id).state == MessageState.SENT

    fake_twilio.clear()
    run_reminder_ticks(app, tick, 2, after=clock.now)
    assert len(reminders_to(fake_twilio, PATIENT)) == 2
    assert len(reminders_to(fake_twilio, CAREGIVER)) == 2


@pytest.mark.parametrize(("phone", "word", "lang"), [(PATIENT, "HELP", "zh-CN"), (CAREGIVER, "help", "en"),
                                                     (PATIENT, "帮助", "zh-CN")])
def test_help_replies_with_the_site_phone_only(app, client, fake_twilio, tick, clock, enrolled, phone, word, lang):
    assert app.extensions["pro_protocol"].site_phone == "+862223909999"
    assert post_inbound(client, fake_twilio, phone, word).status_code == 200
    reply = message(app, template="reply_help")
    assert reply.to_phone == phone and reply.language == lang
    # Written as people in Tianjin write it, not in E.164.
    assert "022-2390 9999" in reply.body and "+86" not in reply.body
    assert_neutral(reply.body)
    [inbound] = inbound_rows(app)
    assert inbound.action == "help" and inbound.handled_at is not None

    fake_twilio.clear()
    tick(reply.due_at)
    [sent] = fake_twilio.messages_to(phone)
    assert sent["body"] == reply.body


@pytest.mark.parametrize(("phone", "word"), [(PATIENT, "1"), (CAREGIVER, "C"), (PATIENT, "确认")])
def test_confirm_reply_confirms_the_next_visit(app, client, fake_twilio, tick, clock, enrolled, phone, word):
    with app.app_context():
        upcoming = db.session.scalars(select(Visit).where(Visit.starts_at > clock.now)
                                      .order_by(Visit.starts_at)).all()
        target, following = upcoming[0], upcoming[1]
        target_id, following_id = target.id, following.id
        target_date = target.local_start.strftime("%Y-%m-%d")
    assert post_inbound(client, fake_twilio, phone, word).status_code == 200

    with app.app_context():
        assert db.session.get(Visit, target_id).status == VisitStatus.CONFIRMED
        assert db.session.get(Visit, following_id).status == VisitStatus.SCHEDULED
        assert db.session.scalar(select(Visit.id).where(Visit.status == VisitStatus.CONFIRMED)) == target_id
    [event] = audit_actions(app, "visit.confirmed")
    assert event.entity_id == target_id and event.after["status"] == "confirmed"
    assert event.before["status"] == "scheduled"
    [inbound] = inbound_rows(app)
    assert inbound.action == "confirm" and inbound.handled_at is not None
    reply = message(app, template="reply_confirmed")
    assert reply.to_phone == phone and target_date in reply.body

    fake_twilio.clear()
    tick(reply.due_at)
    assert [m["body"] for m in fake_twilio.messages_to(phone)] == [reply.body]


def test_confirming_twice_does_not_confirm_a_later_visit(app, client, fake_twilio, clock, enrolled):
    """Reminders keep saying "reply 1 to confirm" for a visit already confirmed; a second 1 must not
    confirm the visit after it, which the family was never asked about."""
    with app.app_context():
        upcoming = db.session.scalars(select(Visit).where(Visit.starts_at > clock.now)
                                      .order_by(Visit.starts_at)).all()
        first_id, second_id = upcoming[0].id, upcoming[1].id
        first_date = upcoming[0].local_start.strftime("%Y-%m-%d")
    assert post_inbound(client, fake_twilio, PATIENT, "1").status_code == 200
    clock.now += timedelta(days=1)  # the 1-day reminder says "reply 1 to confirm" again
    assert post_inbound(client, fake_twilio, CAREGIVER, "1").status_code == 200
    with app.app_context():
        assert db.session.get(Visit, first_id).status == VisitStatus.CONFIRMED
        assert db.session.get(Visit, second_id).status == VisitStatus.SCHEDULED
    replies = messages(app, template="reply_confirmed")
    assert all(first_date in r.body for r in replies), [r.body for r in replies]


@pytest.mark.parametrize("word", ["2", "R", "改期"])
def test_reschedule_lands_in_the_inbox_and_replies(app, client, fake_twilio, tick, clock, enrolled, login, word):
    assert post_inbound(client, fake_twilio, PATIENT, word).status_code == 200
    [inbound] = inbound_rows(app)
    assert inbound.action == "reschedule" and inbound.handled_at is None
    with app.app_context():
        assert inbound.participant_id == db.session.scalar(select(Participant.id))
        assert db.session.scalar(select(Visit.id).where(Visit.status != VisitStatus.SCHEDULED)) is None
    reply = message(app, template="reply_reschedule")
    assert reply.to_phone == PATIENT and reply.state == MessageState.PENDING
    fake_twilio.clear()
    tick(reply.due_at)
    assert [m["body"] for m in fake_twilio.messages_to(PATIENT)] == [reply.body]

    login("nurse")
    page = html.unescape(client.get("/staff/inbox").get_data(as_text=True))
    assert word in page and "asks for another date" in page and "P-001" in page


def test_free_text_lands_in_the_inbox_with_one_acknowledgement_per_12_hours(
        app, client, fake_twilio, tick, clock, enrolled, login):
    body = "We are stuck in traffic, 20 minutes late"
    before_messages = len(messages(app))
    assert post_inbound(client, fake_twilio, CAREGIVER, body).status_code == 200
    [inbound] = inbound_rows(app)
    assert inbound.action == "other" and inbound.handled_at is None and inbound.body == body
    [ack] = messages(app, template="reply_ack")
    assert ack.to_phone == CAREGIVER and "022-2390 9999" in ack.body and body not in ack.body
    assert len(messages(app)) == before_messages + 1
    clock.now += timedelta(hours=11)
    post_inbound(client, fake_twilio, CAREGIVER, "Still in traffic")
    assert len(messages(app, template="reply_ack")) == 1
    clock.now += timedelta(hours=2)
    post_inbound(client, fake_twilio, CAREGIVER, "Here now")
    assert len(messages(app, template="reply_ack")) == 2
    with app.app_context():
        assert db.session.scalar(select(Visit.id).where(Visit.status != VisitStatus.SCHEDULED)) is None
    assert phone_row(app, CAREGIVER) is None or phone_row(app, CAREGIVER).can_receive

    login("nurse")
    page = html.unescape(client.get("/staff/inbox").get_data(as_text=True))
    assert body in page and "P-001" in page


def test_a_text_from_an_unknown_number_is_kept_without_a_reply(app, client, fake_twilio, clock, enrolled):
    before_messages = len(messages(app))
    assert post_inbound(client, fake_twilio, "+8613700137003", "1").status_code == 200
    [inbound] = inbound_rows(app)
    assert inbound.participant_id is None and inbound.handled_at is None
    assert len(messages(app)) == before_messages
    with app.app_context():
        assert db.session.scalar(select(Visit.id).where(Visit.status != VisitStatus.SCHEDULED)) is None


@pytest.mark.parametrize("word", ["STOP", "1", "2", "HELP", "hello there"])
def test_the_same_message_sid_twice_is_stored_once(app, client, fake_twilio, clock, enrolled, word):
    params = inbound_params(PATIENT, word)
    params["AccountSid"] = fake_twilio.account_sid
    assert signed_post(client, "/sms/inbound", params, token=fake_twilio.auth_token).status_code == 200
    once = snapshot(app)
    clock.now += timedelta(seconds=30)
    assert signed_post(client, "/sms/inbound", params, token=fake_twilio.auth_token).status_code == 200
    assert snapshot(app) == once
    assert len(inbound_rows(app)) == 1


# --- errors at send time ----------------------------------------------------------------------

def test_error_21610_when_sending_opts_the_number_out(app, fake_twilio, tick, make_participant):
    make_participant("P-001", start=START, lang="zh-CN", phone=PATIENT,
                     caregivers=[{"phone": CAREGIVER, "name": "Mum", "lang": "en"}])
    fake_twilio.fail_for(PATIENT, "21610")
    tick(NOW)
    welcome = message(app, template="welcome", to_phone=PATIENT)
    assert welcome.state == MessageState.FAILED and welcome.error_code == 21610
    row = phone_row(app, PATIENT)
    assert row.opted_out_at == NOW and row.opt_out_source == "error 21610"
    [event] = audit_actions(app, "phone.opted_out")
    assert event.after == {"phone": PATIENT, "source": "error 21610"}
    assert message(app, template="welcome", to_phone=CAREGIVER).state == MessageState.SENT

    fake_twilio.clear()  # the fake would now accept texts to the number: none may be tried
    run_reminder_ticks(app, tick, 3)
    assert fake_twilio.messages_to(PATIENT) == []
    assert len(reminders_to(fake_twilio, CAREGIVER)) == 3
    reasons = {m.state_reason for m in messages(app, to_phone=PATIENT, template="visit_reminder")
               if m.state == MessageState.SUPPRESSED}
    assert reasons == {"opted out"}


def test_error_21211_when_sending_marks_the_number_unreachable(app, fake_twilio, tick, make_participant):
    make_participant("P-001", start=START, lang="zh-CN", phone=PATIENT,
                     caregivers=[{"phone": CAREGIVER, "name": "Mum", "lang": "en"}])
    fake_twilio.fail_for(CAREGIVER, "21211")
    tick(NOW)
    welcome = message(app, template="welcome", to_phone=CAREGIVER)
    assert welcome.state == MessageState.FAILED and welcome.error_code == 21211
    row = phone_row(app, CAREGIVER)
    assert row.unreachable_at == NOW and row.unreachable_code == 21211 and row.opted_out_at is None
    assert len(audit_actions(app, "phone.unreachable")) == 1

    fake_twilio.clear()
    run_reminder_ticks(app, tick, 3)
    assert fake_twilio.messages_to(CAREGIVER) == []
    assert len(reminders_to(fake_twilio, PATIENT)) == 3
    reasons = {m.state_reason for m in messages(app, to_phone=CAREGIVER, template="visit_reminder")
               if m.state == MessageState.SUPPRESSED}
    assert reasons == {"number unreachable"}


# --- staff pages ------------------------------------------------------------------------------

def _rows_with(page, needle):
    return [html.unescape(row) for row in re.findall(r"<tr>(.*?)</tr>", page, re.S) if needle in html.unescape(row)]


def _row_with(page, needle):
    rows = _rows_with(page, needle)
    assert len(rows) == 1, (needle, len(rows))
    return rows[0]


def test_message_log_lists_texts_with_status_and_error(app, client, fake_twilio, enrolled, clock, login):
    patient_welcome = message(app, template="welcome", to_phone=PATIENT)
    carer_welcome = message(app, template="welcome", to_phone=CAREGIVER)
    assert post_status(client, fake_twilio, patient_welcome.provider_sid, "undelivered", 30003).status_code == 204
    assert post_status(client, fake_twilio, carer_welcome.provider_sid, "delivered",
                       to=CAREGIVER).status_code == 204
    login("nurse", lang="en")
    response = client.get("/staff/participants/P-001/messages")
    assert response.status_code == 200
    page = response.get_data(as_text=True)

    patient_row = _row_with(page, patient_welcome.body)
    assert "undelivered" in patient_row and "error 30003" in patient_row and PATIENT in patient_row
    carer_row = _row_with(page, carer_welcome.body)
    assert re.search(r">\s*delivered\s*<", carer_row) and "error" not in carer_row
    reminder = messages(app, to_phone=CAREGIVER, template="visit_reminder")[0]
    reminder_rows = _rows_with(page, reminder.body)
    assert reminder_rows and all(re.search(r">\s*pending\s*<", row) for row in reminder_rows)
    # The number table shows that the patient's number is unreachable.
    assert "unreachable (30003)" in html.unescape(page)


def test_inbox_lists_open_replies_and_a_nurse_marks_one_handled(app, client, fake_twilio, enrolled, clock, login):
    assert post_inbound(client, fake_twilio, PATIENT, "2").status_code == 200
    assert post_inbound(client, fake_twilio, CAREGIVER, "Can we come at ten instead?").status_code == 200
    assert post_inbound(client, fake_twilio, CAREGIVER, "HELP").status_code == 200
    reschedule, free, help_ = inbound_rows(app)
    email = login("nurse", lang="en")

    page = html.unescape(client.get("/staff/inbox").get_data(as_text=True))
    assert "Can we come at ten instead?" in page
    assert f"/staff/inbox/{reschedule.id}/handled" in page and f"/staff/inbox/{free.id}/handled" in page
    assert f"/staff/inbox/{help_.id}/" not in page  # answered automatically, not open

    response = client.post(f"/staff/inbox/{free.id}/handled")
    assert response.status_code == 303 and response.headers["Location"].endswith("/staff/inbox")
    page = html.unescape(client.get("/staff/inbox").get_data(as_text=True))
    assert "Can we come at ten instead?" not in page
    assert f"/staff/inbox/{reschedule.id}/handled" in page
    everything = html.unescape(client.get("/staff/inbox?all=1").get_data(as_text=True))
    assert "Can we come at ten instead?" in everything

    handled = {r.id: r for r in inbound_rows(app)}
    assert handled[free.id].handled_at == clock.now and handled[free.id].handled_by is not None
    assert handled[reschedule.id].handled_at is None
    [event] = audit_actions(app, "reply.handled")
    assert event.entity_id == free.id and event.actor == f"staff:{email}"

    # Marking it again changes nothing.
    clock.now += timedelta(minutes=1)
    assert client.post(f"/staff/inbox/{free.id}/handled").status_code == 303
    assert len(audit_actions(app, "reply.handled")) == 1
    assert client.post("/staff/inbox/999999/handled").status_code == 404


def test_a_monitor_cannot_mark_replies_handled(app, client, fake_twilio, enrolled, clock, login):
    assert post_inbound(client, fake_twilio, PATIENT, "2").status_code == 200
    [reply] = inbound_rows(app)
    login("monitor", lang="en")
    page = client.get("/staff/inbox").get_data(as_text=True)
    assert "asks for another date" in page and f"/staff/inbox/{reply.id}/handled" not in page
    before = snapshot(app)
    assert client.post(f"/staff/inbox/{reply.id}/handled").status_code == 403
    assert snapshot(app) == before
    assert inbound_rows(app)[0].handled_at is None


def test_staff_text_pages_need_login(client, enrolled):
    for path in ("/staff/inbox", "/staff/participants/P-001/messages"):
        response = client.get(path)
        assert response.status_code == 302 and "/staff/login" in response.headers["Location"]
    assert client.post("/staff/inbox/1/handled").status_code == 302


# --- privacy ----------------------------------------------------------------------------------

def assert_neutral(body, study_ids=()):
    lowered = body.lower()
    for word in FORBIDDEN:
        assert word not in lowered, (word, body)
    assert not re.search(r"\bALL\b", body), body
    for study_id in study_ids:
        assert study_id.lower() not in lowered, (study_id, body)


def test_no_text_names_the_drug_the_disease_or_the_study_id(app, client, fake_twilio, tick, clock,
                                                               make_participant):
    study_id = "TALL-0042"
    make_participant(study_id, start=START, lang="zh-CN", phone=PATIENT,
                     caregivers=[{"phone": CAREGIVER, "name": "Mum", "lang": "en"}])
    with app.app_context():
        queued = db.session.scalars(select(Message)).all()
        assert {m.template for m in queued} == {"welcome", "visit_reminder"}
        assert {m.language for m in queued} == {"zh-CN", "en"}
        assert len(queued) > 100
    # Replies too, in both languages.
    for phone in (PATIENT, CAREGIVER):
        for word in ("HELP", "1", "2", "STOP", "START"):
            assert post_inbound(client, fake_twilio, phone, word).status_code == 200
    with app.app_context():
        bodies = db.session.scalars(select(Message.body)).all()
        templates = set(db.session.scalars(select(Message.template)).all())
    assert templates >= {"welcome", "visit_reminder", "reply_help", "reply_confirmed", "reply_reschedule",
                         "reply_opt_in"}
    for body in bodies:
        assert_neutral(body, [study_id, "P-001"])

    tick(NOW + timedelta(hours=2))
    assert fake_twilio.messages
    for sent in fake_twilio.messages:
        assert_neutral(sent["body"], [study_id])


def test_neutral_check_catches_health_words():
    """The privacy check itself must be able to fail."""
    for bad in ("Your daratumumab infusion", "ALL clinic", "MRD test", "白血病复查", "Darzalex day"):
        with pytest.raises(AssertionError):
            assert_neutral(bad)
    assert_neutral("Reply STOP to stop. All good. Allergy? Call us.")
    with pytest.raises(AssertionError):
        assert_neutral("Visit for TALL-0042", ["TALL-0042"])
