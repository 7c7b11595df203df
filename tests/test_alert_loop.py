"""The alert loop end to end: an answer raises an alert, the nurse is texted, ticks escalate it,
the worklist shows it and a nurse claims, acknowledges and resolves it; the export lists it.

Texts go through the real Twilio SDK to the loopback fake. Answers go through the respondent's
real pages (link, start, each page, review, submit); staff steps go through the staff pages.
"""

import csv
import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from conftest import PASSWORD
from fake_twilio import twilio_signature
from sqlalchemy import func, select

from pro_app import alerts
from pro_app.alerts.models import Alert, AlertOccurrence, AlertState
from pro_app.alerts.operations import acknowledge, claim, raise_findings, resolve
from pro_app.alerts.rules import Finding
from pro_app.audit.models import AuditEvent
from pro_app.db import db
from pro_app.participants.models import Participant
from pro_app.questionnaires import current_instruments
from pro_app.questionnaires import operations as ops
from pro_app.questionnaires.models import Assignment, Response
from pro_app.sms.models import Message, MessageState
from pro_app.staff.models import StaffUser

PUBLIC = "http://localhost"
SENDER = "+15005550006"
# Staff phones: who gets which alert text.
NURSE, OFF_CALL, INVESTIGATOR, ADMIN = "+8613900000001", "+8613900000002", "+447700900003", "+8613900000004"
STAFF_PHONES = {NURSE, OFF_CALL, INVESTIGATOR, ADMIN}
NURSE_EMAIL = "oncall.nurse@example.org"
# Participants' phones.
PATIENT, PATIENT_EN, OTHER, CAREGIVER = "+8613800138001", "+447911123456", "+8613800138002", "+8613800138003"

