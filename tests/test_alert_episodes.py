"""Alert episodes: one alert per participant and questionnaire listing every rule that fired, answers
assessed page by page, nurse texts spaced, staff phones watched (issue 9, acceptance 1, 2, 3 and 5).

Answers go through the respondent's real pages; texts through the real Twilio SDK to the loopback
fake. The answers are made from the instrument files themselves ("calm": the mildest answer to
every item, "worst": the worst), so these tests hold whatever wording the instruments have.
"""

import re
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from conftest import PASSWORD
from markupsafe import escape
from sqlalchemy import select, update
from test_alert_loop import all_alerts, occurrences
from test_alert_timing import fake, open_post_infusion, probe, running  # noqa: F401  (fake, running: fixtures)

from pro_app import create_app
from pro_app.alerts.episodes import NURSE_TEXT_GAP, headline, joins, nurse_text_due, rises
from pro_app.alerts.models import Alert, AlertOccurrence, AlertState
from pro_app.alerts.phones import on_call_watch
from pro_app.alerts.rules import Finding
from pro_app.alerts.wording import rule_name
from pro_app.audit.models import AuditEvent
from pro_app.audit.operations import Actor
from pro_app.db import db
from pro_app.participants.models import Participant
from pro_app.participants.operations import enrol as enrol_participant
from pro_app.participants.validation import check_enrolment
from pro_app.protocol import current_protocol
from pro_app.questionnaires import current_instruments
from pro_app.questionnaires import operations as ops
from pro_app.questionnaires.models import Assignment, Response
from pro_app.sms.models import Message, MessageState
from pro_app.sms.operations import opt_out
from pro_app.staff.cli import create_staff

PUBLIC = "http://localhost"
NURSE, INVESTIGATOR, ADMIN = "+8613900000001", "+447700900003", "+8613900000004"
STAFF_PHONES = {NURSE, INVESTIGATOR, ADMIN}
NURSE_EMAIL = "oncall.nurse@example.org"
PATIENT = "+8613800138001"
START = date(2026, 3, 9)  # day 1, a Monday
ENROLLED = datetime(2026, 3, 9, 2, 0, tzinfo=UTC)
AT = datetime(2026, 3, 16, 11, 0, tzinfo=UTC)  # 19:00 in Shanghai


@pytest.fixture
def app_config(twilio_config):
    return twilio_config


@pytest.fixture
def clock(clock):
    clock.now = ENROLLED
    return clock


@pytest.fixture
def staff(make_staff):
    return {
        "nurse": make_staff("nurse", NURSE_EMAIL, phone=NURSE, on_call=True),
        "investigator": make_staff("investigator", phone=INVESTIGATOR, language="en"),
        "admin": make_staff("admin", phone=ADMIN),
        "monitor": make_staff("monitor"),
    }


# --- answers made from the instrument ----------------------------------------------------------

def _calm(item):
    if item.type == "yesno":
        return "no"
    if item.type in ("single", "multiple"):
        return str(min(v for v, _label in item.choices))  # a checklist's first choice is "none of these"
    if item.type == "rating":
        return str(int(item.min))
    if item.type == "number" and item.required:
        return str(item.min if item.unit != "temperature" else 36.8)
    if item.type == "date" and item.required:
        return "2026-03-01"
    if item.type == "text" and item.required:
        return "-"
    return None  # optional: left empty


def _worst(item):
    if item.type == "yesno":
        return "yes"
    if item.type == "single":
        return str(max(v for v, _label in item.choices))
    if item.type == "rating":
        return str(int(item.max))
    if item.type == "multiple":
        return [str(v) for v, _label in item.choices]
    if item.type == "number":
        return "39.5" if item.unit == "temperature" else str(item.max)
    return _calm(item)


def page(section, how):
    """Form data for one page: every item answered calmly or at its worst (hidden ones are ignored)."""
    data = {}
    for item in section.items:
        value = (_worst if how == "worst" else _calm)(item)
        if value is not None:
            data[item.id] = value
        if item.type == "number" and item.unit == "temperature":
            data[f"{item.id}__unit"] = "C"
    return data


