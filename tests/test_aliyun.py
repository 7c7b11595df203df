"""Mainland China: approved templates through the real Alibaba Cloud SDK to a loopback fake, beside Twilio."""

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from fake_aliyun import ACCESS_KEY_ID, ACCESS_KEY_SECRET, SIGN_NAME, FakeAliyun
from sqlalchemy import func, select

from pro_app.alerts.models import Alert
from pro_app.db import db
from pro_app.sms.models import InboundMessage, Message, MessageState, PhoneNumber, SmsRoute
from pro_app.sms.templates import TemplateSet

PATIENT, MOTHER, LONDON = "+8613800138001", "+8613900139002", "+447911123456"
FAMILY = [{"phone": MOTHER, "name": "Mother", "lang": "zh-CN", "tz": "Asia/Shanghai"},
          {"phone": LONDON, "name": "Aunt", "lang": "en", "tz": "Europe/London"}]
ENROLLED = datetime(2026, 2, 20, 2, 0, tzinfo=UTC)  # 10:00 in Tianjin
SECRET = "push-0f3c9a7d2b"


@pytest.fixture(scope="module")
def _fake_aliyun_server():
    with FakeAliyun(TemplateSet()) as fake:
        yield fake


@pytest.fixture
def _empty_fake(_fake_aliyun_server):
    _fake_aliyun_server.clear()
    _fake_aliyun_server.app_client = None
    return _fake_aliyun_server


@pytest.fixture
def fake_aliyun(_empty_fake, client):
    """The loopback fake, emptied, pushing receipts and replies to this test's app."""
    _empty_fake.app_client = client
    return _empty_fake


@pytest.fixture
def app_config(twilio_config, _empty_fake):
    fake_aliyun = _empty_fake
    return {**twilio_config, "SMS_BACKEND": "aliyun", "SMS_ROUTES": "+86:aliyun,*:twilio",
            "ALIYUN_ACCESS_KEY_ID": ACCESS_KEY_ID, "ALIYUN_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET,
            "ALIYUN_SIGN_NAME": SIGN_NAME, "ALIYUN_ENDPOINT": fake_aliyun.endpoint, "ALIYUN_TIMEOUT": 1.0,
            "ALIYUN_PUSH_SECRET": SECRET}


def outbox(app, **where):
    with app.app_context():
        stmt = select(Message).order_by(Message.due_at, Message.id)
        for key, value in where.items():
            stmt = stmt.where(getattr(Message, key) == value)
        rows = db.session.scalars(stmt).all()
        db.session.expunge_all()
        return rows


def enrol(make_participant):
    return make_participant("P-CN", start=date(2026, 3, 2), tz="Asia/Shanghai", lang="zh-CN",
                            phone=PATIENT, caregivers=FAMILY, now=ENROLLED)


def run_until(app, tick, until):
    """Tick at every instant a text falls due, up to `until`."""
    seen = set()
    while True:
        due = [m.due_at for m in outbox(app, state=MessageState.PENDING) if m.due_at <= until and m.due_at not in seen]
        if not due:
            return
        seen.add(min(due))
        tick(min(due))


def url(app, kind):
    return f"http://localhost/sms/aliyun/{SECRET}/{kind}"


