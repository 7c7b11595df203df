"""A question by text reaches a nurse's inbox as a thread; the reply goes out, is shown and audited."""

import html
from datetime import date, timedelta

import pytest
from conftest import NOW
from sqlalchemy import select
from test_sms_webhooks import CAREGIVER, PATIENT, messages, post_inbound

from pro_app.audit.models import AuditEvent
from pro_app.db import db
from pro_app.participants.models import Contact

QUESTION = "孩子今天有点咳嗽，要紧吗？"


@pytest.fixture
def app_config(twilio_config):
    return twilio_config


@pytest.fixture
def family(make_participant, tick, fake_twilio, clock):
    clock.now = NOW + timedelta(hours=1)  # 13:00 in Shanghai
    make_participant("P-001", start=date(2026, 3, 16), lang="zh-CN", phone=PATIENT, age="15",
                     caregivers=[{"phone": "+8613900139002", "name": "王芳", "lang": "zh-CN"},
                                 {"phone": CAREGIVER, "name": "Mum", "lang": "en"}])
    tick(NOW)
    fake_twilio.clear()


def caregiver(app, phone="+8613900139002"):
    with app.app_context():
        return db.session.scalar(select(Contact).where(Contact.phone == phone)).id


def page(client, path):
    response = client.get(path)
    assert response.status_code == 200, path
    return html.unescape(response.get_data(as_text=True))


def test_a_question_is_acknowledged_threaded_answered_and_audited(app, client, login, family, fake_twilio,
                                                                  tick, clock):
    assert post_inbound(client, fake_twilio, "+8613900139002", QUESTION).status_code == 200
    tick(clock.now)
    [ack] = fake_twilio.messages_to("+8613900139002")
    assert "022-2390 9999" in ack["body"] and "周一至周五" in ack["body"]
    fake_twilio.clear()

    login("nurse")
    inbox = page(client, "/staff/inbox")
    assert '<span class="count"' in inbox and ">1</span>" in inbox  # the unread count in the navigation
    assert "王芳" in inbox and QUESTION in inbox
    contact_id = caregiver(app)
    thread = page(client, f"/staff/inbox/contacts/{contact_id}")
    assert QUESTION in thread and "王芳" in thread

    answer = "请多喝水，明早我们会给您打电话。"
    response = client.post(f"/staff/inbox/contacts/{contact_id}/reply", data={"text": answer})
    assert response.status_code == 303
    tick(clock.now)
    [sent] = fake_twilio.messages_to("+8613900139002")
    assert "研究团队回复：请多喝水，明早我们会给您打电话。" in sent["body"]
    thread = page(client, f"/staff/inbox/contacts/{contact_id}")
    assert thread.index(QUESTION) < thread.index("请多喝水")
    with app.app_context():
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "reply.sent")).all()
        assert event.after["text"] == "请多喝水，明早我们会给您打电话。" and event.entity_id == contact_id

    client.post(f"/staff/inbox/contacts/{contact_id}/done")
    inbox = page(client, "/staff/inbox")
    assert '<span class="count"' not in inbox and QUESTION not in inbox
    with app.app_context():
        assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "thread.done")) is not None


def test_an_empty_or_overlong_reply_is_refused_and_a_monitor_cannot_reply(app, client, login, family):
    contact_id = caregiver(app, CAREGIVER)
    login("nurse")
    for text in ("", "x" * 301):
        response = client.post(f"/staff/inbox/contacts/{contact_id}/reply", data={"text": text})
        assert response.status_code == 400
        assert "Write a reply of 1 to 300 characters." in response.get_data(as_text=True)
    assert messages(app, template="staff_reply") == []
    client.get("/staff/logout")
    login("monitor")
    response = client.post(f"/staff/inbox/contacts/{contact_id}/reply", data={"text": "Hello"})
    assert response.status_code == 403
    assert client.get("/staff/inbox/contacts/2147483647").status_code == 404