def text_of(response):
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def enrol(make_participant, study_id="P-001", phone=PATIENT):
    return make_participant(study_id, start=START, lang="zh-CN", phone=phone, now=ENROLLED)


def open_questionnaire(app, study_id, instrument_id, now, hours=6):
    """Return the id of the participant's first questionnaire of this instrument, its window open now."""
    with app.app_context():
        assignment = db.session.scalar(
            select(Assignment).join(Participant).where(Participant.study_id == study_id,
                                                       Assignment.instrument_id == instrument_id)
            .order_by(Assignment.opens_at, Assignment.id).limit(1))
        assert assignment is not None, f"{study_id} has no {instrument_id} questionnaire"
        db.session.execute(update(Assignment).where(Assignment.id == assignment.id).values(
            opens_at=now - timedelta(minutes=1), closes_at=now + timedelta(hours=hours)))
        db.session.commit()
        return assignment.id


def respondent(app, assignment_id, now):
    """A respondent's phone browser on the questionnaire's start page, started."""
    with app.app_context():
        token = ops.new_link(db.session, assignment_id, now)
        db.session.commit()
    browser = app.test_client()
    browser.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert browser.post(f"/q/{token}").status_code == 303
    return browser


def sections_of(app, assignment_id):
    with app.app_context():
        instrument_id = db.session.get(Assignment, assignment_id).instrument_id
        return current_instruments()[instrument_id].sections


def save(browser, index, data):
    saved = browser.post("/q/answer", data={"s": str(index), **data})
    assert saved.status_code == 303, text_of(saved)
    return saved.headers["Location"]


def answer_all(app, browser, assignment_id, how, submit=True):
    """Answer every page; return the pages the respondent was sent to after each save."""
    went = []
    for index, section in enumerate(sections_of(app, assignment_id)):
        went.append(save(browser, index, page(section, how)))
    if submit:
        review = browser.get("/q/review")
        key = re.search(r'name="submit_key" value="([^"]+)"', review.get_data(as_text=True))
        assert key, text_of(review)
        done = browser.post("/q/submit", data={"submit_key": key.group(1)})
        assert done.status_code == 303 and done.headers["Location"] == "/q/done", text_of(done)
    return went


def staff_texts(fake_twilio):
    return [(m["to"], m["body"]) for m in fake_twilio.messages if m["to"] in STAFF_PHONES]


def level_of(body):
    return int(re.search(r"(?:第|notice )(\d+)", body).group(1)) - 1