def test_mainland_numbers_get_approved_templates_and_london_gets_twilio(app, make_participant, tick,
                                                                        fake_aliyun, fake_twilio):
    enrol(make_participant)
    run_until(app, tick, datetime(2026, 3, 2, 0, 0, tzinfo=UTC))

    templates = TemplateSet()
    codes = {(kind, lang): templates.get(kind, lang).code
             for kind in ("welcome", "visit_reminder/infusion-first", "questionnaire_invite", "questionnaire_invites")
             for lang in ("zh-CN",)}
    for phone in (PATIENT, MOTHER):
        national = phone[3:]
        got = fake_aliyun.messages_to(national)
        by_code = {}
        for m in got:
            by_code.setdefault(m["template_code"], []).append(m)
            assert m["sign_name"] == SIGN_NAME
        welcome = by_code[codes[("welcome", "zh-CN")]]
        assert len(welcome) == 1
        assert welcome[0]["params"]["calendar_url"].startswith("http://localhost/cal/")
        reminders = by_code[codes[("visit_reminder/infusion-first", "zh-CN")]]
        assert len(reminders) == 3  # 2 days, 1 day and the morning before the first infusion
        assert {r["params"]["date"] for r in reminders} == {"2026-03-02"}
        assert set(reminders[0]["params"]) == {"date", "weekday", "time", "zone_note", "when", "place"}
        assert reminders[0]["params"]["weekday"] == "星期一"
        first = "研究访视提醒：后天（2026-03-02 星期一）08:30，地点：血液科日间病房。"
        assert any(first in r["text"] for r in reminders)
        assert sorted(r["params"]["when"] for r in reminders) == ["今天", "后天", "明天"]
        if phone == PATIENT:  # an adult answers for herself; the invitation carries a study link
            # Baseline and quality of life open together: one approved text names both, with one link.
            assert codes[("questionnaire_invite", "zh-CN")] not in by_code
            [together] = by_code[codes[("questionnaire_invites", "zh-CN")]]
            assert together["params"]["count"] == "2" and together["params"]["link"].startswith("http://localhost/q/")
            assert together["params"]["titles"] == "开始前的基本情况、生活质量"
        # Each text carries its outbox id, and each outbox id went out once.
        out_ids = [m["out_id"] for m in got]
        assert len(out_ids) == len(set(out_ids))
        for message in outbox(app, to_phone=phone, state=MessageState.SENT):
            assert message.route == "aliyun"
            assert str(message.id) in out_ids
    # The aunt in London: the same participant's texts, through Twilio, in the app's own wording.
    assert fake_aliyun.messages_to(LONDON[1:]) == []
    london = fake_twilio.messages_to(LONDON)
    assert any("webcal://localhost/cal/" in m["body"] for m in london)
    sent_reminders = outbox(app, to_phone=LONDON, template="visit_reminder", state=MessageState.SENT)
    assert len(sent_reminders) >= 2
    assert sum("Study centre: study visit " in m["body"] for m in london) == len(sent_reminders)
    assert {m.route for m in outbox(app, to_phone=LONDON, state=MessageState.SENT)} == {"twilio"}


def test_participant_page_says_which_route_serves_each_number(app, client, login, make_participant):
    enrol(make_participant)
    login("nurse")
    html = client.get("/staff/participants/P-CN").get_data(as_text=True)
    rows = {phone: html.split(phone, 1)[1].split("</tr>", 1)[0] for phone in (PATIENT, LONDON)}
    assert "Alibaba Cloud" in rows[PATIENT] and "Twilio" not in rows[PATIENT]
    assert "Twilio" in rows[LONDON] and "Alibaba Cloud" not in rows[LONDON]


def _state(app):
    with app.app_context():
        return (sorted((m.id, m.state.value, m.error_message) for m in db.session.scalars(select(Message))),
                sorted((p.phone, p.opted_out_at, p.unreachable_at) for p in db.session.scalars(select(PhoneNumber))),
                db.session.scalar(select(func.count()).select_from(InboundMessage)),
                db.session.scalar(select(func.count()).select_from(Alert)))


def test_receipts_and_replies_pushed_by_alibaba(app, make_participant, tick, fake_aliyun, fake_twilio, clock):
    enrol(make_participant)
    tick(ENROLLED)
    welcome = {m["to"]: m for m in fake_aliyun.messages}
    assert set(welcome) == {PATIENT[3:], MOTHER[3:]}

    status, answer = fake_aliyun.push_report(url(app, "report"), welcome[PATIENT[3:]]["biz_id"], success=True)
    assert (status, json.loads(answer)) == (200, {"code": 0, "msg": "成功"})
    status, _ = fake_aliyun.push_report(url(app, "report"), welcome[MOTHER[3:]]["biz_id"], success=False,
                                        err_code="MK:0001")
    assert status == 200
    by_phone = {m.to_phone: m for m in outbox(app, template="welcome")}
    assert by_phone[PATIENT].state == MessageState.DELIVERED
    assert by_phone[MOTHER].state == MessageState.UNDELIVERED and "MK:0001" in by_phone[MOTHER].error_message
    with app.app_context():
        assert db.session.get(PhoneNumber, MOTHER).unreachable_at is not None  # a failure flags the number

    # The patient replies 退订: opted out at once, and nothing more reaches her.
    assert fake_aliyun.push_up(url(app, "up"), PATIENT[3:], "退订", sequence_id=4242)[0] == 200
    with app.app_context():
        assert db.session.get(PhoneNumber, PATIENT).opted_out_at is not None
    before = _state(app)
    # The same pushes again (Alibaba repeats a push it thinks failed) change nothing.
    fake_aliyun.push_report(url(app, "report"), welcome[PATIENT[3:]]["biz_id"], success=True)
    fake_aliyun.push_report(url(app, "report"), welcome[MOTHER[3:]]["biz_id"], success=False)
    fake_aliyun.push_up(url(app, "up"), PATIENT[3:], "退订", sequence_id=4242)
    assert _state(app) == before
    # A late failure report cannot move a delivered text back.
    fake_aliyun.push_report(url(app, "report"), welcome[PATIENT[3:]]["biz_id"], success=False)
    assert outbox(app, to_phone=PATIENT, template="welcome")[0].state == MessageState.DELIVERED

    fake_aliyun.clear()
    run_until(app, tick, datetime(2026, 3, 2, 0, 0, tzinfo=UTC))
    assert fake_aliyun.messages_to(PATIENT[3:]) == []
    assert all(m.state != MessageState.SENT for m in outbox(app, to_phone=PATIENT) if m.template != "welcome")