# Day 1 (first infusion) is Monday 2026-03-09 in Shanghai (UTC+8, no DST). Enrolled at 10:00 on
# day 1, after the baseline windows closed (08:00), so only the later questionnaires are planned:
#   post-infusion 1: 03-09 18:00 -> 03-10 21:00 local (10:00 -> 13:00 UTC next day)
#   symptom check w1: 03-13 18:00 -> 03-16 21:00 local
#   post-infusion 2: 03-16 18:00 -> 03-17 21:00 local
START = date(2026, 3, 9)
ENROLLED = datetime(2026, 3, 9, 2, 0, tzinfo=UTC)
FEVER_AT = datetime(2026, 3, 9, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai: inside the families' quiet hours
SECOND_AT = datetime(2026, 3, 16, 11, 0, tzinfo=UTC)  # 19:00 local, after infusion 2
POST_INFUSION_1_CLOSES = datetime(2026, 3, 10, 13, 0, tzinfo=UTC)
SYMPTOM_W1_CLOSES = datetime(2026, 3, 16, 13, 0, tzinfo=UTC)
POST_INFUSION_2_CLOSES = datetime(2026, 3, 17, 13, 0, tzinfo=UTC)

# Words no staff text may carry: answers, symptoms, the instrument, the drug, the disease.
FORBIDDEN = ["39", "38", "°", "temperature", "fever", "chill", "infusion", "post-infusion", "体温", "发热", "发烧",
             "寒战", "输液", "daratumumab", "darzalex", "leukaemia", "leukemia", "mrd", "cd38", "白血病",
             "达雷妥尤单抗", "dara-tall", "t-all"]

DONE_TEXT = {
    "zh-CN": ["您的部分回答需要医生立即处理", "请立即拨打研究热线：", "请立即拨打120", "请带上研究卡"],
    "en": ["Some answers need a doctor now", "Call the study hotline now:",
           "call 120 now", "Bring the study card"],
}


@pytest.fixture
def app_config(twilio_config):
    return twilio_config


@pytest.fixture
def clock(clock):
    clock.now = ENROLLED
    return clock


@pytest.fixture
def staff(make_staff):
    """An on-call nurse, a nurse off call, an investigator, an admin (all with phones) and a monitor."""
    return {
        "nurse": make_staff("nurse", NURSE_EMAIL, phone=NURSE, on_call=True),
        "off_call": make_staff("nurse", "day.nurse@example.org", phone=OFF_CALL),
        "investigator": make_staff("investigator", phone=INVESTIGATOR, language="en"),
        "admin": make_staff("admin", phone=ADMIN),
        "monitor": make_staff("monitor"),
    }


# --- helpers -------------------------------------------------------------------------------

def text_of(response):
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def enrol(make_participant, study_id="P-001", phone=PATIENT, lang="zh-CN", start=START, now=ENROLLED, **kwargs):
    return make_participant(study_id, start=start, lang=lang, phone=phone, now=now, **kwargs)


def assignment_id(app, study_id, occasion, phone=None):
    with app.app_context():
        stmt = select(Assignment.id).join(Participant).where(Participant.study_id == study_id,
                                                               Assignment.occasion == occasion)
        if phone is not None:
            stmt = stmt.where(Assignment.contact.has(phone=phone))
        return db.session.scalar(stmt)


def post_infusion(temperature="", chills="no", chills_severity=None):
    first = {"temperature": temperature, "temperature__unit": "C", "chills": chills}
    if temperature:
        first["temperature_route"] = "1"  # armpit
    if chills_severity is not None:
        first["chills_severity"] = str(chills_severity)
    return [
        first,
        {"breathing": "0", "throat_swelling": "0", "chest_heart": "0", "fainting": "0"},
        {"bleeding": "0", "confusion": "0", "vision": "0"},
        {"rash": "no", "allergy_signs": "0", "cough": "no"},
        {"headache": "no", "nausea": "no"},
    ]


def answer(app, clock, assignment, sections, accept_language="en"):
    """Answer through the respondent's pages with a fresh link; return (phone browser, submit response)."""
    with app.app_context():
        token = ops.new_link(db.session, assignment, clock.now)  # as the invitation would carry
        db.session.commit()
    browser = app.test_client()
    browser.environ_base["HTTP_ACCEPT_LANGUAGE"] = accept_language
    assert browser.get(f"/q/{token}").status_code == 200
    started = browser.post(f"/q/{token}")
    assert started.status_code == 303 and started.headers["Location"] == "/q/answer", text_of(started)
    for index, data in enumerate(sections):
        saved = browser.post("/q/answer", data={"s": str(index), **data})
        assert saved.status_code == 303, text_of(saved)
    review = browser.get("/q/review")
    key = re.search(r'name="submit_key" value="([^"]+)"', review.get_data(as_text=True))
    assert review.status_code == 200 and key, text_of(review)
    submitted = browser.post("/q/submit", data={"submit_key": key.group(1)})
    assert submitted.status_code == 303 and submitted.headers["Location"] == "/q/done", text_of(submitted)
    return browser, submitted


def staff_browser(app, email, lang="en"):
    browser = app.test_client()
    browser.get(f"/lang/{lang}")
    response = browser.post("/staff/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 303, text_of(response)
    return browser


def all_alerts(app):
    with app.app_context():
        found = db.session.scalars(select(Alert).order_by(Alert.id)).all()
        db.session.expunge_all()
        return found


def occurrences(app, alert_id):
    with app.app_context():
        found = db.session.scalars(select(AlertOccurrence).where(AlertOccurrence.alert_id == alert_id)
                                   .order_by(AlertOccurrence.at, AlertOccurrence.id)).all()
        db.session.expunge_all()
        return found


def audit(app, action=None, entity_id=None):
    with app.app_context():
        stmt = select(AuditEvent).where(AuditEvent.entity == "alert").order_by(AuditEvent.id)
        if action:
            stmt = stmt.where(AuditEvent.action == action)
        if entity_id is not None:
            stmt = stmt.where(AuditEvent.entity_id == entity_id)
        found = db.session.scalars(stmt).all()
        db.session.expunge_all()
        return found


def staff_texts(fake):
    """The texts the gateway got for staff phones, as (phone, body), oldest first."""
    return [(m["to"], m["body"]) for m in fake.messages if m["to"] in STAFF_PHONES]


def alert_text(lang, severity, study_id, level, alert_id):
    """The staff alert text, written out by hand (not with the app's template)."""
    url = f"{PUBLIC}/staff/alerts/{alert_id}"
    if lang == "zh-CN":
        word = {"red": "红色", "amber": "黄色"}[severity]
        return f"【研究中心】{word}警报 {study_id}（第{level + 1}次通知）：请查看 {url}"
    word = {"red": "RED", "amber": "AMBER"}[severity]
    return f"Study centre: {word} alert {study_id} (notice {level + 1}): {url}"


def raise_now(app, study_id, findings, now):
    """Raise findings for a participant as a response or a tick would; return the text keys."""
    with app.app_context():
        participant = db.session.scalar(select(Participant).where(Participant.study_id == study_id))
        keys = raise_findings(db.session, participant, findings, now=now, **alerts.context())
        db.session.commit()
        return keys


def fever(value=39.0):
    return Finding("post-infusion:fever", "red", {"item": "temperature", "value": value, "threshold": 38.0})


def assert_neutral(body):
    lowered = body.lower()
    found = [word for word in FORBIDDEN if word in lowered]
    assert not found, f"staff text carries {found}: {body!r}"


# --- a fever answer: emergency advice, the nurse texted at once, one red alert ----------------

@pytest.mark.parametrize(("lang", "browser_lang", "phone"), [("zh-CN", "en", PATIENT), ("en", "zh-CN", PATIENT_EN)])
def test_fever_answer_shows_emergency_advice_and_texts_the_nurse_at_once(app, clock, staff, make_participant,
                                                                          fake_twilio, lang, browser_lang, phone):
    enrol(make_participant, lang=lang, phone=phone)
    clock.now = FEVER_AT
    # The browser asks for the other language: the page still speaks the respondent's.
    browser, _ = answer(app, clock, assignment_id(app, "P-001", "infusion-1"), post_infusion("39.0"),
                        accept_language=browser_lang)

    # The nurse's text reached the gateway during the submit request: no tick has run.
    [alert] = all_alerts(app)
    assert staff_texts(fake_twilio) == [(NURSE, alert_text("zh-CN", "red", "P-001", 0, alert.id))]
    assert_neutral(fake_twilio.messages_to(NURSE)[0]["body"])
    with app.app_context():
        [sent] = db.session.scalars(select(Message).where(Message.template == "staff_alert")).all()
        assert sent.state == MessageState.SENT and sent.sent_at == FEVER_AT
        assert sent.provider_sid == fake_twilio.messages_to(NURSE)[0]["sid"]
        assert sent.participant_id is None and sent.contact_id is None
        response = db.session.scalar(select(Response))
        assert response.answers["temperature"] == 39.0

    assert alert.rule == "post-infusion:fever" and alert.severity == "red"
    assert alert.state == AlertState.OPEN and alert.escalation_level == 0 and alert.occurrences == 1
    assert alert.opened_at == FEVER_AT and alert.last_seen_at == FEVER_AT
    assert alert.next_escalation_at == FEVER_AT + timedelta(minutes=15)
    assert alert.response_id == response.id
    assert alert.detail == {"item": "temperature", "value": 39.0, "threshold": 38.0}
    [occurrence] = occurrences(app, alert.id)
    assert occurrence.severity == "red" and occurrence.response_id == response.id and occurrence.at == FEVER_AT
    assert [e.action for e in audit(app)] == ["alert.opened"]

    done = browser.get("/q/done")
    assert done.status_code == 200
    page = text_of(done)
    hotline = app.extensions["pro_protocol"].site_phone
    assert hotline == "+862223909999"
    assert f'href="tel:{hotline}"' in page and ">022-2390 9999</a>" in page
    assert 'role="alert"' in page and f'<html lang="{lang}">' in page
    for words in DONE_TEXT[lang]:
        assert words in page, words
    other = "en" if lang == "zh-CN" else "zh-CN"
    assert not any(words in page for words in DONE_TEXT[other])


def test_without_fever_the_done_page_has_no_emergency_advice_and_nobody_is_texted(app, clock, staff,
                                                                                  make_participant, fake_twilio):
    enrol(make_participant, lang="en", phone=PATIENT_EN)
    clock.now = FEVER_AT
    browser, _ = answer(app, clock, assignment_id(app, "P-001", "infusion-1"), post_infusion("37.9"))
    page = text_of(browser.get("/q/done"))
    assert "Thank you" in page and "Some answers need a doctor now" not in page and 'role="alert"' not in page
    assert "Nothing in these answers needs a call" in page and 'href="tel:+862223909999"' in page
    assert all_alerts(app) == [] and staff_texts(fake_twilio) == []


def test_a_new_fever_a_week_after_an_open_fever_alert_opens_a_new_alert_and_texts_the_nurse(
        app, clock, staff, make_participant, fake_twilio):
    enrol(make_participant)
    clock.now = FEVER_AT
    answer(app, clock, assignment_id(app, "P-001", "infusion-1"), post_infusion("39.0"))
    [first] = all_alerts(app)
    assert len(fake_twilio.messages_to(NURSE)) == 1

    # A week later, the next after-infusion questionnaire reports fever again; the first alert is
    # still open, but over a day old: this is a new episode, and the nurse hears of it.
    clock.now = SECOND_AT
    browser, _ = answer(app, clock, assignment_id(app, "P-001", "infusion-2"), post_infusion("38.6"))
    old, new = all_alerts(app)
    assert old.id == first.id and old.occurrences == 1 and old.last_seen_at == FEVER_AT
    assert new.opened_at == SECOND_AT and new.severity == "red" and new.state == AlertState.OPEN
    assert new.rule == "post-infusion:fever" and new.occurrences == 1
    with app.app_context():
        responses = db.session.scalars(select(Response.id).order_by(Response.submitted_at)).all()
    assert [(o.at, o.response_id, o.detail["value"]) for o in occurrences(app, new.id)] == [
        (SECOND_AT, responses[1], 38.6)]
    assert staff_texts(fake_twilio) == [(NURSE, alert_text("zh-CN", "red", "P-001", 0, first.id)),
                                        (NURSE, alert_text("zh-CN", "red", "P-001", 0, new.id))]
    assert [e.action for e in audit(app)] == ["alert.opened", "alert.opened"]
    # The worklist says how old each one is: the new one is minutes old, not "open 7 days".
    clock.now = SECOND_AT + timedelta(minutes=5)
    listing = text_of(staff_browser(app, NURSE_EMAIL).get("/staff/alerts/"))
    assert "5 min" in listing and "(2)" in listing
    assert "请立即拨打研究热线" in text_of(browser.get("/q/done"))


def test_a_fever_within_a_day_of_an_open_alert_joins_it_and_texts_nobody_again(app, clock, staff,
                                                                              make_participant, fake_twilio):
    enrol(make_participant)
    raise_now(app, "P-001", [fever(39.0)], FEVER_AT)
    [alert] = all_alerts(app)
    later = FEVER_AT + timedelta(hours=23)
    assert raise_now(app, "P-001", [fever(38.6)], later) == []
    [again] = all_alerts(app)
    assert again.id == alert.id and again.occurrences == 2 and again.last_seen_at == later
    assert [o.detail["value"] for o in occurrences(app, alert.id)] == [39.0, 38.6]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Message)
                                 .where(Message.template == "staff_alert")) == 1
    # Once acknowledged, the next one is a new episode even within the day.
    with app.app_context():
        nurse = db.session.scalar(select(StaffUser).where(StaffUser.email == NURSE_EMAIL))
        acknowledge(db.session, db.session.get(Alert, alert.id), nurse, later)
        db.session.commit()
    keys = raise_now(app, "P-001", [fever(39.2)], later + timedelta(minutes=30))
    assert len(keys) == 1 and len(all_alerts(app)) == 2


