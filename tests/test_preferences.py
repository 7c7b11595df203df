"""A family picks the evening reminder time and the language: by keyword, by the link in the welcome text,
or on the participant page; pending reminders follow, sent ones stay as they were."""

import re
from datetime import date, time, timedelta

import pytest
from conftest import NOW
from sqlalchemy import select
from test_sms_webhooks import PATIENT, messages, post_inbound, snapshot

from pro_app.audit.models import AuditEvent
from pro_app.clock import to_local
from pro_app.db import db
from pro_app.participants.models import Contact
from pro_app.protocol.model import load_protocol
from pro_app.reminders.plan import Recipient, plan_visit_reminders
from pro_app.reminders.preferences import PREFERENCES_LINK_VALID, evening_choices
from pro_app.sms.keywords import parse_preference, parse_reply
from pro_app.sms.models import MessageState

START = date(2026, 3, 16)
ZONE = "Asia/Shanghai"
LINK = re.compile(r"/p/([A-Za-z0-9_-]{32})")


@pytest.fixture
def app_config(twilio_config, reminders_only_protocol):
    return {**twilio_config, "PROTOCOL_FILE": reminders_only_protocol}


@pytest.fixture(autouse=True)
def clock(clock):
    """Webhooks and pages an hour after enrolment (the first reminders are days away)."""
    clock.now = NOW + timedelta(hours=1)
    return clock


@pytest.fixture
def enrolled(make_participant, tick, fake_twilio):
    """P-001: a zh-CN patient, welcomed at NOW; the welcome text's preferences token."""
    make_participant("P-001", start=START, lang="zh-CN", phone=PATIENT)
    tick(NOW)
    [welcome] = fake_twilio.messages_to(PATIENT)
    return LINK.search(welcome["body"]).group(1)


def contact(app):
    with app.app_context():
        c = db.session.scalar(select(Contact).where(Contact.phone == PATIENT))
        db.session.expunge_all()
        return c


def evening_reminders(app):
    """The patient's pending reminders for the evenings before a visit."""
    return [m for m in messages(app, to_phone=PATIENT, template="visit_reminder", state=MessageState.PENDING)
            if not m.ignore_quiet_hours]


def local_times(rows):
    return {to_local(m.due_at, ZONE).time() for m in rows}


def audits(app):
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "contact.preferences")
                                  .order_by(AuditEvent.id)).all()
        db.session.expunge_all()
        return rows


# --- pure ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "expected"), [
    ("EN", ("language", "en")), ("english", ("language", "en")), ("ＥＮ。", ("language", "en")),
    ("中文", ("language", "zh-CN")), ("zh", ("language", "zh-CN")),
    ("TIME 19", ("evening_time", time(19))), ("time 20:00", ("evening_time", time(20))),
    ("时间 19", ("evening_time", time(19))), ("时间20点", ("evening_time", time(20))),
    ("19:00", ("evening_time", time(19))), ("19点", ("evening_time", time(19))), ("7pm", ("evening_time", time(19))),
    ("TIME 23", ("evening_time", time(23))),
])
def test_preference_keywords(body, expected):
    assert parse_preference(body) == expected
    assert parse_reply(body) == expected[0]


@pytest.mark.parametrize("body", ["19", "1", "2", "12", "21", "100", "TIME 25", "13pm", "time", "EN please",
                                  "我们19点到", "english lessons"])
def test_numbers_alone_and_sentences_are_not_preferences(body):
    assert parse_preference(body) is None
    assert parse_reply(body) not in ("language", "evening_time")


def test_the_evening_time_moves_the_evening_steps_only():
    protocol = load_protocol()
    starts = NOW + timedelta(days=10)
    base = Recipient(1, PATIENT, "zh-CN", ZONE, time(21), time(8))
    own = Recipient(1, PATIENT, "zh-CN", ZONE, time(21), time(8), evening_time=time(20))

    def times(r):
        return {p.step: to_local(p.due_at, ZONE).time() for p in plan_visit_reminders(
            visit_id=1, revision=1, starts_at=starts, visit_zone=ZONE, recipients=[r],
            steps=protocol.visit_reminders, now=NOW)}

    assert times(base) == {"2d": time(18), "1d": time(18), "morning": time(7)}
    assert times(own) == {"2d": time(20), "1d": time(20), "morning": time(7)}


