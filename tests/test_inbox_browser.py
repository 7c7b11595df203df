"""Acceptance 2 in a real browser: a caregiver's question by text (signed Twilio webhook) is
acknowledged, shows in the nurse's inbox with the unread count, and the nurse's reply reaches the
fake Twilio gateway; the thread shows both and the audit log the reply.
"""

import urllib.parse
import urllib.request
from datetime import UTC, date, datetime

import pytest
from browser import browser_fixture, served_app, sign_in  # noqa: F401 (browser is a fixture)
from conftest import enrol_participant
from fake_twilio import twilio_signature
from playwright.sync_api import expect
from sqlalchemy import select
from test_alert_browser import PASSWORD

from pro_app.audit.models import AuditEvent
from pro_app.audit.operations import Actor
from pro_app.db import db
from pro_app.scheduler import run_tick
from pro_app.staff.cli import create_staff

NURSE = "nurse@example.org"
MOTHER = "+8613900139002"
QUESTION = "孩子今天有点咳嗽，要紧吗？"
ANSWER = "Please call us now on the hotline; we will check on the cough."


@pytest.fixture
def server(tmp_path, twilio_config):
    with served_app(tmp_path, twilio_config) as served:
        yield served


def seed(app):
    now = datetime.now(UTC)
    with app.test_request_context():
        create_staff(db.session, NURSE, "nurse", PASSWORD, language="en", actor=Actor(label="test"), now=now)
        db.session.commit()
    enrol_participant(app, "P-TXT", start=date.today(), now=now, age="15", phone="+8613800138001",
                      caregivers=[{"phone": MOTHER, "name": "王芳", "lang": "zh-CN"}])


def text_in(base, fake, body):
    """POST a caregiver's text to the webhook, signed as Twilio signs it."""
    url = f"{base}/sms/inbound"
    params = {"MessageSid": "SM" + "7" * 32, "AccountSid": fake.account_sid, "From": MOTHER,
              "To": "+15005550006", "Body": body}
    request = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(), headers={
        "X-Twilio-Signature": twilio_signature(fake.auth_token, url, params)})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def tick(app):
    with app.app_context():
        run_tick(datetime.now(UTC))


def test_a_caregivers_question_is_acknowledged_answered_and_audited(server, browser, fake_twilio):
    app, base = server
    seed(app)
    tick(app)
    fake_twilio.clear()

    text_in(base, fake_twilio, QUESTION)
    tick(app)
    acks = fake_twilio.messages_to(MOTHER)
    assert len(acks) == 1 and "022-2390 9999" in acks[0]["body"]  # the acknowledgement (≤ 1 per 12 h)
    fake_twilio.clear()

    context = browser.new_context(locale="en-GB")
    page = sign_in(context, base, NURSE, PASSWORD)
    page.goto(f"{base}/staff/inbox")
    expect(page.locator("nav .count")).to_have_text("1")
    expect(page.get_by_text(QUESTION)).to_be_visible()
    page.get_by_role("link", name="王芳").click()
    expect(page.get_by_text(QUESTION)).to_be_visible()
    page.get_by_label("Reply").fill(ANSWER)
    page.get_by_role("button", name="Send reply").click()
    tick(app)

    [reply] = fake_twilio.messages_to(MOTHER)
    assert ANSWER in reply["body"]
    page.reload()
    thread = page.locator("ol.thread")
    expect(thread).to_contain_text(QUESTION)
    expect(thread).to_contain_text(ANSWER)
    page.get_by_role("button", name="Done").click()
    expect(page.locator("nav .count")).to_have_count(0)
    with app.app_context():
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "reply.sent")).all()
        assert event.after["text"] == ANSWER
    page.goto(f"{base}/staff/audit")
    row = page.locator("table.audit tbody tr", has_text="reply sent").first
    expect(row).to_be_visible()
    expect(row).to_contain_text(NURSE)
    context.close()