def staff_browser(app, email=NURSE_EMAIL):
    browser = app.test_client()
    browser.get("/lang/en")
    response = browser.post("/staff/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 303, text_of(response)
    return browser


def fired_table(html):
    found = re.search(r'<table class="fired[^"]*">(.*?)</table>', html, re.S)
    assert found, html
    return found.group(1)


def assert_every_rule_listed_by_label(app, alert_id):
    """The alert page lists each fired rule by its label (never its id) with the answer behind it."""
    html = staff_browser(app).get(f"/staff/alerts/{alert_id}").get_data(as_text=True)
    table = fired_table(html)
    rows = occurrences(app, alert_id)
    assert rows
    for o in rows:
        assert o.label, f"{o.rule} has no label"
        assert str(escape(rule_name(o.rule, o.label, "en"))) in table, o.rule
        assert o.rule not in table
    assert table.count("<tr class=\"alert-") == len(rows)
    return table


# --- pure decisions -------------------------------------------------------------------------------

def test_which_episode_a_finding_joins():
    now = AT
    assert joins(state="open", opened_at=now - timedelta(hours=24), now=now, same_questionnaire=False)
    assert not joins(state="open", opened_at=now - timedelta(hours=24, seconds=1), now=now, same_questionnaire=False)
    assert not joins(state="acknowledged", opened_at=now, now=now, same_questionnaire=False)
    assert joins(state="acknowledged", opened_at=now - timedelta(days=3), now=now, same_questionnaire=True)
    assert not joins(state="resolved", opened_at=now, now=now, same_questionnaire=True)
    assert rises("amber", "red") and rises(None, "amber") and not rises("red", "red") and not rises("red", "amber")


def test_nurse_texts_are_spaced_unless_severity_rises():
    assert nurse_text_due(AT, None) == AT
    assert nurse_text_due(AT, AT - timedelta(minutes=5)) == AT + timedelta(minutes=10)
    assert nurse_text_due(AT, AT - NURSE_TEXT_GAP) == AT
    assert nurse_text_due(AT, AT - timedelta(minutes=5), rose=True) == AT
    findings = [Finding("x:a", "amber", {}), Finding("x:r1", "red", {}), Finding("x:r2", "red", {})]
    assert headline(findings).rule == "x:r1" and headline([]) is None


# --- acceptance 1: no flood ---------------------------------------------------------------------

def test_a_worst_case_symptom_check_and_post_infusion_check_open_one_alert_listing_every_rule(
        app, clock, staff, make_participant, fake_twilio, tick):
    enrol(make_participant)
    clock.now = AT
    symptoms = open_questionnaire(app, "P-001", "symptom-check", AT)
    answer_all(app, respondent(app, symptoms, AT), symptoms, "worst")
    clock.now = AT + timedelta(minutes=40)
    after = open_questionnaire(app, "P-001", "post-infusion", clock.now)
    answer_all(app, respondent(app, after, clock.now), after, "worst")

    alerts = all_alerts(app)
    assert 1 <= len(alerts) <= 2
    [alert] = alerts  # the second questionnaire joined the open episode
    assert alert.severity == "red" and alert.state == AlertState.OPEN
    rows = occurrences(app, alert.id)
    assert {o.rule.partition(":")[0] for o in rows} == {"symptom-check", "post-infusion"}
    assert len(rows) >= 4 and len({(o.rule, o.assignment_id) for o in rows}) == len(rows)
    assert alert.occurrences == len(rows) and all(o.response_id for o in rows)
    nurse = [body for to, body in staff_texts(fake_twilio) if to == NURSE]
    assert len(nurse) == 1 and len(staff_texts(fake_twilio)) == 1
    assert_every_rule_listed_by_label(app, alert.id)
    listing = text_of(staff_browser(app).get("/staff/alerts/"))
    assert len(re.findall(r'<tr class="alert-red">', listing)) == 1
    first_label = rule_name(rows[0].rule, rows[0].label, "en")
    assert first_label in listing and rows[0].rule not in listing

    # Unacknowledged, it escalates: one text per recipient per level, however many rules fired.
    fake_twilio.clear()
    for minutes in (15, 15, 30, 30, 31):
        tick(AT + timedelta(minutes=40 + minutes))
    sent = sorted((to, level_of(body)) for to, body in staff_texts(fake_twilio))
    assert sent == sorted([(INVESTIGATOR, 1), (NURSE, 2), (INVESTIGATOR, 2), (ADMIN, 2)])


def test_after_the_nurse_acknowledges_a_new_questionnaire_opens_a_second_alert_texted_15_minutes_on(
        app, clock, staff, make_participant, fake_twilio, tick):
    enrol(make_participant)
    clock.now = AT
    symptoms = open_questionnaire(app, "P-001", "symptom-check", AT)
    answer_all(app, respondent(app, symptoms, AT), symptoms, "worst")
    [first] = all_alerts(app)
    nurse = staff_browser(app)
    clock.now = AT + timedelta(minutes=5)
    assert nurse.post(f"/staff/alerts/{first.id}/acknowledge").status_code == 303

    clock.now = AT + timedelta(minutes=10)
    after = open_questionnaire(app, "P-001", "post-infusion", clock.now)
    answer_all(app, respondent(app, after, clock.now), after, "worst")
    old, new = all_alerts(app)
    assert old.id == first.id and old.state == AlertState.ACKNOWLEDGED
    assert new.severity == "red" and {o.rule.partition(":")[0] for o in occurrences(app, new.id)} == {"post-infusion"}
    # At most one nurse text per participant per 15 minutes: the second waits, it is not dropped.
    assert [to for to, _b in staff_texts(fake_twilio)] == [NURSE]
    assert new.nurse_texted_at == AT + timedelta(minutes=15)
    assert new.next_escalation_at == AT + timedelta(minutes=30)
    tick(AT + timedelta(minutes=14))
    assert len(staff_texts(fake_twilio)) == 1
    tick(AT + timedelta(minutes=15))
    assert [to for to, _b in staff_texts(fake_twilio)] == [NURSE, NURSE]
    assert f"/staff/alerts/{new.id}" in staff_texts(fake_twilio)[1][1]
    tick(AT + timedelta(minutes=30))
    assert [(to, level_of(b)) for to, b in staff_texts(fake_twilio)[2:]] == [(INVESTIGATOR, 1)]


# --- acceptance 2 (in process): a red answer on page 3, never submitted ------------------------

def test_a_red_answer_on_page_3_alerts_at_once_shows_the_advice_and_the_episode_follows_the_answers(
        app, clock, staff, make_participant, fake_twilio, tick):
    enrol(make_participant)
    clock.now = AT
    after = open_questionnaire(app, "P-001", "post-infusion", AT, hours=2)
    browser = respondent(app, after, AT)
    sections = sections_of(app, after)
    assert save(browser, 0, page(sections[0], "calm")) == "/q/answer?s=1"
    assert save(browser, 1, page(sections[1], "calm")) == "/q/answer?s=2"
    assert all_alerts(app) == [] and staff_texts(fake_twilio) == []

    clock.now = AT + timedelta(minutes=2)
    assert save(browser, 2, page(sections[2], "worst")) == "/q/advice"
    # The nurse's text went during the save request; no tick has run.
    [alert] = all_alerts(app)
    assert staff_texts(fake_twilio) == [
        (NURSE, f"【研究中心】红色警报 P-001（第1次通知）：请查看 {PUBLIC}/staff/alerts/{alert.id}")]
    assert alert.severity == "red" and alert.response_id is None and alert.opened_at == clock.now
    first_rows = occurrences(app, alert.id)
    assert first_rows and all(o.unfinished and o.assignment_id == after for o in first_rows)

    advice = browser.get("/q/advice")
    html = text_of(advice)
    assert advice.status_code == 200 and 'role="alert"' in html and 'href="tel:+862223909999"' in html
    assert 'href="/q/answer"' in html  # they may go on
    assert browser.get("/q/answer").status_code == 200

    # The worklist marks it unfinished.
    listing = text_of(staff_browser(app).get("/staff/alerts/"))
    assert "unfinished questionnaire" in listing

    # More pages: the same episode, no second text while severity stays red.
    clock.now = AT + timedelta(minutes=4)
    rest = sections[3:]
    for index, section in enumerate(rest, start=3):
        assert save(browser, index, page(section, "worst")) in ("/q/advice", "/q/review", f"/q/answer?s={index + 1}")
    [same] = all_alerts(app)
    assert same.id == alert.id and len(staff_texts(fake_twilio)) == 1
    assert len(occurrences(app, alert.id)) >= len(first_rows)

    # Never submitted: the window closes, the alert stays, still marked unfinished.
    tick(AT + timedelta(hours=2))
    with app.app_context():
        assert db.session.get(Assignment, after).state.value == "expired"
    [kept] = all_alerts(app)
    assert kept.id == alert.id and kept.state == AlertState.OPEN
    assert all(o.unfinished for o in occurrences(app, alert.id) if o.assignment_id == after)
    shown = staff_browser(app).get(f"/staff/alerts/{alert.id}").get_data(as_text=True)
    assert "unfinished questionnaire" in fired_table(shown) and "expired" in fired_table(shown)


def test_submitting_after_a_red_page_finishes_the_same_episode(app, clock, staff, make_participant, fake_twilio):
    enrol(make_participant)
    clock.now = AT
    after = open_questionnaire(app, "P-001", "post-infusion", AT)
    browser = respondent(app, after, AT)
    went = answer_all(app, browser, after, "worst")
    assert went[0] == "/q/advice"  # a fever on the first page: the advice at once
    [alert] = all_alerts(app)
    with app.app_context():
        response_id = db.session.scalar(select(Response.id).where(Response.assignment_id == after))
    assert alert.response_id == response_id and response_id is not None
    assert all(o.response_id == response_id and not o.unfinished for o in occurrences(app, alert.id))
    assert len(staff_texts(fake_twilio)) == 1
    with app.app_context():
        opened = db.session.scalars(select(AuditEvent.action).where(AuditEvent.entity == "alert")).all()
    assert opened == ["alert.opened"]
    assert 'role="alert"' in text_of(browser.get("/q/done"))


def test_an_amber_page_then_a_red_page_texts_the_nurse_when_it_turns_red(app, clock, staff, make_participant,
                                                                        fake_twilio):
    enrol(make_participant)
    clock.now = AT
    after = open_questionnaire(app, "P-001", "post-infusion", AT)
    with app.app_context():
        participant = db.session.scalar(select(Participant).where(Participant.study_id == "P-001"))
        from pro_app import alerts
        from pro_app.alerts.operations import raise_findings
        assignment = db.session.get(Assignment, after)
        raise_findings(db.session, participant, [Finding("post-infusion:chills_severe", "amber", {})], now=AT,
                       assignment=assignment, **alerts.context())
        db.session.commit()
    assert staff_texts(fake_twilio) == []
    browser = respondent(app, after, AT)
    clock.now = AT + timedelta(minutes=1)
    assert save(browser, 0, page(sections_of(app, after)[0], "worst")) == "/q/advice"
    [alert] = all_alerts(app)
    assert alert.severity == "red" and [to for to, _b in staff_texts(fake_twilio)] == [NURSE]
    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.entity == "alert")
                                     .order_by(AuditEvent.id)).all()
    assert actions == ["alert.opened", "alert.worsened"]


