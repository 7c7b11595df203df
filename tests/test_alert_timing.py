"""Acceptance: with `pro-app scheduler` running and the Twilio gateway pointed at the loopback fake,
an answer with a temperature of 39.0 °C puts the nurse's alert text into the fake server within
2 seconds of saving that page (every page is assessed, not only the submit), and the respondent
sees the emergency advice at once and again after the submit.

The scheduler is a real child process on a real database (a SQLite file, and a scratch
PostgreSQL database when PRO_TEST_DATABASE_URL is set). The respondent's pages run in this
process, on an app made with the same settings, through the test client. Everything runs on
the real clock, as the scheduler does.
"""

import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import PASSWORD
from fake_twilio import FakeTwilio
from sqlalchemy import select, update

from pro_app import create_app
from pro_app.alerts.models import Alert, AlertState
from pro_app.audit.operations import Actor
from pro_app.db import db
from pro_app.participants.operations import enrol
from pro_app.participants.validation import check_enrolment
from pro_app.protocol import current_protocol
from pro_app.questionnaires import current_instruments
from pro_app.questionnaires import operations as ops
from pro_app.questionnaires import views as q_views
from pro_app.questionnaires.models import Assignment
from pro_app.reminders.operations import enqueue, message_row
from pro_app.staff.cli import create_staff

ROOT = Path(__file__).resolve().parents[1]
PRO_APP = Path(sys.executable).with_name("pro-app")
PG_URL = os.environ.get("PRO_TEST_DATABASE_URL")
NURSE = "+8613900000001"
PATIENT = "+8613800138001"
PROBE = "+8613900000099"  # a staff-style text that shows the scheduler has ticked
INTERVAL = 3  # the default SCHEDULER_INTERVAL_SECONDS
LIMIT = 2.0  # seconds from the submit to the nurse's text at the gateway
POST_INFUSION = [
    {"temperature": "39.0", "temperature__unit": "C", "temperature_route": "1", "chills": "no"},
    {"breathing": "0", "throat_swelling": "0", "chest_heart": "0", "fainting": "0"},
    {"bleeding": "0", "confusion": "0", "vision": "0"},
    {"rash": "no", "allergy_signs": "0", "cough": "no"},
    {"headache": "no", "nausea": "no"},
]


@pytest.fixture
def fake():
    """A loopback Twilio of this test's own (the scheduler child sends to it too)."""
    with FakeTwilio() as server:
        yield server


def settings(url, fake):
    """The settings both processes run with."""
    return {
        "DATABASE_URL": url,
        "SECRET_KEY": "alert-timing-secret",
        "PUBLIC_URL": "http://localhost",
        "SMS_BACKEND": "twilio",
        "TWILIO_ACCOUNT_SID": fake.account_sid,
        "TWILIO_AUTH_TOKEN": fake.auth_token,
        "TWILIO_FROM": "+15005550006",
        "TWILIO_BASE_URL": fake.base_url,
        "TWILIO_TIMEOUT": 5,
        "SCHEDULER_INTERVAL_SECONDS": INTERVAL,
    }