def test_push_replies_go_through_the_keywords_and_the_inbox(app, make_participant, tick, fake_aliyun, clock):
    enrol(make_participant)
    tick(ENROLLED)
    fake_aliyun.clear()
    clock.now = ENROLLED + timedelta(seconds=30)
    fake_aliyun.push_up(url(app, "up"), MOTHER[3:], "帮助", sequence_id=1)
    fake_aliyun.push_up(url(app, "up"), MOTHER[3:], "孩子昨晚有点咳嗽", sequence_id=2)
    fake_aliyun.push_up(url(app, "up"), PATIENT[3:], "T", sequence_id=3)  # 回T退订, as mainland texts say
    with app.app_context():
        inbound = {i.body: i for i in db.session.scalars(select(InboundMessage))}
        assert inbound["帮助"].action == "help" and inbound["帮助"].from_phone == MOTHER
        assert inbound["孩子昨晚有点咳嗽"].action == "other" and inbound["孩子昨晚有点咳嗽"].handled_at is None
        assert inbound["T"].action == "opt_out" and db.session.get(PhoneNumber, PATIENT).opted_out_at is not None
    tick(ENROLLED + timedelta(minutes=1))
    help_code = TemplateSet().get("reply_help", "zh-CN").code
    assert [m["template_code"] for m in fake_aliyun.messages_to(MOTHER[3:])] == [help_code]


def test_wrong_secret_is_404_and_malformed_pushes_are_400_with_nothing_stored(app, make_participant, tick,
                                                                              fake_aliyun):
    enrol(make_participant)
    tick(ENROLLED)
    sent = fake_aliyun.messages[0]
    before = _state(app)
    wrong = f"http://localhost/sms/aliyun/{SECRET}x/report"
    assert fake_aliyun.push_report(wrong, sent["biz_id"])[0] == 404
    assert fake_aliyun.push_up("http://localhost/sms/aliyun/nope/up", PATIENT[3:], "退订")[0] == 404
    for kind, payload in [
        ("report", {"phone_number": PATIENT[3:]}),  # not an array
        ("report", [{"phone_number": PATIENT[3:], "success": "yes", "biz_id": sent["biz_id"]}]),
        ("report", [{"phone_number": PATIENT[3:], "success": True, "biz_id": sent["biz_id"], "out_id": "x1"}]),
        ("up", [{"phone_number": PATIENT[3:], "content": "退订"}]),  # no sequence_id
        ("up", [{"phone_number": "not a number", "content": "退订", "sequence_id": 9}]),
        ("up", []),
    ]:
        assert fake_aliyun.post(url(app, kind), payload)[0] == 400, payload
    assert fake_aliyun.post(url(app, "up"), None, raw=b"{not json")[0] == 400
    # A valid item after a malformed one in the same push: all refused, none stored.
    mixed = [{"phone_number": PATIENT[3:], "content": "退订", "sequence_id": 7}, {"content": "TD"}]
    assert fake_aliyun.post(url(app, "up"), mixed)[0] == 400
    assert _state(app) == before


def test_flow_control_retries_later_and_sends_once(app, make_participant, tick, fake_aliyun):
    enrol(make_participant)
    fake_aliyun.fail_for(PATIENT[3:], "flow")
    tick(ENROLLED)
    message = outbox(app, to_phone=PATIENT, template="welcome")[0]
    assert message.state == MessageState.PENDING and message.state_reason == "retrying"
    assert message.due_at > ENROLLED and "BUSINESS_LIMIT_CONTROL" in message.error_message
    assert fake_aliyun.messages_to(PATIENT[3:]) == []
    tick(message.due_at - timedelta(seconds=1))
    assert fake_aliyun.messages_to(PATIENT[3:]) == []
    fake_aliyun._failures_for.clear()
    tick(message.due_at)
    tick(message.due_at + timedelta(minutes=5))
    assert [m["out_id"] for m in fake_aliyun.messages_to(PATIENT[3:])] == [str(message.id)]