# --- acceptance 5 and staff phones watched -------------------------------------------------------

def test_with_the_on_call_number_opted_out_a_red_answer_texts_the_investigator_at_once(
        app, clock, staff, make_participant, fake_twilio, tick):
    enrol(make_participant)
    with app.app_context():
        opt_out(db.session, NURSE, source="keyword", now=ENROLLED)
        db.session.commit()
    clock.now = AT
    after = open_questionnaire(app, "P-001", "post-infusion", AT)
    browser = respondent(app, after, AT)
    assert save(browser, 0, page(sections_of(app, after)[0], "worst")) == "/q/advice"

    [alert] = all_alerts(app)
    # STOP is the law: nothing to the nurse; the investigator hears during the request.
    assert [(to, level_of(b)) for to, b in staff_texts(fake_twilio)] == [(INVESTIGATOR, 1)]
    assert f"/staff/alerts/{alert.id}" in staff_texts(fake_twilio)[0][1]
    assert alert.escalation_level == 1 and alert.next_escalation_at == AT + timedelta(minutes=15)
    with app.app_context():
        assert db.session.scalar(select(Message.id).where(Message.to_phone == NURSE,
                                                          Message.template == "staff_alert")) is None
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "alert.rerouted")).all()
        assert event.after == {"from_level": 0, "to_level": 1, "phones": {NURSE_EMAIL: "opted out"}}

    listing = text_of(staff_browser(app, staff["monitor"]).get("/staff/alerts/"))
    warning = re.search(r'<div class="notice phone-warnings" role="status">(.*?)</div>', listing).group(1)
    assert NURSE_EMAIL in warning and "opted out" in warning
    assert "Nobody on call can be texted." in listing

    fake_twilio.clear()
    tick(AT + timedelta(minutes=15))
    assert sorted((to, level_of(b)) for to, b in staff_texts(fake_twilio)) == [(INVESTIGATOR, 2), (ADMIN, 2)]


