"""Shared fixtures: an app per test on SQLite and, when configured, PostgreSQL."""

import os
import re
import sqlite3
import sys
from datetime import UTC, date, datetime

import pytest
from flask import Flask
from flask_babel import Babel, force_locale
from scratch import scratch_database
from sqlalchemy import create_engine

from pro_app import create_app
from pro_app.audit.operations import Actor
from pro_app.db import db, make_engine, upgrade
from pro_app.participants.operations import enrol
from pro_app.participants.validation import check_enrolment
from pro_app.protocol import current_protocol
from pro_app.questionnaires import current_instruments
from pro_app.staff.cli import create_staff

PG_URL = os.environ.get("PRO_TEST_DATABASE_URL")
# Apps the tests build themselves (browsers, real servers, child processes) sign staff in with a
# password alone; the two-factor tests turn PRO_REQUIRE_2FA back on in their own config.
os.environ.setdefault("PRO_REQUIRE_2FA", "0")
DATABASES = ["sqlite"] + (["postgresql"] if PG_URL else [])
NOW = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """A SQLite file migrated once; each test gets an in-memory copy of it."""
    path = tmp_path_factory.mktemp("db") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_engine():
    """A PostgreSQL database of this test run's own, migrated once and dropped at the end."""
    with scratch_database("postgresql", None, PG_URL, prefix="pro_test") as url:
        engine = create_engine(url)
        yield engine
        engine.dispose()


@pytest.fixture(params=DATABASES)
def scratch_db(request, tmp_path):
    """The URL of a new, migrated, empty database of this test's own, for real processes."""
    with scratch_database(request.param, tmp_path, PG_URL) as url:
        yield url


@pytest.fixture
def clock(monkeypatch):
    """A settable "now" for every page, webhook and command of the app (ticks get their own)."""
    from pro_app import clock as clock_module

    class Clock:
        now = NOW

    c = Clock()
    real = clock_module.utcnow
    for name, module in list(sys.modules.items()):
        if name.startswith("pro_app") and getattr(module, "utcnow", None) is real:
            monkeypatch.setattr(module, "utcnow", lambda: c.now)
    return c


@pytest.fixture
def english():
    """Messages of pure functions in English, without an app or a database."""
    app = Flask(__name__)
    Babel(app)
    with app.app_context(), force_locale("en"):
        yield


@pytest.fixture
def _push_request_context():
    """Replace pytest-flask's context so every request gets its own app context, as in production."""


def _config(url):
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "DATABASE_URL": url,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "PUBLIC_URL": "http://localhost",
        # Tests sign in with a password; the two-factor tests turn this on.
        "REQUIRE_2FA": False,
    }


@pytest.fixture
def app_config():
    """Extra settings for the app; override with parametrize or a fixture of this name."""
    return {}


@pytest.fixture(params=DATABASES)
def app(request, tmp_path, sqlite_template, app_config):
    """A fresh app with a migrated, empty database that nothing else sees."""
    if request.param == "sqlite":
        app = create_app({**_config("sqlite://"), **app_config}, instance_path=str(tmp_path))
        raw = app.extensions["pro_db"]["engine"].raw_connection()
        with sqlite3.connect(sqlite_template) as source:
            source.backup(raw.driver_connection)
        raw.close()
        yield app
    else:
        engine = request.getfixturevalue("pg_engine")
        connection = engine.connect()
        outer = connection.begin()
        url = engine.url.render_as_string(hide_password=False)
        app = create_app({**_config(url), **app_config}, instance_path=str(tmp_path))
        db.bind_for_tests(app, connection)
        yield app
        outer.rollback()
        connection.close()
    app.extensions["pro_db"]["engine"].dispose()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_staff(app):
    """Create staff accounts: make_staff('nurse') -> the account's email."""
    def make(role="nurse", email=None, **kwargs):
        email = email or f"{role}@example.org"
        with app.app_context():
            create_staff(db.session, email, role, PASSWORD, actor=Actor(label="test"), now=NOW, **kwargs)
            db.session.commit()
        return email
    return make


