"""The baseline questionnaire asks the evening reminder time; the submitted answer sets it, audited."""

from datetime import date, time, timedelta

import pytest
from conftest import NOW
from sqlalchemy import select

from pro_app.audit.models import AuditEvent
from pro_app.clock import to_local
from pro_app.db import db
from pro_app.participants.models import Contact
from pro_app.questionnaires import current_instruments
from pro_app.questionnaires import operations as ops
from pro_app.questionnaires.models import Assignment
from pro_app.reminders.preferences import EVENING_TIMES
from pro_app.sms.models import Message, MessageState

PATIENT = "+8613800138001"


@pytest.fixture(autouse=True)
def clock(clock):
    clock.now = NOW + timedelta(hours=1)  # the baseline is open (it opened at NOW, a week before day 1)
    return clock


def answered(app, client, hour):
    """Answer the patient's baseline with this evening hour and submit it as the phone does."""
    with app.app_context():
        assignment = db.session.scalar(select(Assignment).join(Contact).where(
            Assignment.instrument_id == "baseline", Contact.phone == PATIENT))
        link = ops.find_link(db.session, ops.new_link(db.session, assignment.id, NOW))
        draft = ops.open_draft(db.session, assignment, current_instruments()["baseline"], NOW)
        draft.answers = {"feel_overall": 7, "activity_level": 4, "has_allergies": False, "evening_time": hour}
        ids, key = (assignment.id, link.id), draft.submit_key
        db.session.commit()
    with client.session_transaction() as s:
        s["q_assignment"], s["q_link"] = ids
    return client.post("/q/submit", data={"submit_key": key})


def state(app):
    with app.app_context():
        c = db.session.scalar(select(Contact).where(Contact.phone == PATIENT))
        evenings = db.session.scalars(select(Message).where(
            Message.contact_id == c.id, Message.template == "visit_reminder", Message.state == MessageState.PENDING,
            Message.ignore_quiet_hours.is_(False))).all()
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "contact.preferences")).all()
        return (c.evening_time, {to_local(m.due_at, c.timezone).time() for m in evenings},
                [(e.actor, e.after) for e in events])


def test_the_instrument_offers_the_pages_times(app):
    with app.app_context():
        baseline = current_instruments()["baseline"]
    item = next(i for s in baseline.sections for i in s.items if i.id == "evening_time")
    assert [value for value, _label in item.choices] == [t.hour for t in EVENING_TIMES]


def test_the_baseline_answer_sets_the_evening_time_and_moves_pending_reminders(app, client, make_participant):
    make_participant("P-001", start=date(2026, 3, 9), phone=PATIENT)
    assert state(app)[:2] == (None, {time(18)})
    response = answered(app, client, 20)
    assert response.status_code == 303 and response.headers["Location"].endswith("/q/done")
    evening, times, events = state(app)
    assert evening == time(20) and times == {time(20)}
    assert events == [(events[0][0], {"language": "zh-CN", "evening_time": "20:00"})]
    assert events[0][0].startswith("questionnaire:contact")


def test_the_protocols_own_time_changes_nothing(app, client, make_participant):
    make_participant("P-001", start=date(2026, 3, 9), phone=PATIENT)
    assert answered(app, client, 18).status_code == 303
    assert state(app) == (None, {time(18)}, [])


def test_a_new_language_rewrites_pending_invitations_and_nudges(app, make_participant):
    from pro_app.audit.operations import Actor
    from pro_app.protocol import current_protocol
    from pro_app.reminders.preferences import set_preferences

    make_participant("P-001", start=date(2026, 3, 9), phone=PATIENT)
    invitations = (Message.template.in_(("questionnaire_invite", "questionnaire_nudge")),
                   Message.state == MessageState.PENDING)
    with app.app_context():
        before = db.session.scalars(select(Message).where(*invitations)).all()
        assert before and all(m.language == "zh-CN" and "问卷" in m.body for m in before)
        c = db.session.scalar(select(Contact).where(Contact.phone == PATIENT))
        set_preferences(db.session, c, current_protocol(), actor=Actor(label="test"), now=NOW + timedelta(hours=1),
                        language="en", reason="test")
        db.session.commit()
        after = db.session.scalars(select(Message).where(*invitations)).all()
        assert len(after) == len(before)
        assert all(m.language == "en" and m.body.startswith("Study centre:") and "问卷" not in m.body for m in after)
        titles = {m.params["title"] for m in after}
        assert "Before we start" in titles
        assert all("{link}" in m.body for m in after)  # the link is still made when it is sent