def test_an_undelivered_last_text_warns_and_sends_the_next_level_too(app, clock, staff, make_participant,
                                                                     fake_twilio, make_staff):
    make_staff("nurse", "second.nurse@example.org", phone="+8613900000005", on_call=True)
    enrol(make_participant)
    with app.app_context():
        from pro_app.reminders.operations import enqueue, message_row
        enqueue(db.session, [message_row(key="earlier", participant_id=None, contact_id=None, phone=NURSE,
                                         template="staff_alert", language="zh-CN", body="earlier", due_at=ENROLLED,
                                         now=ENROLLED)])
        db.session.execute(update(Message).where(Message.dedupe_key == "earlier")
                           .values(state=MessageState.UNDELIVERED, error_code=30003))
        db.session.commit()
        watch = on_call_watch(db.session)
        assert [(s.email, reason) for s, reason in watch["problems"]] == [(NURSE_EMAIL, "undelivered")]
        assert watch["nobody_reachable"] is False
    listing = text_of(staff_browser(app).get("/staff/alerts/"))
    assert "phone-warnings" in listing and "the last text to the number was not delivered" in listing
    assert "Nobody on call can be texted." not in listing
    clock.now = AT
    after = open_questionnaire(app, "P-001", "post-infusion", AT)
    save(respondent(app, after, AT), 0, page(sections_of(app, after)[0], "worst"))
    # The nurse is still tried (the number may work again), the other on-call nurse and the investigator too.
    sent = sorted((m["to"], level_of(m["body"])) for m in fake_twilio.messages if "/staff/alerts/" in m["body"])
    assert sent == sorted([(NURSE, 0), ("+8613900000005", 0), (INVESTIGATOR, 1)])
    with app.app_context():
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "alert.rerouted")).all()
        assert event.after == {"from_level": 0, "to_level": 1, "phones": {NURSE_EMAIL: "undelivered"}}
    # This time the text went through: the warning is gone.
    assert "phone-warnings" not in text_of(staff_browser(app).get("/staff/alerts/"))


