"""/dev/phone: the console backend's demo phones (read texts, reply as a phone)."""

import html
from datetime import date, timedelta

import pytest
from conftest import NOW
from sqlalchemy import func, select

from pro_app.audit.models import AuditEvent
from pro_app.db import db
from pro_app.sms.models import InboundMessage, Message, MessageState
from pro_app.visits.models import Visit, VisitStatus

PATIENT = "+8613800138001"
CAREGIVER = "+447911123456"
START = date(2026, 3, 9)


@pytest.fixture
def app_config():
    return {"DEMO": True}


@pytest.fixture
def clock(clock):
    clock.now = NOW + timedelta(hours=1)
    return clock


@pytest.fixture
def enrolled(make_participant):
    make_participant("P-001", start=START, lang="zh-CN", phone=PATIENT,
                     caregivers=[{"phone": CAREGIVER, "name": "Mum", "lang": "en"}])
    return "P-001"


def page(client, path):
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return html.unescape(response.get_data(as_text=True))


def welcome_body(app, phone):
    with app.app_context():
        return db.session.scalar(select(Message.body).where(Message.template == "welcome",
                                                            Message.to_phone == phone))


def test_index_lists_every_contact(client, enrolled, make_participant):
    make_participant("P-002", start=START, lang="en", phone="+447911123457")
    index = page(client, "/dev/phone/")
    for phone, _study_id in ((PATIENT, "P-001"), (CAREGIVER, "P-001"), ("+447911123457", "P-002")):
        assert f'href="/dev/phone/{phone}"' in index
    assert "P-001" in index and "P-002" in index and "Mum" in index


def test_index_without_contacts_says_so(client):
    index = page(client, "/dev/phone/")
    assert 'href="/dev/phone/+' not in index


def test_thread_shows_sent_texts_only(app, client, enrolled, tick):
    welcome = welcome_body(app, PATIENT)
    assert welcome and welcome not in page(client, f"/dev/phone/{PATIENT}")  # still pending
    tick(NOW)
    thread = page(client, f"/dev/phone/{PATIENT}")
    welcome = welcome_body(app, PATIENT)  # sent: the calendar link is made and, on this phone, whole
    assert "/cal/" in welcome and welcome in thread
    assert welcome_body(app, CAREGIVER) not in thread  # another phone's text
    assert welcome_body(app, CAREGIVER) in page(client, f"/dev/phone/{CAREGIVER}")
    # Reminders not yet due are not shown.
    assert "Reply 1" not in thread and "回复 1" not in thread


def test_replying_1_confirms_the_next_visit_and_the_reply_shows(app, client, enrolled, tick, clock):
    tick(NOW)
    with app.app_context():
        upcoming = db.session.scalars(select(Visit).where(Visit.starts_at > clock.now)
                                      .order_by(Visit.starts_at)).all()
        target_id, later_id = upcoming[0].id, upcoming[1].id
        target_date = upcoming[0].local_start.strftime("%Y-%m-%d")

    response = client.post(f"/dev/phone/{PATIENT}", data={"body": " 1 "})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/dev/phone/{PATIENT}")

    with app.app_context():
        assert db.session.get(Visit, target_id).status == VisitStatus.CONFIRMED
        assert db.session.get(Visit, later_id).status == VisitStatus.SCHEDULED
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "visit.confirmed")).all()
        assert event.entity_id == target_id
        [inbound] = db.session.scalars(select(InboundMessage)).all()
        assert inbound.body == "1" and inbound.action == "confirm" and inbound.from_phone == PATIENT
        reply = db.session.scalar(select(Message).where(Message.template == "reply_confirmed"))
        assert reply.to_phone == PATIENT and reply.state == MessageState.PENDING
        reply_body, reply_due = reply.body, reply.due_at
    assert target_date in reply_body

    thread = page(client, f"/dev/phone/{PATIENT}")
    assert reply_body not in thread  # queued, not yet sent
    tick(reply_due)
    thread = page(client, f"/dev/phone/{PATIENT}")
    assert reply_body in thread
    assert thread.index(welcome_body(app, PATIENT)) < thread.index(reply_body)
    assert reply_body not in page(client, f"/dev/phone/{CAREGIVER}")


def test_an_empty_reply_is_ignored(app, client, enrolled):
    response = client.post(f"/dev/phone/{PATIENT}", data={"body": "   "})
    assert response.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(InboundMessage)) == 0


@pytest.mark.parametrize("app_config", [{}, {"SMS_BACKEND": "twilio"}, {"DEMO": "off"}])
def test_dev_phone_does_not_exist_outside_demo_mode(app, client, enrolled):
    assert client.get("/dev/phone/").status_code == 404
    assert client.get(f"/dev/phone/{PATIENT}").status_code == 404
    assert client.post(f"/dev/phone/{PATIENT}", data={"body": "STOP"}).status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(InboundMessage)) == 0
