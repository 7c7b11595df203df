"""Double taps and two tabs against a real threaded server on a real database: never a 500.

The app runs in a werkzeug server thread on a scratch database of the test's own (a SQLite
file, and a PostgreSQL database when PRO_TEST_DATABASE_URL is set), so every request commits
for real and two requests really race. Each round fires two requests at once (a barrier
releases both threads together) with the same session cookie, as a phone does on a double tap:

* Start: both land on the first questionnaire page; one draft;
* Send my answers (with a 39.0 °C fever): both land on the done page, which shows the loser
  the emergency advice too; one response, one alert;
* enrolment of the same study ID from two tabs: both land on the participant's page;
* the same inbound text delivered twice by Twilio: both answered, one row.
"""

import copy
import threading
from datetime import UTC, date, datetime

import pytest
import requests
from conftest import NOW, PASSWORD
from fake_twilio import twilio_signature
from sqlalchemy import func, select
from werkzeug.serving import make_server

from pro_app import create_app
from pro_app.alerts.models import AlertOccurrence
from pro_app.audit.operations import Actor
from pro_app.db import db
from pro_app.participants.models import Participant
from pro_app.participants.operations import enrol
from pro_app.participants.validation import check_enrolment
from pro_app.protocol import current_protocol
from pro_app.questionnaires import current_instruments
from pro_app.questionnaires.models import Assignment, Response, ResponseDraft
from pro_app.questionnaires.operations import new_link
from pro_app.sms.models import InboundMessage
from pro_app.staff.cli import create_staff

ROUNDS = 20
START = date(2026, 3, 9)
INFUSION_EVENING = datetime(2026, 3, 9, 11, 0, tzinfo=UTC)  # day 1, 19:00 in Shanghai: post-infusion opens
AUTH_TOKEN = "double-tap-test-token"


def fever_pages(app):
    """One form per page of the post-infusion check: a 39.0 °C temperature, everything else the mildest answer."""
    with app.app_context():
        instrument = current_instruments().get("post-infusion")
    pages = []
    for section in instrument.sections:
        form = {}
        for item in section.items:
            if item.type == "number" and "temperature" in item.id:
                form[item.id], form[f"{item.id}__unit"] = "39.0", "C"
            elif item.type == "yesno":
                form[item.id] = "no"
            elif item.type in ("single", "multiple"):
                form[item.id] = str(min(value for value, _label in item.choices))
            elif item.type in ("rating", "number"):
                form[item.id] = str(item.min)
            elif item.type == "date":
                form[item.id] = "2026-03-09"
        pages.append(form)
    return pages


@pytest.fixture
def server(scratch_db, tmp_path, request):
    """(app, base URL) of the app served by a threaded werkzeug server on the scratch database."""
    # The app first, then the clock: modules the app imports on creation would otherwise keep
    # this test's fake utcnow, and the clock of every later test would miss them.
    app = create_app({
        "TESTING": True, "SECRET_KEY": "double-tap", "DATABASE_URL": scratch_db, "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False, "PUBLIC_URL": "http://localhost", "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "REQUIRE_2FA": False,
    }, instance_path=str(tmp_path))
    request.getfixturevalue("clock")
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(5)
    with app.app_context():
        db.engine.dispose()


def enrol_adult(app, study_id, phone):
    with app.test_request_context():
        enrolment, errors = check_enrolment({"study_id": study_id, "start": START.isoformat(), "tz": "Asia/Shanghai",
                                             "lang": "en", "age": "", "phone": phone, "caregivers": []})
        assert not errors, errors
        enrol(db.session, enrolment, current_protocol(), current_instruments(), actor=Actor(label="test"), now=NOW,
              public_url="http://localhost")
        db.session.commit()


def post_infusion_link(app, study_id):
    """A fresh link token to the participant's first post-infusion questionnaire, and its assignment id."""
    with app.app_context():
        assignment_id = db.session.scalar(
            select(Assignment.id).join(Participant, Assignment.participant_id == Participant.id)
            .where(Participant.study_id == study_id, Assignment.instrument_id == "post-infusion")
            .order_by(Assignment.opens_at).limit(1))
        token = new_link(db.session, assignment_id, INFUSION_EVENING)
        db.session.commit()
    return token, assignment_id