def test_phone_problems_judge_each_number_by_its_own_last_finished_text(app, clock):
    from pro_app.alerts.phones import phone_problems
    from pro_app.reminders.operations import enqueue, message_row

    failed, recovered, waiting, quiet, opted = (f"+86139000001{n}" for n in range(5))
    texts = [(failed, MessageState.DELIVERED), (failed, MessageState.FAILED),
             (recovered, MessageState.UNDELIVERED), (recovered, MessageState.DELIVERED),
             (waiting, MessageState.UNDELIVERED), (waiting, MessageState.PENDING), (waiting, MessageState.CANCELLED),
             (opted, MessageState.DELIVERED)]
    with app.app_context():
        enqueue(db.session, [message_row(key=f"t{n}", participant_id=None, contact_id=None, phone=to,
                                         template="staff_alert", language="en", body="x", due_at=ENROLLED,
                                         now=ENROLLED) for n, (to, _state) in enumerate(texts)])
        for n, (_to, state) in enumerate(texts):
            db.session.execute(update(Message).where(Message.dedupe_key == f"t{n}").values(state=state))
        opt_out(db.session, opted, source="keyword", now=ENROLLED)
        assert phone_problems(db.session, [failed, recovered, waiting, quiet, opted, None]) == {
            failed: "undelivered", waiting: "undelivered", opted: "opted out"}


def test_a_nurse_text_that_comes_back_undelivered_sends_the_alert_on_at_the_next_tick(
        app, clock, staff, make_participant, fake_twilio, tick):
    enrol(make_participant)
    clock.now = AT
    after = open_questionnaire(app, "P-001", "post-infusion", AT)
    save(respondent(app, after, AT), 0, page(sections_of(app, after)[0], "worst"))
    [alert] = all_alerts(app)
    assert [(to, level_of(b)) for to, b in staff_texts(fake_twilio)] == [(NURSE, 0)]
    fake_twilio.clear()
    tick(AT + timedelta(seconds=30))
    assert staff_texts(fake_twilio) == []  # delivered as far as anyone knows: the alert waits its 15 minutes

    # The delivery report says the nurse's phone did not get it.
    with app.app_context():
        db.session.execute(update(Message).where(Message.to_phone == NURSE, Message.template == "staff_alert")
                           .values(state=MessageState.UNDELIVERED, error_code=30003, updated_at=AT))
        db.session.commit()
    assert "alerts escalated 1" in tick(AT + timedelta(minutes=1))
    assert [(to, level_of(b)) for to, b in staff_texts(fake_twilio)] == [(INVESTIGATOR, 1)]
    moved = all_alerts(app)[0]
    assert moved.escalation_level == 1 and moved.next_escalation_at == AT + timedelta(minutes=16)
    tick(AT + timedelta(minutes=2))
    assert len(staff_texts(fake_twilio)) == 1  # once
    with app.app_context():
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "alert.rerouted")).all()
        assert event.entity_id == alert.id and event.after["from_level"] == 0 and event.after["to_level"] == 1
    assert "the last text to the number was not delivered" in text_of(staff_browser(app).get("/staff/alerts/"))