def test_the_choices_stay_out_of_quiet_hours():
    protocol = load_protocol()
    assert evening_choices(protocol, time(21), time(8)) == [time(18), time(19), time(20)]
    assert evening_choices(protocol, time(19, 30), time(8)) == [time(18), time(19)]


# --- keywords --------------------------------------------------------------------------------

def test_en_switches_the_language_confirms_in_english_and_re_renders_pending_reminders(
        app, client, fake_twilio, enrolled, clock, tick):
    assert all("研究访视提醒" in m.body for m in evening_reminders(app))
    assert post_inbound(client, fake_twilio, PATIENT, "EN").status_code == 200
    assert contact(app).language == "en"
    [reply] = messages(app, template="reply_language")
    assert reply.language == "en" and "English" in reply.body
    pending = evening_reminders(app)
    assert pending and all(m.language == "en" and "study visit" in m.body for m in pending)
    [event] = audits(app)
    assert event.before["language"] == "zh-CN" and event.after["language"] == "en"
    assert event.actor.startswith("sms:contact")
    tick(clock.now)
    assert "English" in fake_twilio.messages_to(PATIENT)[-1]["body"]


def test_staff_read_the_keywords_and_their_replies_in_words(app, client, fake_twilio, enrolled, login):
    post_inbound(client, fake_twilio, PATIENT, "EN")
    post_inbound(client, fake_twilio, PATIENT, "TIME 19")
    post_inbound(client, fake_twilio, PATIENT, "TIME 23")
    login("nurse")
    page = client.get("/staff/participants/P-001/messages").get_data(as_text=True)
    for words in ("chooses the language", "chooses the evening reminder time", "language reply",
                  "evening time reply", "evening times offered"):
        assert words in page, words
    audit = client.get("/staff/participants/P-001/audit").get_data(as_text=True)
    assert "reminder time or language changed" in audit


def test_time_keyword_moves_pending_evening_reminders_and_confirms(app, client, fake_twilio, enrolled):
    assert local_times(evening_reminders(app)) == {time(18)}
    count = len(evening_reminders(app))
    assert post_inbound(client, fake_twilio, PATIENT, "时间 20").status_code == 200
    assert contact(app).evening_time == time(20)
    assert local_times(evening_reminders(app)) == {time(20)}
    assert len(evening_reminders(app)) == count  # re-planned, not added
    [reply] = messages(app, template="reply_evening_time")
    assert "20:00" in reply.body and reply.language == "zh-CN"
    [event] = audits(app)
    assert (event.before["evening_time"], event.after["evening_time"]) == ("18:00", "20:00")


def test_a_time_outside_the_choices_changes_nothing_and_says_which_times_work(app, client, fake_twilio, enrolled):
    before = local_times(evening_reminders(app))
    assert post_inbound(client, fake_twilio, PATIENT, "TIME 23").status_code == 200
    assert contact(app).evening_time is None
    assert local_times(evening_reminders(app)) == before
    [reply] = messages(app, template="reply_evening_choices")
    assert "18:00、19:00、20:00" in reply.body
    assert audits(app) == []


def test_a_reminder_already_sent_is_not_planned_again(app, client, fake_twilio, enrolled, tick):
    first = evening_reminders(app)[0]
    tick(first.due_at)  # the first evening reminder goes at 18:00
    assert messages(app, id=first.id)[0].state == MessageState.SENT
    assert post_inbound(client, fake_twilio, PATIENT, "TIME 20").status_code == 200
    assert messages(app, id=first.id)[0].state == MessageState.SENT
    assert first.dedupe_key not in {m.dedupe_key for m in evening_reminders(app)}
    assert len(messages(app, dedupe_key=first.dedupe_key)) == 1


# --- the link in the welcome text --------------------------------------------------------------