def test_invalid_number_is_flagged_unreachable_with_an_alert(app, make_participant, tick, fake_aliyun):
    enrol(make_participant)
    fake_aliyun.fail_for(MOTHER[3:], "invalid")
    tick(ENROLLED)
    message = outbox(app, to_phone=MOTHER, template="welcome")[0]
    assert message.state == MessageState.FAILED and "MOBILE_NUMBER_ILLEGAL" in message.error_message
    with app.app_context():
        assert db.session.get(PhoneNumber, MOTHER).unreachable_at is not None
        alerts = db.session.scalars(select(Alert)).all()
        assert len(alerts) == 1 and "unreachable" in alerts[0].rule
    tick(ENROLLED + timedelta(days=9))
    assert len([r for r in fake_aliyun.refused if r["to"] == MOTHER[3:]]) == 1  # never tried again


def test_out_of_balance_stops_the_route_alerts_admins_and_sends_nothing_twice(
        app, client, login, make_participant, make_staff, tick, fake_aliyun, fake_twilio, runner):
    make_staff("admin", email="admin@example.org", phone="+447700900123", language="en")
    make_staff("admin", email="admin2@example.org", phone="+8613700137003")
    enrol(make_participant)
    fake_aliyun.fail_next("balance")
    tick(ENROLLED)
    with app.app_context():
        route = db.session.get(SmsRoute, "aliyun")
        assert route.stopped_at is not None and route.stop_code == "isv.AMOUNT_NOT_ENOUGH"
    assert fake_aliyun.messages == []  # the refused text and the next one on the route both wait
    held = [m for m in outbox(app, state=MessageState.PENDING, template="welcome") if m.to_phone.startswith("+86")]
    assert {m.to_phone for m in held} == {PATIENT, MOTHER}
    assert all(m.state_reason == "route stopped" for m in held)
    # The admins are told at once: the one on Twilio gets a text, every staff page has a banner.
    admin_text = fake_twilio.messages_to("+447700900123")
    assert len(admin_text) == 1 and "aliyun" in admin_text[0]["body"] and "AMOUNT_NOT_ENOUGH" in admin_text[0]["body"]
    login("nurse")
    assert "isv.AMOUNT_NOT_ENOUGH" in client.get("/staff/sms/routes").get_data(as_text=True)
    page = client.get("/staff/participants/").get_data(as_text=True)
    assert "banner-stopped" in page

    tick(ENROLLED + timedelta(hours=1))
    tick(ENROLLED + timedelta(hours=6))  # 08:00 in London
    assert fake_aliyun.messages == [] and len(fake_aliyun.refused) == 1
    assert fake_twilio.messages_to(LONDON)  # the Twilio route goes on meanwhile

    # A nurse cannot restart it; an admin (or the CLI) can.
    assert client.post("/staff/sms/routes/aliyun/restart").status_code == 403
    result = runner.invoke(args=["sms", "routes", "restart", "aliyun"])
    assert result.exit_code == 0, result.output
    run_until(app, tick, ENROLLED + timedelta(hours=7))
    out_ids = [m["out_id"] for m in fake_aliyun.messages]
    assert len(out_ids) == len(set(out_ids))
    assert sorted(m["to"] for m in fake_aliyun.messages if m["template_code"] == "SMS_900000001") == \
        sorted([PATIENT[3:], MOTHER[3:]])
    assert any(m["to"] == "13700137003" for m in fake_aliyun.messages)  # the held admin text, too


def test_one_push_settles_each_report_it_carries(app, make_participant, tick, fake_aliyun):
    enrol(make_participant)
    tick(ENROLLED)
    welcome = {m["to"]: m for m in fake_aliyun.messages}
    items = [{"phone_number": to, "success": to == PATIENT[3:], "biz_id": sent["biz_id"], "out_id": sent["out_id"],
              "err_code": "DELIVERED" if to == PATIENT[3:] else "MK:0001", "err_msg": ""}
             for to, sent in welcome.items()]
    items.append({"phone_number": "13700137000", "success": True, "biz_id": "999^0"})  # not ours: ignored
    assert fake_aliyun.post(url(app, "report"), items)[0] == 200
    by_phone = {m.to_phone: m for m in outbox(app, template="welcome")}
    assert by_phone[PATIENT].state == MessageState.DELIVERED
    assert by_phone[MOTHER].state == MessageState.UNDELIVERED and "MK:0001" in by_phone[MOTHER].error_message