class Scheduler:
    """`pro-app scheduler` as a child process, its output in files."""

    def __init__(self, config, workdir):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PRO_", "FLASK_", "TWILIO_"))}
        env.update({f"PRO_{k}": str(v) for k, v in config.items()})
        self.out, self.err = workdir / "scheduler.out", workdir / "scheduler.err"
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen([str(PRO_APP), "scheduler"], cwd=ROOT, env=env, stdout=out, stderr=err)

    def output(self):
        return (f"--- scheduler stdout:\n{self.out.read_text(errors='replace')}\n"
                f"--- scheduler stderr (tail):\n{self.err.read_text(errors='replace')[-4000:]}")

    def assert_alive(self):
        assert self.proc.poll() is None, f"the scheduler exited with {self.proc.returncode}\n{self.output()}"

    def terminate(self, timeout=15):
        """SIGTERM, then wait; return the exit code (a hang is a failure, not a wait forever)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"the scheduler did not stop within {timeout}s of SIGTERM\n{self.output()}")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def running(scratch_db, fake, tmp_path):
    """(app in this process, scheduler child) on the same database and gateway."""
    config = settings(scratch_db, fake)
    scheduler = Scheduler(config, tmp_path)
    app = create_app({**config, "TESTING": True, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False},
                     instance_path=str(tmp_path))
    try:
        yield app, scheduler
    finally:
        scheduler.kill()
        app.extensions["pro_db"]["engine"].dispose()


def probe(app, fake, name, timeout):
    """Queue a due staff text and wait for the scheduler to deliver it: proof it ticks, and to where."""
    now = datetime.now(UTC)
    with app.app_context():
        enqueue(db.session, [message_row(key=f"probe:{name}", participant_id=None, contact_id=None, phone=PROBE,
                                         template="staff_note", language="en", body=f"probe {name}", due_at=now,
                                         now=now)])
        db.session.commit()
    fake.wait_for(lambda m: m["to"] == PROBE and m["body"] == f"probe {name}", timeout=timeout)


def open_post_infusion(app):
    """Enrol a participant (day 1 today) and a nurse on call; open the after-infusion window now.

    The window would open at 18:00 local on the infusion day; the test moves it to the real
    present so it runs at any hour. Returns a link token, as an invitation would carry.
    """
    now = datetime.now(UTC)
    with app.test_request_context():
        enrolment, errors = check_enrolment({
            "study_id": "P-001", "start": now.date().isoformat(), "tz": "Asia/Shanghai", "lang": "zh-CN",
            "age": "", "phone": PATIENT, "caregivers": []})
        assert not errors, errors
        enrol(db.session, enrolment, current_protocol(), current_instruments(), actor=Actor(label="test"), now=now,
              public_url=app.config["PUBLIC_URL"])
        create_staff(db.session, "nurse@example.org", "nurse", PASSWORD, phone=NURSE, on_call=True,
                     actor=Actor(label="test"), now=now)
        assignment = db.session.scalar(select(Assignment).where(Assignment.instrument_id == "post-infusion",
                                                                Assignment.occasion == "infusion-1"))
        db.session.execute(update(Assignment).where(Assignment.id == assignment.id).values(
            opens_at=now - timedelta(minutes=1), closes_at=now + timedelta(hours=2)))
        token = ops.new_link(db.session, assignment.id, now)
        db.session.commit()
    return token


def fill_in(app, token):
    """Answer every page in the respondent's browser; return it, the review's submit key and when
    the fever page was saved (answers are assessed page by page: that save raises the alert)."""
    browser = app.test_client()
    browser.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    assert browser.get(f"/q/{token}").status_code == 200
    assert browser.post(f"/q/{token}").status_code == 303
    fever_saved = time.time()
    for index, data in enumerate(POST_INFUSION):
        saved = browser.post("/q/answer", data={"s": str(index), **data})
        assert saved.status_code == 303, saved.get_data(as_text=True)
        if index == 0:
            assert saved.headers["Location"] == "/q/advice"  # the emergency advice at once
    review = browser.get("/q/review").get_data(as_text=True)
    key = re.search(r'name="submit_key" value="([^"]+)"', review)
    assert key, review
    return browser, key.group(1), fever_saved


def alert_text(body):
    return "/staff/alerts/" in body


def assert_emergency_page(app, browser):
    done = browser.get("/q/done")
    page = re.sub(r"\s+", " ", done.get_data(as_text=True))
    hotline = app.extensions["pro_protocol"].site_phone
    assert done.status_code == 200 and 'role="alert"' in page
    assert "您的部分回答需要医生立即处理" in page and "请立即拨打研究热线：" in page
    assert f'href="tel:{hotline}"' in page and "请立即拨打120" in page


def test_a_fever_answer_reaches_the_nurse_within_2_seconds_with_the_scheduler_running(running, fake):
    app, scheduler = running
    token = open_post_infusion(app)
    probe(app, fake, "before", timeout=INTERVAL + 15)  # the scheduler is up, ticking and sending to the fake
    scheduler.assert_alive()
    browser, key, started = fill_in(app, token)

    submitted = browser.post("/q/submit", data={"submit_key": key})
    assert submitted.status_code == 303 and submitted.headers["Location"] == "/q/done"
    text = fake.wait_for(lambda m: m["to"] == NURSE and alert_text(m["body"]), timeout=LIMIT)
    elapsed = text["received_at"] - started
    print(f"fever page saved -> nurse SMS at the gateway: {elapsed:.3f} s")
    assert elapsed <= LIMIT, f"the nurse's text took {elapsed:.3f} s"
    with app.app_context():
        [alert] = db.session.scalars(select(Alert)).all()
        assert alert.severity == "red" and alert.state == AlertState.OPEN and alert.rule == "post-infusion:fever"
        assert text["body"] == f"【研究中心】红色警报 P-001（第1次通知）：请查看 http://localhost/staff/alerts/{alert.id}"
    assert_emergency_page(app, browser)

    # A tick after the submit does not send the nurse's text a second time.
    scheduler.assert_alive()
    probe(app, fake, "after", timeout=INTERVAL + 10)
    assert len([m for m in fake.messages_to(NURSE) if alert_text(m["body"])]) == 1
    scheduler.assert_alive()
    assert scheduler.terminate() == 0, scheduler.output()
    assert "scheduler: ticking every" in scheduler.out.read_text()


def test_the_scheduler_sends_the_alert_text_when_the_web_process_did_not(running, fake, monkeypatch):
    """The safety net: the answer and its alert text were committed, then the web process never sent it."""
    app, scheduler = running
    skipped = []
    monkeypatch.setattr(q_views, "send_now", lambda session, gateway, ids, **kwargs: skipped.append(ids) or [])
    token = open_post_infusion(app)
    probe(app, fake, "before", timeout=INTERVAL + 15)
    browser, key, started = fill_in(app, token)
    assert browser.post("/q/submit", data={"submit_key": key}).status_code == 303
    assert len(skipped) == 1 and len(skipped[0]) == 1  # the fever page queued the text but did not send it
    text = fake.wait_for(lambda m: m["to"] == NURSE and alert_text(m["body"]), timeout=INTERVAL + 5)
    elapsed = text["received_at"] - started
    print(f"fever page saved -> nurse SMS by the scheduler alone: {elapsed:.3f} s")
    assert elapsed <= INTERVAL + 2, f"the scheduler took {elapsed:.3f} s"
    assert_emergency_page(app, browser)
    scheduler.assert_alive()
    assert scheduler.terminate() == 0, scheduler.output()