def at_once(*calls):
    """Run the calls in two threads released together; return their results in order."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i, call):
        barrier.wait()
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def same_browser(session):
    """A new client holding the same cookies (their domains kept, so later Set-Cookies replace them)."""
    other = requests.Session()
    for cookie in session.cookies:
        other.cookies.set_cookie(copy.copy(cookie))
    return other


def count(app, model, **where):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).filter_by(**where))


def test_double_taps_on_start_and_send_end_on_the_pages_meant(server, clock):
    app, base = server
    for i in range(ROUNDS):
        enrol_adult(app, f"P-{100 + i}", f"+86138001{i:05d}")
    clock.now = INFUSION_EVENING
    fever = fever_pages(app)
    codes = []
    for i in range(ROUNDS):
        token, assignment_id = post_infusion_link(app, f"P-{100 + i}")
        # Start, tapped twice: two fresh phone sessions race to open the draft.
        phones = [requests.Session(), requests.Session()]
        started = at_once(*[lambda s=s, token=token: s.post(f"{base}/q/{token}", allow_redirects=False)
                            for s in phones])
        codes += [r.status_code for r in started]
        assert [r.status_code for r in started] == [303, 303], [r.text[:300] for r in started]
        assert all(r.headers["Location"].endswith("/q/answer") for r in started)
        assert count(app, ResponseDraft, assignment_id=assignment_id) == 1
        for s in phones:
            assert s.get(f"{base}/q/answer").status_code == 200

        # Every page answered (a fever), then Send tapped twice in one session.
        phone = phones[i % 2]
        for index, answers in enumerate(fever):
            page = phone.post(f"{base}/q/answer", data={"s": str(index), **answers}, allow_redirects=False)
            assert page.status_code == 303, page.text[:500]
        with app.app_context():
            key = db.session.get(ResponseDraft, assignment_id).submit_key
        taps = [same_browser(phone), same_browser(phone)]
        sent = at_once(*[lambda s=s, key=key: s.post(f"{base}/q/submit", data={"submit_key": key},
                                                     allow_redirects=False)
                         for s in taps])
        codes += [r.status_code for r in sent]
        assert [r.status_code for r in sent] == [303, 303], [r.text[:300] for r in sent]
        assert all(r.headers["Location"].endswith("/q/done") for r in sent)
        assert count(app, Response, assignment_id=assignment_id) == 1
        for s in taps:
            done = s.get(f"{base}/q/done")
            assert done.status_code == 200 and "Please act now" in done.text, done.text[:500]
        with app.app_context():
            response_id = db.session.scalar(select(Response.id).where(Response.assignment_id == assignment_id))
        assert count(app, AlertOccurrence, response_id=response_id, severity="red") == 1
    assert 500 not in codes and len(codes) == 4 * ROUNDS


def test_the_same_enrolment_from_two_tabs_lands_on_the_participants_page(server):
    app, base = server
    with app.app_context():
        create_staff(db.session, "nurse@example.org", "nurse", PASSWORD, actor=Actor(label="test"), now=NOW)
        db.session.commit()
    nurse = requests.Session()
    nurse.get(f"{base}/lang/en")
    assert nurse.post(f"{base}/staff/login", data={"email": "nurse@example.org", "password": PASSWORD},
                      allow_redirects=False).status_code == 303
    for i in range(5):
        study_id = f"T-{i}"
        form = {"study_id": study_id, "start": START.isoformat(), "tz": "Asia/Shanghai", "lang": "en",
                "phone": f"+86138002{i:05d}"}
        tabs = [same_browser(nurse), same_browser(nurse)]
        sent = at_once(*[lambda s=s, form=form: s.post(f"{base}/staff/participants/new", data=form,
                                                         allow_redirects=False)
                         for s in tabs])
        assert [r.status_code for r in sent] == [303, 303], [r.text[:300] for r in sent]
        assert all(r.headers["Location"].endswith(f"/staff/participants/{study_id}") for r in sent)
        assert count(app, Participant, study_id=study_id) == 1
        pages = [s.get(base + r.headers["Location"]) for s, r in zip(tabs, sent, strict=True)]
        assert all(p.status_code == 200 for p in pages)
        assert sum("was enrolled a moment ago" in p.text for p in pages) >= 1


def test_an_inbound_text_delivered_twice_at_once_is_stored_once(server):
    app, base = server
    enrol_adult(app, "P-001", "+8613800138001")
    for i in range(10):
        form = {"MessageSid": f"SM{i:032x}", "From": "+8613800138001", "To": "+15005550006", "Body": "HELP"}
        signature = twilio_signature(AUTH_TOKEN, "http://localhost/sms/inbound", form)
        headers = {"X-Twilio-Signature": signature}
        sent = at_once(*[lambda form=form, headers=headers: requests.post(f"{base}/sms/inbound", data=form,
                                                                          headers=headers)] * 2)
        assert [r.status_code for r in sent] == [200, 200], [r.text[:300] for r in sent]
        assert count(app, InboundMessage, provider_sid=form["MessageSid"]) == 1