def test_amber_becoming_red_texts_the_nurse_and_starts_the_red_clock(app, clock, staff, make_participant,
                                                                    fake_twilio, tick):
    enrol(make_participant)
    rule = "post-infusion:chills_severe"
    opened = FEVER_AT
    assert raise_now(app, "P-001", [Finding(rule, "amber", {"item": "chills_severity"})], opened) == []
    # Amber waits one business day: Monday 22:30 -> Tuesday 22:30 local.
    [alert] = all_alerts(app)
    assert alert.next_escalation_at == opened + timedelta(days=1)
    tick(opened)
    assert staff_texts(fake_twilio) == []

    later = opened + timedelta(hours=2)
    keys = raise_now(app, "P-001", [Finding(rule, "red", {"item": "chills_severity"})], later)
    assert len(keys) == 1
    [alert] = all_alerts(app)
    assert alert.severity == "red" and alert.occurrences == 2 and alert.escalation_level == 0
    assert alert.next_escalation_at == later + timedelta(minutes=15) and alert.opened_at == opened
    tick(later)
    assert staff_texts(fake_twilio) == [(NURSE, alert_text("zh-CN", "red", "P-001", 0, alert.id))]
    assert [o.severity for o in occurrences(app, alert.id)] == ["amber", "red"]


def test_amber_that_escalated_then_turned_red_still_escalates_by_text(app, clock, staff, make_participant,
                                                                      fake_twilio, tick):
    """The red escalation texts must not be taken for the amber ones already sent at the same level."""
    enrol(make_participant)
    rule = "post-infusion:chills_severe"
    opened = FEVER_AT
    with app.app_context():
        questionnaire = db.session.get(Assignment, assignment_id(app, "P-001", "infusion-1"))
        participant = questionnaire.participant
        # Answers saved in the same unfinished questionnaire, a day apart, belong to one episode.
        raise_findings(db.session, participant, [Finding(rule, "amber", {"item": "chills_severity"})], now=opened,
                       assignment=questionnaire, **alerts.context())
        db.session.commit()
    [alert] = all_alerts(app)
    tick(opened + timedelta(days=1))  # one business day: level 1, the investigator hears of the amber alert
    assert staff_texts(fake_twilio) == [(INVESTIGATOR, alert_text("en", "amber", "P-001", 1, alert.id))]
    fake_twilio.clear()

    turned = opened + timedelta(days=1, hours=1)
    with app.app_context():
        questionnaire = db.session.get(Assignment, assignment_id(app, "P-001", "infusion-1"))
        raise_findings(db.session, questionnaire.participant, [Finding(rule, "red", {"item": "chills_severity"})],
                       now=turned, assignment=questionnaire, **alerts.context())
        db.session.commit()
    [same] = all_alerts(app)
    assert same.id == alert.id and same.severity == "red" and same.escalation_level == 0
    tick(turned)
    assert staff_texts(fake_twilio) == [(NURSE, alert_text("zh-CN", "red", "P-001", 0, alert.id))]
    fake_twilio.clear()
    tick(turned + timedelta(minutes=15))
    assert staff_texts(fake_twilio) == [(INVESTIGATOR, alert_text("en", "red", "P-001", 1, alert.id))]


