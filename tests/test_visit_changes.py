"""A moved, cancelled or added visit reaches the family in one text, after their quiet hours."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from pro_app.db import db
from pro_app.sms.models import Message, MessageState
from pro_app.visits.models import Visit, VisitStatus

START = date(2026, 3, 16)
ENROLLED = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
NIGHT = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
MORNING = datetime(2026, 3, 4, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
FAMILY = [{"phone": "+447911123456", "name": "Aunt", "lang": "en", "tz": "Europe/London"}]


@pytest.fixture
def app_config(twilio_config):
    return twilio_config


@pytest.fixture
def family(app, make_participant, login, clock, tick):
    make_participant("P-1", start=START, now=ENROLLED, age="15", caregivers=FAMILY)
    tick(ENROLLED)  # the welcome texts
    clock.now = NIGHT
    login("nurse")


def visit_of(app, key):
    with app.app_context():
        return db.session.scalar(select(Visit).where(Visit.protocol_key == key))


def changes(app, **where):
    with app.app_context():
        stmt = select(Message).where(Message.template.in_(["visit_moved", "visit_cancelled", "visit_added"]))
        for key, value in where.items():
            stmt = stmt.where(getattr(Message, key) == value)
        return db.session.scalars(stmt.order_by(Message.id)).all()


def test_a_moved_visit_is_texted_once_when_quiet_hours_end_and_loses_its_confirmation(
        app, client, family, fake_twilio, tick):
    dose = visit_of(app, "infusion-2")
    with app.app_context():
        db.session.get(Visit, dose.id).status = VisitStatus.CONFIRMED
        db.session.commit()
    response = client.post(f"/staff/visits/{dose.id}/move", data={
        "new_date": "2026-03-25", "new_time": "08:30", "tell_family": "y", "reason": "Delayed"},
        follow_redirects=True)
    assert "The family gets one text about this change" in response.get_data(as_text=True)
    assert visit_of(app, "infusion-2").status == VisitStatus.SCHEDULED
    pending = changes(app, state=MessageState.PENDING)
    assert sorted(m.to_phone for m in pending) == ["+447911123456", "+8613800138001"]
    fake_twilio.clear()
    tick(NIGHT + timedelta(minutes=15))
    assert fake_twilio.messages_to("+8613800138001") == []  # Shanghai is asleep
    tick(MORNING)
    [sent] = fake_twilio.messages_to("+8613800138001")
    assert "原定 2026-03-23 的输注改为 2026-03-25（星期三）08:30" in sent["body"]
    assert "血液科日间病房" in sent["body"]
    assert len(changes(app, state=MessageState.SENT)) == 2


def test_a_second_move_before_the_text_went_leaves_only_the_newest(app, client, family):
    dose = visit_of(app, "infusion-2")
    for day in ("2026-03-25", "2026-03-26"):
        client.post(f"/staff/visits/{dose.id}/move", data={
            "new_date": day, "new_time": "08:30", "tell_family": "y", "reason": "Delayed"})
    pending = changes(app, state=MessageState.PENDING, to_phone="+8613800138001")
    assert len(pending) == 1 and "2026-03-26" in pending[0].body


def test_unticking_tell_the_family_sends_nothing_and_says_so(app, client, family):
    dose = visit_of(app, "infusion-2")
    response = client.post(f"/staff/visits/{dose.id}/move", data={
        "new_date": "2026-03-25", "new_time": "08:30", "reason": "Delayed"}, follow_redirects=True)
    assert "The family was not texted about this change." in response.get_data(as_text=True)
    assert changes(app) == []


def test_cancelling_and_adding_are_texted(app, client, family):
    aspirate = visit_of(app, "marrow-day-29")
    client.post(f"/staff/visits/{aspirate.id}/status", data={
        "status": "cancelled", "tell_family": "y", "reason": "Not needed"})
    [cancelled] = changes(app, template="visit_cancelled", to_phone="+447911123456")
    assert "marrow aspirate" in cancelled.body and "please do not come in" in cancelled.body
    client.post("/staff/participants/P-1/visits/new", data={
        "kind": "marrow", "on": "2026-04-16", "at": "09:00", "duration_minutes": "60", "window_days": "0",
        "tell_family": "y", "reason": "Replacement"})
    [added] = changes(app, template="visit_added", to_phone="+8613800138001")
    assert "新增访视：2026-04-16" in added.body and "骨髓穿刺" in added.body and "血液科治疗室" in added.body


def test_the_forms_offer_tell_the_family_ticked(app, client, family):
    dose = visit_of(app, "infusion-2")
    page = client.get(f"/staff/visits/{dose.id}").get_data(as_text=True)
    assert '<input checked id="tell_family" name="tell_family" type="checkbox"' in page
    assert '<input checked id="status-tell_family" name="tell_family" type="checkbox"' in page
    page = client.get("/staff/participants/P-1/visits/new").get_data(as_text=True)
    assert '<input checked id="tell_family" name="tell_family" type="checkbox"' in page
