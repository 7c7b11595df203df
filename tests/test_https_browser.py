"""Chromium over https (TLS on the app's own server): the forms a nurse and a family use work.

Browsers send no Referer under a strict referrer policy and put the page's origin in `Origin`;
this is what the suite over plain http never saw.
"""

import subprocess
import threading
from datetime import UTC, date, datetime

import pytest
from playwright.sync_api import sync_playwright
from sqlalchemy import select
from test_questionnaire_browser import ARGS, CHROMIUM, PHONE
from werkzeug.serving import make_server

from pro_app import create_app
from pro_app.audit.operations import Actor
from pro_app.db import db, make_engine, upgrade
from pro_app.participants.operations import enrol
from pro_app.participants.validation import check_enrolment
from pro_app.protocol import current_protocol
from pro_app.questionnaires import current_instruments, views
from pro_app.questionnaires import operations as ops
from pro_app.questionnaires.models import Assignment
from pro_app.staff.cli import create_staff

NOW = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # baseline and quality of life are open
PASSWORD = "a long staff passphrase"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, made with openssl."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return str(cert), str(key)


@pytest.fixture
def server(tmp_path, monkeypatch, twilio_config, certificate):
    """The app over https at 127.0.0.1:<free port>, CSRF and rate limits on as in production."""
    url = f"sqlite:///{tmp_path}/https.db"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    app = create_app({"SECRET_KEY": "https-test", "DATABASE_URL": url, "PUBLIC_URL": "https://127.0.0.1",
                      **twilio_config}, instance_path=str(tmp_path))
    assert app.config["WTF_CSRF_ENABLED"] is not False and app.config["SESSION_COOKIE_SECURE"]
    monkeypatch.setattr(views, "utcnow", lambda: NOW)
    httpd = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=certificate)
    base = f"https://127.0.0.1:{httpd.server_port}"
    app.config["PUBLIC_URL"] = base
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield app, base
    httpd.shutdown()
    thread.join(5)
    app.extensions["pro_db"]["engine"].dispose()


@pytest.fixture(scope="module")
def chromium():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


def posts(page):
    """Collect the headers of every form post the page sends."""
    sent = []
    page.on("request", lambda request: sent.append(request.all_headers()) if request.method == "POST" else None)
    return sent


def test_a_nurse_logs_in_and_out_over_https(server, chromium):
    app, base = server
    with app.app_context():
        create_staff(db.session, "nurse@example.org", "nurse", PASSWORD, actor=Actor(label="test"), now=NOW,
                     language="en")
        db.session.commit()
    context = chromium.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    sent = posts(page)
    page.goto(f"{base}/staff/login")
    page.fill("input[name=email]", "nurse@example.org")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert page.url.startswith(f"{base}/staff/alerts"), page.url
    assert "nurse@example.org" in page.content()
    assert sent and sent[0].get("origin") == base
    cookie = next(c for c in context.cookies() if c["name"] == "session")
    assert cookie["secure"] and cookie["httpOnly"]
    page.click("form[action='/staff/logout'] button")
    page.wait_for_load_state()
    assert page.url.startswith(f"{base}/staff/login")
    page.goto(f"{base}/staff/participants/")
    assert page.url.startswith(f"{base}/staff/login")  # the session ended on the server
    context.close()


def test_a_family_taps_start_over_https(server, chromium):
    app, base = server
    raw = {"study_id": "P-TLS", "start": date(2026, 3, 9).isoformat(), "tz": "Asia/Shanghai", "lang": "zh-CN",
           "age": "", "phone": "+8613800138071", "caregivers": []}
    with app.test_request_context():
        enrolment, errors = check_enrolment(raw)
        assert not errors, errors
        enrol(db.session, enrolment, current_protocol(), current_instruments(), actor=Actor(label="test"), now=NOW,
              public_url=base)
        assignment = db.session.scalars(select(Assignment).where(Assignment.opens_at <= NOW,
                                                                 Assignment.closes_at > NOW)).first()
        token = ops.new_link(db.session, assignment.id, NOW)
        db.session.commit()
    context = chromium.new_context(ignore_https_errors=True, **PHONE)
    page = context.new_page()
    sent = posts(page)
    response = page.goto(f"{base}/q/{token}")
    assert response.status == 200 and response.headers["referrer-policy"] == "same-origin"
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert page.url.startswith(f"{base}/q/answer"), page.url
    assert "无法识别该请求" not in page.content()
    assert sent[0].get("origin") == base
    assert sent[0].get("referer", base).startswith(base)  # the link is named to the site itself at most
    context.close()