def test_the_worklist_says_so_when_nobody_on_call_has_a_phone(app, clock, make_staff):
    make_staff("nurse", NURSE_EMAIL, on_call=True)  # no phone
    make_staff("investigator", phone=INVESTIGATOR)
    listing = text_of(staff_browser(app).get("/staff/alerts/"))
    assert "Nobody on call can be texted." in listing and "no phone number" in listing


# --- acceptance 2 with `pro-app scheduler` running as a real process ----------------------------

def test_a_red_answer_saved_on_page_3_reaches_the_nurse_within_2_seconds_with_the_scheduler_running(
        running, fake):  # noqa: F811  (the fixtures imported above)
    app, scheduler = running
    token = open_post_infusion(app)
    probe(app, fake, "before", timeout=18)  # the scheduler is up and sending to the fake
    browser = app.test_client()
    browser.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    assert browser.post(f"/q/{token}").status_code == 303
    with app.app_context():
        sections = current_instruments()["post-infusion"].sections
    save(browser, 0, page(sections[0], "calm"))
    save(browser, 1, page(sections[1], "calm"))

    started = time.time()
    went = save(browser, 2, page(sections[2], "worst"))
    text = fake.wait_for(lambda m: m["to"] == NURSE and "/staff/alerts/" in m["body"], timeout=2.0)
    elapsed = text["received_at"] - started
    print(f"page-3 save -> nurse SMS at the gateway: {elapsed:.3f} s")
    assert elapsed <= 2.0, f"the nurse's text took {elapsed:.3f} s"
    assert went == "/q/advice"
    advice = text_of(browser.get("/q/advice"))
    assert 'role="alert"' in advice and "请立即拨打120" in advice and 'href="tel:+862223909999"' in advice
    with app.app_context():
        [alert] = db.session.scalars(select(Alert)).all()
        assert alert.severity == "red" and alert.response_id is None
        assert text["body"] == f"【研究中心】红色警报 P-001（第1次通知）：请查看 {PUBLIC}/staff/alerts/{alert.id}"
    # The scheduler's next tick does not send it again.
    probe(app, fake, "after", timeout=13)
    assert len([m for m in fake.messages_to(NURSE) if "/staff/alerts/" in m["body"]]) == 1
    scheduler.assert_alive()
    assert scheduler.terminate() == 0, scheduler.output()



# --- the migration ------------------------------------------------------------------------------

def test_the_episode_migration_goes_down_and_up_keeping_each_occurrence_s_rule(scratch_db, tmp_path):
    from alembic import command
    from sqlalchemy import create_engine, inspect, text

    from pro_app.alerts.operations import raise_findings
    from pro_app.db import alembic_config, make_engine, upgrade

    engine = make_engine(scratch_db)
    upgrade(engine)
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "DATABASE_URL": scratch_db}, instance_path=str(tmp_path))
    try:
        with app.test_request_context():
            from pro_app import alerts
            enrolment, errors = check_enrolment({"study_id": "P-001", "start": START.isoformat(), "tz": "Asia/Shanghai",
                                                 "lang": "zh-CN", "age": "", "phone": PATIENT, "caregivers": []})
            assert not errors
            participant = enrol_participant(db.session, enrolment, current_protocol(), current_instruments(),
                                            actor=Actor(label="test"), now=ENROLLED, public_url=PUBLIC)
            raise_findings(db.session, participant, [Finding("post-infusion:fever", "red", {"value": 39.0}),
                                                     Finding("post-infusion:rash_severe", "amber", {})],
                           now=AT, **alerts.context())
            db.session.commit()
    finally:
        app.extensions["pro_db"]["engine"].dispose()
    # SQLite: go down with foreign keys off, as a hand-run downgrade would (a later migration
    # rebuilds `participants`, which SQLite refuses with them on). PostgreSQL: as configured.
    down = engine if engine.dialect.name == "postgresql" else create_engine(scratch_db)
    with down.begin() as connection:
        command.downgrade(alembic_config(connection), "0002")
    if down is not engine:
        down.dispose()
    with engine.connect() as connection:
        columns = {c["name"] for c in inspect(connection).get_columns("alert_occurrences")}
        assert "rule" not in columns and "assignment_id" not in columns
    upgrade(engine)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT rule, label FROM alert_occurrences ORDER BY id")).all()
    engine.dispose()
    # Before episodes every occurrence was of its alert's one rule: that is what the upgrade restores.
    assert [r.rule for r in rows] == ["post-infusion:fever", "post-infusion:fever"]