# --- escalation ------------------------------------------------------------------------------

def test_an_unacknowledged_red_alert_escalates_at_15_and_30_minutes(app, clock, staff, make_participant,
                                                                   fake_twilio, tick):
    enrol(make_participant)
    clock.now = FEVER_AT
    answer(app, clock, assignment_id(app, "P-001", "infusion-1"), post_infusion("39.0"))
    [alert] = all_alerts(app)
    fake_twilio.clear()

    tick(FEVER_AT + timedelta(minutes=14, seconds=59))
    assert staff_texts(fake_twilio) == [] and audit(app, "alert.escalated") == []
    assert all_alerts(app)[0].escalation_level == 0

    level_1 = FEVER_AT + timedelta(minutes=15)
    assert "alerts escalated 1" in tick(level_1)
    assert staff_texts(fake_twilio) == [(INVESTIGATOR, alert_text("en", "red", "P-001", 1, alert.id))]
    [event] = audit(app, "alert.escalated")
    assert event.actor == "system" and event.at == level_1 and event.entity_id == alert.id
    assert event.after == {"level": 1}
    now = all_alerts(app)[0]
    assert now.escalation_level == 1 and now.next_escalation_at == level_1 + timedelta(minutes=15)
    assert now.state == AlertState.OPEN
    fake_twilio.clear()

    tick(FEVER_AT + timedelta(minutes=29, seconds=59))
    assert staff_texts(fake_twilio) == []
    level_2 = FEVER_AT + timedelta(minutes=30)
    assert "alerts escalated 1" in tick(level_2)
    # Everyone responsible: the on-call nurse, the investigator and the admin; not the nurse off call.
    assert sorted(staff_texts(fake_twilio)) == sorted([
        (NURSE, alert_text("zh-CN", "red", "P-001", 2, alert.id)),
        (INVESTIGATOR, alert_text("en", "red", "P-001", 2, alert.id)),
        (ADMIN, alert_text("zh-CN", "red", "P-001", 2, alert.id)),
    ])
    assert [e.after for e in audit(app, "alert.escalated")] == [{"level": 1}, {"level": 2}]
    for _phone, body in staff_texts(fake_twilio):
        assert_neutral(body)


