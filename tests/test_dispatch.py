"""Sending reminders through the real Twilio SDK to the loopback fake server."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from pro_app.db import db
from pro_app.participants.models import Contact, Participant, ParticipantStatus
from pro_app.sms.models import Message, MessageState, PhoneNumber
from pro_app.visits.models import Visit

PATIENT, SHANGHAI, LONDON = "+12125551234", "+8613800138012", "+447911123456"
FAMILY = [{"phone": SHANGHAI, "name": "Grandmother", "lang": "zh-CN", "tz": "Asia/Shanghai"},
          {"phone": LONDON, "name": "Aunt", "lang": "en", "tz": "Europe/London"}]


@pytest.fixture
def app_config(twilio_config, reminders_only_protocol):
    return {**twilio_config, "PROTOCOL_FILE": reminders_only_protocol}


def messages(app, **where):
    with app.app_context():
        stmt = select(Message).order_by(Message.due_at, Message.id)
        for key, value in where.items():
            stmt = stmt.where(getattr(Message, key) == value)
        return db.session.scalars(stmt).all()


def expected_reminders(app, study_id, contacts, first_weeks):
    """Compute, independently of the planner, when each contact should hear of each visit."""
    steps = [(2, 18, 0), (1, 18, 0), (0, 7, 0)]
    out = []
    with app.app_context():
        p = db.session.scalar(select(Participant).where(Participant.study_id == study_id))
        horizon = datetime.combine(p.start_date, datetime.min.time(), tzinfo=UTC) + timedelta(weeks=first_weeks)
        for visit in p.visits:
            if not (datetime.combine(p.start_date, datetime.min.time(), tzinfo=UTC) <= visit.starts_at < horizon):
                continue
            day = visit.starts_at.astimezone(ZoneInfo(p.timezone)).date()
            for phone, tz, lang in contacts:
                for days, hour, minute in steps:
                    local_day = day - timedelta(days=days)
                    when = datetime(local_day.year, local_day.month, local_day.day, hour, minute,
                                    tzinfo=ZoneInfo(tz)).astimezone(UTC)
                    if when < visit.starts_at:
                        out.append((when, phone, tz, lang, visit.id))
    return sorted(out)


def test_reminders_arrive_at_local_times_in_each_language_across_dst(app, make_participant, fake_twilio, tick):
    # Day 1 on Monday 2026-03-02 in New York: the first weeks cross the US (8 March) and
    # UK (29 March) clock changes; the grandmother in Shanghai has none.
    enrolled = datetime(2026, 2, 20, 15, 0, tzinfo=UTC)
    make_participant("P-DST", start=date(2026, 3, 2), tz="America/New_York", lang="en", age="16",
                     phone=PATIENT, caregivers=FAMILY, now=enrolled)
    contacts = [(PATIENT, "America/New_York", "en"), (SHANGHAI, "Asia/Shanghai", "zh-CN"),
                (LONDON, "Europe/London", "en")]
    # The welcome texts: no hour is outside quiet hours in all three zones at once, so the
    # Shanghai one waits for 08:00 there.
    assert "deferred 1" in tick(enrolled)
    assert fake_twilio.messages_to(SHANGHAI) == []
    tick(datetime(2026, 2, 21, 0, 0, tzinfo=UTC))
    assert sorted(m["to"] for m in fake_twilio.messages) == sorted(c[0] for c in contacts)
    fake_twilio.clear()

    expected = expected_reminders(app, "P-DST", contacts, first_weeks=5)
    assert len(expected) > 40
    by_instant = {}
    for when, phone, tz, lang, _visit in expected:
        by_instant.setdefault(when, []).append((phone, tz, lang))
    for when, due in sorted(by_instant.items()):
        tick(when - timedelta(minutes=1))
        assert fake_twilio.messages == [], f"texted before {when}: {fake_twilio.messages}"
        tick(when)
        assert sorted(m["to"] for m in fake_twilio.messages) == sorted(p for p, _, _ in due), when
        for phone, tz, lang in due:
            words = "研究访视提醒" if lang == "zh-CN" else "study visit"
            assert all(words in got["body"] for got in fake_twilio.messages_to(phone)), (phone, tz)
        fake_twilio.clear()

    # Spot checks written out by hand: 18:00 the day before, either side of each change.
    sent = {(m.to_phone, m.sent_at) for m in messages(app, template="visit_reminder")}
    assert (PATIENT, datetime(2026, 3, 7, 23, 0, tzinfo=UTC)) in sent  # Sat 18:00 EST
    assert (PATIENT, datetime(2026, 3, 8, 22, 0, tzinfo=UTC)) in sent  # Sun 18:00 EDT
    assert (LONDON, datetime(2026, 3, 28, 18, 0, tzinfo=UTC)) in sent  # Sat 18:00 GMT
    assert (LONDON, datetime(2026, 3, 29, 17, 0, tzinfo=UTC)) in sent  # Sun 18:00 BST
    assert (SHANGHAI, datetime(2026, 3, 8, 10, 0, tzinfo=UTC)) in sent  # Sun 18:00 CST
    # New York visits at 08:30 EDT are 20:30 in Shanghai: the grandmother's 07:00 text
    # that morning comes before the visit; in London, 07:00 is before 12:30 too.
    assert all(m.state == MessageState.SENT and m.provider_sid.startswith("SM")
               for m in messages(app, template="visit_reminder") if m.sent_at)


def test_a_tick_sends_each_due_text_once(app, make_participant, fake_twilio, tick):
    make_participant("P-1", start=date(2026, 3, 9), phone="+8613800138001")
    summary = tick(datetime(2026, 3, 2, 4, 0, tzinfo=UTC))
    assert "sent 1" in summary
    again = tick(datetime(2026, 3, 2, 4, 0, tzinfo=UTC))
    assert "sent" not in again and len(fake_twilio.messages) == 1
    welcome = messages(app, template="welcome")[0]
    assert welcome.state == MessageState.SENT and welcome.provider_sid == fake_twilio.messages[0]["sid"]
    assert fake_twilio.messages[0]["status_callback"] == "http://localhost/sms/status"


def test_rate_limited_sends_are_retried_with_backoff(app, make_participant, fake_twilio, tick):
    make_participant("P-1", start=date(2026, 3, 9))
    fake_twilio.fail_next("429")
    now = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
    assert "retried 1" in tick(now)
    [welcome] = messages(app, template="welcome")
    assert welcome.state == MessageState.PENDING and welcome.due_at == now + timedelta(seconds=5)
    assert "sent" not in tick(now + timedelta(seconds=4))
    assert "sent 1" in tick(now + timedelta(seconds=5))
    assert len(fake_twilio.messages) == 1 and messages(app, template="welcome")[0].attempts == 2


@pytest.mark.parametrize("kind", ["timeout", "500", "503"])
def test_unknown_outcomes_are_never_resent(app, make_participant, fake_twilio, tick, kind):
    fake_twilio.timeout_sleep = 2.0
    make_participant("P-1", start=date(2026, 3, 9))
    fake_twilio.fail_next(kind)
    now = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
    assert "unknown 1" in tick(now)
    for later in (now + timedelta(minutes=1), now + timedelta(hours=3)):
        tick(later)
    [welcome] = messages(app, template="welcome")
    assert welcome.state == MessageState.UNKNOWN and welcome.attempts == 1
    assert len(fake_twilio.messages) == (1 if kind == "timeout" else 0)


@pytest.mark.parametrize(("kind", "column"), [("21211", "unreachable_at"), ("21614", "unreachable_at"),
                                               ("21610", "opted_out_at")])
def test_permanent_errors_stop_all_texts_to_the_number(app, make_participant, fake_twilio, tick, kind, column):
    make_participant("P-1", start=date(2026, 3, 9), age="15", caregivers=[{"phone": SHANGHAI}])
    fake_twilio.fail_for("+8613800138001", kind)
    tick(datetime(2026, 3, 2, 4, 0, tzinfo=UTC))
    with app.app_context():
        status = db.session.get(PhoneNumber, "+8613800138001")
        assert getattr(status, column) is not None
    fake_twilio.clear()  # the number would accept texts again; the app must not try
    for m in messages(app, template="visit_reminder"):
        tick(m.due_at)
    assert fake_twilio.messages_to("+8613800138001") == []
    assert len(fake_twilio.messages_to(SHANGHAI)) >= 3
    dropped = messages(app, to_phone="+8613800138001", template="visit_reminder")
    assert {m.state_reason for m in dropped if m.state == MessageState.SUPPRESSED} <= {
        "opted out", "number unreachable", "stale"}


def test_after_a_six_hour_outage_useful_texts_go_and_stale_ones_are_dropped(app, make_participant, fake_twilio, tick):
    make_participant("P-1", start=date(2026, 3, 9), phone="+8613800138001")  # visits 08:30 Shanghai
    tick(datetime(2026, 3, 2, 4, 0, tzinfo=UTC))
    fake_twilio.clear()
    with app.app_context():
        first = db.session.scalar(select(Visit).where(Visit.protocol_key == "infusion-1"))
        visit_start = first.starts_at
    assert visit_start == datetime(2026, 3, 9, 0, 30, tzinfo=UTC)
    # Down from 13:00 to 19:00 on the 8th (Shanghai): the 1d reminder (18:00) is still useful.
    tick(datetime(2026, 3, 8, 4, 59, tzinfo=UTC))
    fake_twilio.clear()
    summary = tick(datetime(2026, 3, 8, 11, 0, tzinfo=UTC))
    assert "sent 1" in summary
    [late] = fake_twilio.messages
    assert "2026-03-09" in late["body"]
    # Down from 03:00 to 09:00 on the 9th: the morning text (07:00) for the 08:30 visit is stale.
    fake_twilio.clear()
    tick(datetime(2026, 3, 8, 18, 59, tzinfo=UTC))
    summary = tick(datetime(2026, 3, 9, 1, 0, tzinfo=UTC))
    assert "dropped stale 1" in summary and fake_twilio.messages == []
    morning = [m for m in messages(app, visit_id=first.id) if m.dedupe_key.endswith(":morning")]
    assert morning[0].state == MessageState.SUPPRESSED and morning[0].state_reason == "stale"


def test_a_late_text_waits_for_the_end_of_quiet_hours_or_is_dropped(app, make_participant, fake_twilio, tick):
    make_participant("P-1", start=date(2026, 3, 9), phone="+8613800138001")
    tick(datetime(2026, 3, 2, 4, 0, tzinfo=UTC))
    fake_twilio.clear()
    # The 2d reminder (18:00 on the 7th) caught up at 20:00 still goes: it says "in 2 days".
    assert "sent 1" in tick(datetime(2026, 3, 7, 12, 0, tzinfo=UTC))
    assert "后天" in fake_twilio.messages[0]["body"]
    # Caught up at 22:00 it would wait for 08:00 on the 8th, when "in 2 days" is no longer true: dropped.
    with app.app_context():
        db.session.execute(update(Message).where(Message.dedupe_key.endswith(":2d"))
                           .values(state=MessageState.PENDING, sent_at=None))
        db.session.commit()
    assert "dropped stale 1" in tick(datetime(2026, 3, 7, 14, 0, tzinfo=UTC))
    # The 1d reminder caught up at 23:00 on the 8th would have to wait past 07:00: dropped.
    summary = tick(datetime(2026, 3, 8, 15, 0, tzinfo=UTC))
    assert "dropped stale 1" in summary


def test_nothing_more_for_a_participant_who_is_no_longer_active(app, make_participant, fake_twilio, tick):
    make_participant("P-1", start=date(2026, 3, 9))
    tick(datetime(2026, 3, 2, 4, 0, tzinfo=UTC))
    with app.app_context():
        db.session.execute(update(Participant).values(status=ParticipantStatus.WITHDRAWN))
        db.session.commit()
    fake_twilio.clear()
    for m in messages(app, template="visit_reminder")[:6]:
        tick(m.due_at)
    assert fake_twilio.messages == []
    assert {m.state_reason for m in messages(app, template="visit_reminder")[:6]} == {"participant not active"}


def test_moving_a_visit_replans_its_reminders(app, client, login, make_participant, fake_twilio, tick):
    # Staff pages act on the real clock, so this participant starts in a fortnight.
    today = datetime.now(UTC)
    start = (today + timedelta(days=14)).date()
    make_participant("P-1", start=start, now=today)
    login("nurse")
    with app.app_context():
        visit_id = db.session.scalar(select(Visit.id).where(Visit.protocol_key == "infusion-2"))
    old = messages(app, visit_id=visit_id)
    assert len(old) == 3
    new_date = (start + timedelta(days=9)).isoformat()  # dose 2 was on day 8
    response = client.post(f"/staff/visits/{visit_id}/move", data={
        "new_date": new_date, "new_time": "10:00", "shift_later": "y", "reason": "Delayed"})
    assert response.status_code == 303
    now_for_visit = messages(app, visit_id=visit_id)
    assert {m.state for m in now_for_visit if m.id in {o.id for o in old}} == {MessageState.CANCELLED}
    fresh = [m for m in now_for_visit if m.state == MessageState.PENDING]
    assert len(fresh) == 3 and all(new_date in m.body and "10:00" in m.body for m in fresh)
    # The cancelled ones are never sent, the new ones are.
    for m in old + fresh:
        tick(m.due_at)
    assert len([x for x in fake_twilio.messages if "visit reminder" in x["body"] or "研究访视提醒" in x["body"]]) == 3


def test_cancelling_a_visit_cancels_its_reminders(app, client, login, make_participant):
    make_participant("P-1", start=date(2026, 3, 9))
    login("nurse")
    with app.app_context():
        visit_id = db.session.scalar(select(Visit.id).where(Visit.protocol_key == "marrow-day-29"))
    client.post(f"/staff/visits/{visit_id}/status", data={"status": "cancelled", "reason": "Not needed"})
    assert {m.state for m in messages(app, visit_id=visit_id)} == {MessageState.CANCELLED}


def test_enrolment_queues_a_welcome_with_calendar_link_for_each_contact(app, make_participant):
    make_participant("P-1", start=date(2026, 3, 9), age="15", caregivers=[{"phone": SHANGHAI, "lang": "en"}])
    welcomes = messages(app, template="welcome")
    assert [(m.to_phone, m.language) for m in welcomes] == [("+8613800138001", "zh-CN"), (SHANGHAI, "en")]
    # The calendar token is made when the text is sent: until then neither the outbox nor the
    # contact holds one.
    assert "{calendar}" in welcomes[0].body and "退订" in welcomes[0].body
    assert "STOP" in welcomes[1].body and "transfusion" in welcomes[1].body
    with app.app_context():
        assert db.session.scalars(select(Contact.calendar_token_hash)).all() == [None, None]