# --- two respondents at once ---------------------------------------------------------------------

def test_a_teen_and_a_parent_saving_red_pages_at_once_open_one_alert_and_one_nurse_text(scratch_db, tmp_path,
                                                                                         clock):
    import threading
    from functools import partial

    import requests
    from test_double_taps import at_once
    from werkzeug.serving import make_server

    clock.now = AT
    app = create_app({"TESTING": True, "SECRET_KEY": "episodes", "DATABASE_URL": scratch_db,
                      "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False, "PUBLIC_URL": PUBLIC},
                     instance_path=str(tmp_path))
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_port}"
    try:
        with app.test_request_context():
            create_staff(db.session, NURSE_EMAIL, "nurse", PASSWORD, phone=NURSE, on_call=True,
                         actor=Actor(label="test"), now=ENROLLED)
            db.session.commit()
        rounds = 5
        for n in range(rounds):
            study_id = f"P-T{n}"
            with app.test_request_context():
                enrolment, errors = check_enrolment({
                    "study_id": study_id, "start": START.isoformat(), "tz": "Asia/Shanghai", "lang": "zh-CN",
                    "age": "15", "phone": f"+86138001381{n:02d}",
                    "caregivers": [{"phone": f"+86138001382{n:02d}", "name": "Mum", "lang": "zh-CN"}]})
                assert not errors, errors
                enrol_participant(db.session, enrolment, current_protocol(), current_instruments(),
                                  actor=Actor(label="test"), now=ENROLLED, public_url=PUBLIC)
                db.session.commit()
                firsts = {}
                for a in db.session.scalars(
                        select(Assignment).join(Participant).where(Participant.study_id == study_id,
                                                                   Assignment.instrument_id == "post-infusion")
                        .order_by(Assignment.opens_at, Assignment.id)):
                    firsts.setdefault(a.contact_id, a.id)
                assert len(firsts) == 2, "the teen and the parent each answer the post-infusion check"
                db.session.execute(update(Assignment).where(Assignment.id.in_(list(firsts.values()))).values(
                    opens_at=AT - timedelta(minutes=1), closes_at=AT + timedelta(hours=6)))
                tokens = [ops.new_link(db.session, a, AT) for a in firsts.values()]
                db.session.commit()
                first_page = page(current_instruments()["post-infusion"].sections[0], "worst")
            phones = []
            for token in tokens:
                phone = requests.Session()
                assert phone.post(f"{base}/q/{token}", allow_redirects=False, timeout=30).status_code == 303
                phones.append(phone)
            results = at_once(*[partial(phone.post, f"{base}/q/answer", data={"s": "0", **first_page},
                                        allow_redirects=False, timeout=60) for phone in phones])
            assert [(r.status_code, r.headers.get("Location")) for r in results] == [(303, "/q/advice")] * 2
            with app.app_context():
                alerts = db.session.scalars(select(Alert).join(Participant).where(Participant.study_id == study_id)
                                            ).all()
                assert len(alerts) == 1, f"round {n}: {len(alerts)} alerts"
                texts = db.session.scalars(select(Message).where(Message.dedupe_key.like(f"alert:{alerts[0].id}:%"))
                                           ).all()
                assert [m.to_phone for m in texts] == [NURSE], f"round {n}"
                assert set(db.session.scalars(select(AlertOccurrence.assignment_id)
                                              .where(AlertOccurrence.alert_id == alerts[0].id))) == set(firsts.values())
    finally:
        httpd.shutdown()
        thread.join(5)
        app.extensions["pro_db"]["engine"].dispose()