def test_an_acknowledged_alert_never_escalates(app, clock, staff, make_participant, fake_twilio, tick):
    enrol(make_participant)
    clock.now = FEVER_AT
    answer(app, clock, assignment_id(app, "P-001", "infusion-1"), post_infusion("39.0"))
    [alert] = all_alerts(app)
    fake_twilio.clear()

    nurse = staff_browser(app, NURSE_EMAIL)
    clock.now = FEVER_AT + timedelta(minutes=5)
    acked = nurse.post(f"/staff/alerts/{alert.id}/acknowledge")
    assert acked.status_code == 303 and acked.headers["Location"] == f"/staff/alerts/{alert.id}"
    now = all_alerts(app)[0]
    assert now.state == AlertState.ACKNOWLEDGED and now.acknowledged_at == clock.now
    assert now.next_escalation_at is None and now.owner_id is not None

    for later in (timedelta(minutes=15), timedelta(minutes=30), timedelta(hours=3), timedelta(days=2)):
        assert "alerts escalated" not in tick(FEVER_AT + later)
    assert staff_texts(fake_twilio) == [] and audit(app, "alert.escalated") == []
    assert all_alerts(app)[0].escalation_level == 0


def test_an_amber_alert_opened_on_a_friday_escalates_on_monday_at_the_same_local_time(app, clock, staff,
                                                                                     make_participant, fake_twilio,
                                                                                     tick):
    # Day 1 on Thursday 2026-03-12: the after-infusion window runs to Friday 21:00 in Shanghai.
    enrol(make_participant, start=date(2026, 3, 12), now=datetime(2026, 3, 12, 2, 0, tzinfo=UTC))
    friday = datetime(2026, 3, 13, 2, 0, tzinfo=UTC)  # Friday 10:00 in Shanghai
    monday = datetime(2026, 3, 16, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
    clock.now = friday
    # "Severe" (3) chills is the instrument's amber answer; "very severe" (4) would be red.
    browser, _ = answer(app, clock, assignment_id(app, "P-001", "infusion-1"),
                        post_infusion("37.2", chills="yes", chills_severity=3))
    [alert] = all_alerts(app)
    assert alert.rule == "post-infusion:chills_severe" and alert.severity == "amber"
    assert alert.next_escalation_at == monday
    assert staff_texts(fake_twilio) == []  # amber: no text when it opens
    assert "Some answers need a doctor now" not in text_of(browser.get("/q/done"))

    for at in (friday + timedelta(hours=12), datetime(2026, 3, 14, 2, 0, tzinfo=UTC),
               datetime(2026, 3, 15, 2, 0, tzinfo=UTC), monday - timedelta(seconds=1)):
        tick(at)
        assert staff_texts(fake_twilio) == [], at
    assert audit(app, "alert.escalated") == []
    assert "alerts escalated 1" in tick(monday)
    assert staff_texts(fake_twilio) == [(INVESTIGATOR, alert_text("en", "amber", "P-001", 1, alert.id))]
    escalated = all_alerts(app)[0]
    assert escalated.escalation_level == 1
    assert escalated.next_escalation_at == datetime(2026, 3, 17, 2, 0, tzinfo=UTC)  # Tuesday 10:00 local


# --- missed questionnaires and unreachable contacts -------------------------------------------

def test_two_missed_questionnaires_in_a_row_raise_one_amber_alert(app, clock, staff, make_participant,
                                                                  fake_twilio, tick, give_infusion):
    enrol(make_participant, "P-001", PATIENT)
    enrol(make_participant, "P-002", OTHER)
    for study_id in ("P-001", "P-002"):  # only an infusion recorded as given has an after-infusion check
        for dose in (1, 2):
            give_infusion(study_id, dose=dose, now=ENROLLED)
    # P-002 answers the symptom check between two after-infusion questionnaires it misses.
    with app.app_context():
        a = db.session.get(Assignment, assignment_id(app, "P-002", "weekly-w1"))
        instrument = current_instruments()["symptom-check"]
        at = datetime(2026, 3, 14, 2, 0, tzinfo=UTC)
        draft = ops.open_draft(db.session, a, instrument, at)
        ops.submit(db.session, a, draft, instrument, draft.submit_key, at)
        db.session.commit()

    assert "questionnaires expired 2" in tick(POST_INFUSION_1_CLOSES)
    assert all_alerts(app) == []
    tick(SYMPTOM_W1_CLOSES - timedelta(seconds=1))
    assert all_alerts(app) == []

    # The tick that expires P-001's second window in a row raises the alert.
    assert "questionnaires expired 1" in tick(SYMPTOM_W1_CLOSES)
    [alert] = all_alerts(app)
    with app.app_context():
        assert db.session.get(Participant, alert.participant_id).study_id == "P-001"
    assert alert.rule == "missed-questionnaires" and alert.severity == "amber" and alert.state == AlertState.OPEN
    assert alert.opened_at == SYMPTOM_W1_CLOSES
    assert alert.detail == {"instrument": "symptom-check", "missed_in_a_row": 2}
    assert staff_texts(fake_twilio) == []

    # The third miss attaches to it; P-002's miss after an answered one raises nothing.
    assert "questionnaires expired 2" in tick(POST_INFUSION_2_CLOSES)
    [again] = all_alerts(app)
    assert again.id == alert.id and again.occurrences == 2 and again.last_seen_at == POST_INFUSION_2_CLOSES


def test_stop_from_a_contact_raises_an_unreachable_alert_for_the_participant(app, clock, staff, make_participant,
                                                                            fake_twilio):
    enrol(make_participant, age="15", caregivers=[{"phone": CAREGIVER, "name": "Mum", "lang": "zh-CN"}])
    enrol(make_participant, "P-002", OTHER)
    clock.now = FEVER_AT

    def stop(sid):
        params = {"MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid, "AccountSid": fake_twilio.account_sid,
                  "From": CAREGIVER, "To": SENDER, "Body": "退订", "NumMedia": "0", "NumSegments": "1",
                  "SmsStatus": "received", "ApiVersion": "2010-04-01"}
        signature = twilio_signature(fake_twilio.auth_token, PUBLIC + "/sms/inbound", params)
        return app.test_client().post("/sms/inbound", data=params, headers={"X-Twilio-Signature": signature})

    assert stop("SM" + "a" * 32).status_code == 200
    [alert] = all_alerts(app)
    with app.app_context():
        assert db.session.get(Participant, alert.participant_id).study_id == "P-001"
    assert alert.rule == "unreachable-contact" and alert.severity == "amber" and alert.state == AlertState.OPEN
    assert alert.detail == {"reason": "opted out", "error_code": None} and alert.opened_at == FEVER_AT
    assert staff_texts(fake_twilio) == []
    # A repeated STOP (the number is already opted out) adds nothing.
    clock.now = FEVER_AT + timedelta(minutes=1)
    assert stop("SM" + "b" * 32).status_code == 200
    [same] = all_alerts(app)
    assert same.occurrences == 1


# --- the worklist ------------------------------------------------------------------------------

def test_worklist_shows_red_first_then_amber_oldest_first(app, clock, staff, make_participant):
    base = FEVER_AT
    plan = [("P-A1", "amber", 0), ("P-R2", "red", 60), ("P-A3", "amber", 120), ("P-R4", "red", 30),
            ("P-A5", "amber", -30), ("P-X6", "red", -60)]
    for n, (study_id, _severity, _minutes) in enumerate(plan):
        enrol(make_participant, study_id, f"+86138001390{n:02d}")
    for study_id, severity, minutes in plan:
        finding = fever() if severity == "red" else Finding("post-infusion:rash_severe", "amber", {"item": "rash"})
        raise_now(app, study_id, [finding], base + timedelta(minutes=minutes))
    by_study = {}
    with app.app_context():
        for a in db.session.scalars(select(Alert)):
            by_study[a.participant.study_id] = a.id
        # A resolved alert leaves the worklist.
        resolved = db.session.get(Alert, by_study["P-X6"])
        resolve(db.session, resolved, db.session.scalar(select(StaffUser).where(StaffUser.email == NURSE_EMAIL)),
                base, action="no_action_needed", note="Thermometer error")
        db.session.commit()

    clock.now = base + timedelta(hours=3)
    page = staff_browser(app, staff["monitor"]).get("/staff/alerts/")
    assert page.status_code == 200
    rows = re.findall(r'<tr class="alert-(red|amber)">(.*?)</tr>', page.get_data(as_text=True), re.S)
    shown = [(severity, int(re.search(r'href="/staff/alerts/(\d+)"', row).group(1))) for severity, row in rows]
    expected = ["P-R4", "P-R2", "P-A5", "P-A1", "P-A3"]
    assert shown == [("red", by_study["P-R4"]), ("red", by_study["P-R2"]), ("amber", by_study["P-A5"]),
                     ("amber", by_study["P-A1"]), ("amber", by_study["P-A3"])], expected
    assert [re.search(r">(P-\w+)</a>", row).group(1) for _s, row in rows] == expected
    assert "(5)" in text_of(page)


def test_a_monitor_sees_the_worklist_but_cannot_change_an_alert(app, clock, staff, make_participant):
    enrol(make_participant)
    raise_now(app, "P-001", [fever()], FEVER_AT)
    [alert] = all_alerts(app)
    clock.now = FEVER_AT + timedelta(minutes=3)  # staff sessions run on the same clock: log in "now"
    monitor = staff_browser(app, staff["monitor"])
    listing = monitor.get("/staff/alerts/")
    assert listing.status_code == 200 and f'href="/staff/alerts/{alert.id}"' in text_of(listing)
    shown = monitor.get(f"/staff/alerts/{alert.id}")
    assert shown.status_code == 200 and "P-001" in text_of(shown)
    assert "/claim" not in text_of(listing) and "/resolve" not in text_of(shown)  # no buttons offered
    before = vars_of(all_alerts(app)[0])
    events = len(audit(app))
    for step, data in [("claim", {}), ("acknowledge", {}),
                       ("resolve", {"action": "called_patient", "note": "Called the family"})]:
        response = monitor.post(f"/staff/alerts/{alert.id}/{step}", data=data)
        assert response.status_code == 403, step
    assert vars_of(all_alerts(app)[0]) == before
    assert len(audit(app)) == events


def vars_of(alert):
    return {c: getattr(alert, c) for c in ("state", "owner_id", "claimed_at", "acknowledged_at", "resolved_at",
                                           "action", "note", "next_escalation_at", "escalation_level")}


@pytest.mark.parametrize("data", [{"action": "called_patient"}, {"action": "called_patient", "note": "   "},
                                  {"action": "phoned_a_friend", "note": "Called"}],
                         ids=["no note", "blank note", "unknown action"])
def test_resolving_without_a_note_or_a_known_action_is_refused(app, clock, staff, make_participant, data):
    enrol(make_participant)
    raise_now(app, "P-001", [fever()], FEVER_AT)
    [alert] = all_alerts(app)
    clock.now = FEVER_AT + timedelta(minutes=2)
    nurse = staff_browser(app, NURSE_EMAIL)
    before = vars_of(all_alerts(app)[0])
    events = len(audit(app))
    response = nurse.post(f"/staff/alerts/{alert.id}/resolve", data=data)
    assert response.status_code == 400
    page = text_of(response)
    assert "Please correct the highlighted fields." in page
    if data.get("action") == "called_patient":
        assert "Write what was done." in page and 'aria-invalid="true"' in page
    else:
        assert "Not a valid choice" in page
    assert vars_of(all_alerts(app)[0]) == before and len(audit(app)) == events


def test_claim_acknowledge_and_resolve_are_audited_with_the_nurse(app, clock, staff, make_participant):
    enrol(make_participant)
    raise_now(app, "P-001", [fever()], FEVER_AT)
    [alert] = all_alerts(app)
    clock.now = FEVER_AT
    nurse = staff_browser(app, NURSE_EMAIL)
    with app.app_context():
        nurse_id = db.session.scalar(select(StaffUser.id).where(StaffUser.email == NURSE_EMAIL))
    note = "已电话联系家属，建议去急诊。 Family called, advised A&E."
    steps = [("claim", {"back": "list"}, "/staff/alerts/"), ("acknowledge", {}, f"/staff/alerts/{alert.id}"),
             ("resolve", {"action": "advised_hospital_visit", "note": f"  {note}\n"}, f"/staff/alerts/{alert.id}")]
    for minutes, (step, data, location) in enumerate(steps, start=1):
        clock.now = FEVER_AT + timedelta(minutes=minutes)
        response = nurse.post(f"/staff/alerts/{alert.id}/{step}", data=data)
        assert response.status_code == 303 and response.headers["Location"] == location, text_of(response)

    done = all_alerts(app)[0]
    assert done.state == AlertState.RESOLVED and done.owner_id == nurse_id
    assert done.claimed_at == FEVER_AT + timedelta(minutes=1)
    assert done.acknowledged_at == FEVER_AT + timedelta(minutes=2)
    assert done.resolved_at == FEVER_AT + timedelta(minutes=3)
    assert done.action == "advised_hospital_visit" and done.note == note and done.next_escalation_at is None

    events = [e for e in audit(app, entity_id=alert.id) if e.action != "alert.opened"]
    assert [(e.action, e.actor, e.staff_id, e.at, e.before, e.after, e.reason) for e in events] == [
        ("alert.claimed", f"staff:{NURSE_EMAIL}", nurse_id, FEVER_AT + timedelta(minutes=1),
         {"owner": None}, {"owner": NURSE_EMAIL}, None),
        ("alert.acknowledged", f"staff:{NURSE_EMAIL}", nurse_id, FEVER_AT + timedelta(minutes=2),
         {"state": "open"}, {"state": "acknowledged"}, None),
        ("alert.resolved", f"staff:{NURSE_EMAIL}", nurse_id, FEVER_AT + timedelta(minutes=3),
         {"state": "acknowledged"}, {"state": "resolved", "action": "advised_hospital_visit"}, note),
    ]
    # The alert page shows the history; a second resolve changes nothing.
    page = text_of(nurse.get(f"/staff/alerts/{alert.id}"))
    history = page.split('<table class="audit')[1].split("</table>")[0]
    for action in ("alert claimed", "alert acknowledged", "alert resolved"):
        assert action in history
    assert history.count(f'data-label="Who">{NURSE_EMAIL}<') == 3 and "Advised a hospital visit" in page
    again = nurse.post(f"/staff/alerts/{alert.id}/resolve", data={"action": "other", "note": "again"})
    assert again.status_code == 303
    assert all_alerts(app)[0].action == "advised_hospital_visit" and len(audit(app, entity_id=alert.id)) == 4


# --- the export --------------------------------------------------------------------------------

def test_export_lists_alerts_with_their_triage(app, clock, staff, make_participant, runner, tmp_path):
    enrol(make_participant, "P-001", PATIENT)
    enrol(make_participant, "P-002", OTHER)
    raise_now(app, "P-001", [fever(39.0)], FEVER_AT)
    raise_now(app, "P-002", [Finding("post-infusion:rash_severe", "amber", {"item": "rash_severity"})],
              FEVER_AT + timedelta(minutes=5))
    note = "已电话联系家属；体温已降。Called the family"
    with app.app_context():
        nurse = db.session.scalar(select(StaffUser).where(StaffUser.email == NURSE_EMAIL))
        red = db.session.scalar(select(Alert).where(Alert.severity == "red"))
        claim(db.session, red, nurse, FEVER_AT + timedelta(minutes=1))
        acknowledge(db.session, red, nurse, FEVER_AT + timedelta(minutes=2))
        resolve(db.session, red, nurse, FEVER_AT + timedelta(minutes=3), action="called_patient", note=note)
        db.session.commit()
    expected = [
        {"study_id": "P-001", "rule": "post-infusion:fever", "severity": "red", "state": "resolved",
         "action": "called_patient", "note": note, "owner": NURSE_EMAIL, "occurrences": 1},
        {"study_id": "P-002", "rule": "post-infusion:rash_severe", "severity": "amber", "state": "open",
         "action": None, "note": None, "owner": None, "occurrences": 1},
    ]

    result = runner.invoke(args=["export", "alerts", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [{k: row[k] for k in expected[0]} for row in rows] == expected
    assert rows[0]["resolved_at"] == (FEVER_AT + timedelta(minutes=3)).isoformat()
    assert rows[0]["opened_at"] == FEVER_AT.isoformat() and rows[1]["resolved_at"] is None
    assert note in result.stdout  # written as is, not \u-escaped

    out = tmp_path / "alerts.csv"
    result = runner.invoke(args=["export", "alerts", "--format", "csv", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 2 alert(s)" in result.output and result.stdout == ""
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    as_text = [{k: "" if v is None else str(v) for k, v in row.items()} for row in expected]
    assert [{k: row[k] for k in expected[0]} for row in rows] == as_text