@pytest.fixture
def login(client, make_staff):
    """Log the test client in with a new account of the given role."""
    def do(role="nurse", lang="en"):
        email = make_staff(role)
        client.get(f"/lang/{lang}")
        response = client.post("/staff/login", data={"email": email, "password": PASSWORD})
        assert response.status_code == 303, response.get_data(as_text=True)
        return email
    return do


def enrol_participant(app, study_id, *, start, now, phone, tz="Asia/Shanghai", lang="zh-CN", age="",
                      caregivers=()):
    """Enrol a participant as the enrolment form does, and commit."""
    raw = {"study_id": study_id, "start": start.isoformat(), "tz": tz, "lang": lang, "age": age, "phone": phone,
           "caregivers": list(caregivers)}
    with app.test_request_context():
        enrolment, errors = check_enrolment(raw)
        assert not errors, errors
        enrol(db.session, enrolment, current_protocol(), current_instruments(), actor=Actor(label="test"), now=now,
              public_url=app.config["PUBLIC_URL"])
        db.session.commit()


@pytest.fixture
def make_participant(app):
    """Enrol a participant: make_participant('P-001', start=date(...), tz=...) -> study ID."""
    def make(study_id="P-001", start=date(2026, 3, 2), tz="Asia/Shanghai", lang="zh-CN",
             age="", phone="+8613800138001", caregivers=(), now=NOW):
        enrol_participant(app, study_id, start=start, now=now, phone=phone, tz=tz, lang=lang, age=age,
                          caregivers=caregivers)
        return study_id
    return make


@pytest.fixture
def give_infusion(app):
    """Record an infusion as given, as a nurse does: give_infusion('P-001', dose=1, now=...).

    After-infusion questionnaires are invited only for infusions recorded as given."""
    from sqlalchemy import select

    from pro_app.participants.models import Participant
    from pro_app.visits.models import Visit, VisitKind, VisitStatus
    from pro_app.visits.operations import set_visit_status

    def give(study_id="P-001", dose=1, now=NOW):
        with app.test_request_context():
            visit = db.session.scalar(select(Visit).join(Participant).where(
                Participant.study_id == study_id, Visit.kind == VisitKind.INFUSION, Visit.dose_number == dose))
            set_visit_status(db.session, visit, VisitStatus.DONE, reason="given", actor=Actor(label="test"),
                             now=now, protocol=current_protocol(), instruments=current_instruments())
            db.session.commit()
    return give


def csrf_token(html):
    """Pull the CSRF token out of a rendered form."""
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"', html)
    assert match, "no csrf token on the page"
    return match.group(1) or match.group(2)


@pytest.fixture(scope="session")
def _fake_twilio_server():
    from fake_twilio import FakeTwilio

    with FakeTwilio() as fake:
        yield fake


@pytest.fixture
def fake_twilio(_fake_twilio_server):
    """The loopback fake Twilio server, emptied for this test."""
    _fake_twilio_server.clear()
    return _fake_twilio_server


@pytest.fixture
def twilio_config(fake_twilio):
    """Settings that send through the real Twilio SDK to the loopback fake."""
    return {
        "SMS_BACKEND": "twilio",
        "TWILIO_ACCOUNT_SID": fake_twilio.account_sid,
        "TWILIO_AUTH_TOKEN": fake_twilio.auth_token,
        "TWILIO_FROM": "+15005550006",
        "TWILIO_BASE_URL": fake_twilio.base_url,
        "TWILIO_TIMEOUT": 1.0,
    }


@pytest.fixture(scope="session")
def reminders_only_protocol(tmp_path_factory):
    """The default protocol without questionnaires, for tests about visit reminders alone."""
    from pro_app.protocol.model import DEFAULT_FILE

    text = DEFAULT_FILE.read_text()
    head, _, _ = text.partition("\nquestionnaires:")
    path = tmp_path_factory.mktemp("protocol") / "reminders-only.yaml"
    path.write_text(head + "\nquestionnaires:\n  nudge_hours_before_close: 24\n  schedule: []\n")
    return str(path)


@pytest.fixture
def tick(app):
    """Run one tick as of a given instant and return its summary line."""
    from pro_app.scheduler import run_tick

    def run(now):
        with app.app_context():
            return run_tick(now)
    return run