def test_the_welcome_link_is_stored_shortened_and_opens_the_page(app, client, enrolled):
    token = enrolled
    [welcome] = messages(app, template="welcome", to_phone=PATIENT)
    assert token not in welcome.body and f"/p/{token[:4]}…" in welcome.body
    page = client.get(f"/p/{token}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'value="18:00" checked' in html and 'value="zh-CN" checked' in html
    assert "tel:+862223909999" in html
    assert page.headers["Referrer-Policy"] == "same-origin" and "no-store" in page.headers["Cache-Control"]


def test_the_page_changes_both_and_the_pending_reminders_follow(app, client, enrolled):
    token = enrolled
    response = client.post(f"/p/{token}", data={"language": "en", "evening_time": "19:00"})
    assert response.status_code == 303
    c = contact(app)
    assert (c.language, c.evening_time) == ("en", time(19))
    pending = evening_reminders(app)
    assert local_times(pending) == {time(19)} and all(m.language == "en" for m in pending)
    [event] = audits(app)
    assert event.actor.startswith("link:contact") and event.after == {"language": "en", "evening_time": "19:00"}
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Saved. Reminders on the evening before a visit will come at 19:00." in page


@pytest.mark.parametrize("form", [
    {"language": "fr", "evening_time": "19:00"},
    {"language": "en", "evening_time": "23:00"},
    {"language": "en", "evening_time": "19:30"},
    {"language": "en"},
    {},
])
def test_a_bad_form_value_is_a_clear_400_and_changes_nothing(app, client, enrolled, form):
    before = snapshot(app)
    response = client.post(f"/p/{enrolled}", data=form)
    assert response.status_code == 400
    assert "Please choose" in response.get_data(as_text=True) or "请选择" in response.get_data(as_text=True)
    assert snapshot(app) == before


def test_unknown_and_expired_links_get_the_friendly_page(app, client, enrolled, clock):
    unknown = client.get("/p/" + "x" * 32)
    assert unknown.status_code == 404
    assert "tel:+862223909999" in unknown.get_data(as_text=True)
    assert client.post("/p/" + "x" * 32, data={"language": "en", "evening_time": "19:00"}).status_code == 404
    clock.now = NOW + PREFERENCES_LINK_VALID + timedelta(minutes=1)
    before = snapshot(app)
    expired = client.post(f"/p/{enrolled}", data={"language": "en", "evening_time": "19:00"})
    assert expired.status_code == 410
    assert "TIME 19" in expired.get_data(as_text=True)
    assert snapshot(app) == before


# --- staff -----------------------------------------------------------------------------------

def test_staff_set_both_on_the_participant_page(app, client, login, enrolled):
    login("nurse")
    page = client.get("/staff/participants/P-001").get_data(as_text=True)
    c = contact(app)
    assert f'/staff/participants/P-001/contacts/{c.id}/preferences' in page
    response = client.post(f"/staff/participants/P-001/contacts/{c.id}/preferences",
                           data={"language": "en", "evening_time": "20:00"})
    assert response.status_code == 303
    c = contact(app)
    assert (c.language, c.evening_time) == ("en", time(20))
    assert local_times(evening_reminders(app)) == {time(20)}
    [event] = audits(app)
    assert event.actor == "staff:nurse@example.org" and event.staff_id is not None
    before = snapshot(app)
    bad = client.post(f"/staff/participants/P-001/contacts/{c.id}/preferences",
                      data={"language": "en", "evening_time": "03:00"})
    assert bad.status_code == 400 and snapshot(app) == before
    assert client.post("/staff/participants/P-001/contacts/999999/preferences",
                       data={"language": "en", "evening_time": "20:00"}).status_code == 404


def test_a_post_without_the_forms_token_or_from_another_site_changes_nothing(app, client, enrolled):
    from conftest import csrf_token

    app.config["WTF_CSRF_ENABLED"] = True
    form = {"language": "en", "evening_time": "19:00"}
    before = snapshot(app)
    assert client.post(f"/p/{enrolled}", data=form).status_code == 400
    token = csrf_token(client.get(f"/p/{enrolled}").get_data(as_text=True))
    refused = client.post(f"/p/{enrolled}", data={**form, "csrf_token": token},
                          headers={"Origin": "https://elsewhere.example"})
    assert refused.status_code == 400
    assert "tel:+862223909999" in refused.get_data(as_text=True)  # a family's error page: the hotline
    assert snapshot(app) == before
    saved = client.post(f"/p/{enrolled}", data={**form, "csrf_token": token}, headers={"Origin": "http://localhost"})
    assert saved.status_code == 303 and contact(app).language == "en"
