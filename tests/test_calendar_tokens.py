"""Calendar links are made when the welcome text is sent and stored shortened, like questionnaire links.

Through a real gateway (the Twilio SDK to the loopback fake) the whole /cal/<token>.ics link
exists only in the text the gateway received; the outbox keeps /cal/abcd….ics. With the console
gateway the outbox is the demo phone's inbox and keeps the text whole, but no staff page shows a
whole token to any role either way.
"""

import re

import pytest
from conftest import NOW
from sqlalchemy import select

from pro_app.db import db
from pro_app.participants.models import Contact
from pro_app.sms.models import Message, MessageState

PATIENT = "+8613800138001"
CAREGIVER = "+447911123456"
WHOLE = re.compile(r"/cal/([A-Za-z0-9_-]{32})\.ics")
ROLES = ["nurse", "investigator", "admin", "monitor"]


def staff_pages(client, app):
    """Every staff page that could show a text, for P-001."""
    pages = ["/staff/participants/P-001", "/staff/participants/P-001/messages", "/staff/participants/P-001/timeline",
             "/staff/participants/P-001/audit", "/staff/participants/P-001/questionnaires", "/staff/inbox?all=1",
             "/staff/audit/", "/staff/alerts/", "/staff/participants/"]
    with app.app_context():
        visit_ids = db.session.scalars(select(Message.visit_id).where(Message.visit_id.is_not(None)).limit(2)).all()
    pages += [f"/staff/visits/{v}" for v in visit_ids]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        yield path, response.get_data(as_text=True)


def welcomes(app):
    with app.app_context():
        return {m.to_phone: m for m in db.session.scalars(select(Message).where(Message.template == "welcome"))}


@pytest.fixture
def app_config(twilio_config):
    return twilio_config


def test_through_a_gateway_the_outbox_keeps_the_calendar_link_shortened(app, client, make_participant, tick,
                                                                        fake_twilio):
    make_participant("P-001", phone=PATIENT, caregivers=[{"phone": CAREGIVER, "name": "Mum", "lang": "en"}])
    tick(NOW)
    tokens = {}
    for phone in (PATIENT, CAREGIVER):
        [text] = [m["body"] for m in fake_twilio.messages_to(phone)]
        tokens[phone] = WHOLE.search(text).group(1)
    assert len(set(tokens.values())) == 2
    stored = welcomes(app)
    for phone, token in tokens.items():
        body = stored[phone].body
        assert stored[phone].state == MessageState.SENT
        assert token not in body and f"/cal/{token[:4]}….ics" in body
        # The link the phone got works; only the hash of its token is stored.
        response = client.get(f"/cal/{token}.ics")
        assert response.status_code == 200 and response.mimetype == "text/calendar"
        assert client.get(f"/cal/{token[:4]}….ics").status_code == 404
    with app.app_context():
        hashes = db.session.scalars(select(Contact.calendar_token_hash)).all()
    assert all(h and all(t not in h for t in tokens.values()) for h in hashes)


@pytest.mark.parametrize("role", ROLES)
def test_no_staff_role_sees_a_whole_calendar_token(app, client, login, make_participant, tick, fake_twilio, role):
    make_participant("P-001", phone=PATIENT, caregivers=[{"phone": CAREGIVER, "name": "Mum", "lang": "en"}])
    tick(NOW)
    tokens = [WHOLE.search(m["body"]).group(1) for m in fake_twilio.messages if "/cal/" in m["body"]]
    assert len(tokens) == 2
    login(role)
    shown = 0
    for path, page in staff_pages(client, app):
        assert not any(t in page for t in tokens), path
        shown += sum(f"/cal/{t[:4]}…" in page for t in tokens)
    assert shown >= 2  # the messages page shows both welcome texts, shortened


def test_a_retried_welcome_gets_a_fresh_working_link(app, client, make_participant, tick, fake_twilio):
    make_participant("P-001", phone=PATIENT)
    fake_twilio.fail_next("429")  # rate limited: safe to retry
    tick(NOW)
    welcome = welcomes(app)[PATIENT]
    assert welcome.state == MessageState.PENDING and "{calendar}" in welcome.body
    tick(welcome.due_at)
    [text] = [m["body"] for m in fake_twilio.messages_to(PATIENT) if "/cal/" in m["body"]]
    token = WHOLE.search(text).group(1)
    assert client.get(f"/cal/{token}.ics").status_code == 200
    assert token not in welcomes(app)[PATIENT].body


@pytest.mark.parametrize("app_config", [{}])
def test_with_the_console_gateway_pages_still_show_the_link_shortened(app, client, login, make_participant, tick,
                                                                      app_config):
    make_participant("P-001", phone=PATIENT)
    tick(NOW)
    body = welcomes(app)[PATIENT].body
    token = WHOLE.search(body).group(1)  # the demo phone's inbox: whole
    assert client.get(f"/cal/{token}.ics").status_code == 200
    login("monitor")
    pages = dict(staff_pages(client, app))
    assert not any(token in page for page in pages.values())
    assert f"/cal/{token[:4]}…" in pages["/staff/participants/P-001/messages"]