def test_timeout_is_outcome_unknown_and_never_resent(app, make_participant, tick, fake_aliyun):
    enrol(make_participant)
    fake_aliyun.timeout_sleep = 2.0
    fake_aliyun.fail_for(PATIENT[3:], "timeout")
    tick(ENROLLED)
    message = outbox(app, to_phone=PATIENT, template="welcome")[0]
    assert message.state == MessageState.UNKNOWN
    tick(ENROLLED + timedelta(hours=1))
    assert len(fake_aliyun.messages_to(PATIENT[3:])) == 1
    # Alibaba took it after all: its delivery report, matched by our outbox id, settles the outcome.
    sent = fake_aliyun.messages_to(PATIENT[3:])[0]
    assert fake_aliyun.push_report(url(app, "report"), sent["biz_id"], success=True)[0] == 200
    message = outbox(app, to_phone=PATIENT, template="welcome")[0]
    assert message.state == MessageState.DELIVERED and message.provider_sid == sent["biz_id"]


def test_per_number_limits_defer_texts_instead_of_meeting_refusals(app, make_participant, tick, fake_aliyun,
                                                                      clock):
    enrol(make_participant)
    clock.now = ENROLLED
    fake_aliyun.push_up(url(app, "up"), PATIENT[3:], "帮助", sequence_id=11)
    tick(ENROLLED)
    # The welcome and the HELP answer fall due together; one a minute reaches the number.
    assert len(fake_aliyun.messages_to(PATIENT[3:])) == 1
    waiting = [m for m in outbox(app, to_phone=PATIENT, state=MessageState.PENDING)
               if m.state_reason == "per-number limit"]
    assert waiting and all(m.due_at == ENROLLED + timedelta(minutes=1) for m in waiting)
    assert all(m.attempts == 0 for m in waiting)
    run_until(app, tick, ENROLLED + timedelta(minutes=10))
    sent = fake_aliyun.messages_to(PATIENT[3:])
    assert len(sent) == 1 + len(waiting)
    assert fake_aliyun.refused == []
    times = sorted(m.attempted_at for m in outbox(app, to_phone=PATIENT, route="aliyun"))
    assert all(later - earlier >= timedelta(minutes=1) for earlier, later in zip(times, times[1:]))


def test_free_at_keeps_every_window():
    from pro_app.sms.routing import free_at, parse_limits

    limits = parse_limits("1/minute,3/hour")
    now = ENROLLED
    assert free_at([], limits, now) is None
    assert free_at([now - timedelta(seconds=59)], limits, now) == now + timedelta(seconds=1)
    assert free_at([now - timedelta(seconds=60)], limits, now) is None
    three = [now - timedelta(minutes=m) for m in (50, 20, 5)]
    assert free_at(three, limits, now) == now + timedelta(minutes=10)  # the one 50 minutes ago leaves
    with pytest.raises(ValueError, match="PRO_ALIYUN_NUMBER_LIMITS"):
        parse_limits("3/fortnight")


def test_an_admin_restarts_a_stopped_route_on_its_page(app, client, login, make_participant, tick, fake_aliyun):
    enrol(make_participant)
    fake_aliyun.fail_next("template")
    tick(ENROLLED)
    login("admin")
    assert "isv.SMS_TEMPLATE_ILLEGAL" in client.get("/staff/sms/routes").get_data(as_text=True)
    assert client.post("/staff/sms/routes/twilio/restart").status_code == 404  # not stopped
    answer = client.post("/staff/sms/routes/aliyun/restart")
    assert answer.status_code == 302
    page = client.get("/staff/sms/routes").get_data(as_text=True)
    assert "banner-stopped" not in page
    with app.app_context():
        from pro_app.audit.models import AuditEvent

        actions = [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
        assert actions.index("sms.route_stopped") < actions.index("sms.route_restarted")
    tick(ENROLLED + timedelta(minutes=16))
    assert {m["to"] for m in fake_aliyun.messages} == {PATIENT[3:], MOTHER[3:]}
