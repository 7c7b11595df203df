"""Chromium over https (TLS on the app's own server): the forms a nurse and a family use work.

Browsers send no Referer under a strict referrer policy and put the page's origin in `Origin`;
this is what the suite over plain http never saw.
"""

import subprocess
from datetime import UTC, date, datetime

import pytest
from browser import browser_fixture, served_app  # noqa: F401 (browser is a fixture)
from conftest import enrol_participant
from sqlalchemy import select
from test_questionnaire_browser import PHONE

from pro_app.audit.operations import Actor
from pro_app.db import db
from pro_app.questionnaires import operations as ops
from pro_app.questionnaires import views
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
    monkeypatch.setattr(views, "utcnow", lambda: NOW)
    with served_app(tmp_path, {"PUBLIC_URL": "https://127.0.0.1", **twilio_config}, certificate) as (app, base):
        assert app.config["WTF_CSRF_ENABLED"] is not False and app.config["SESSION_COOKIE_SECURE"]
        yield app, base


def posts(page):
    """Collect the headers of every form post the page sends."""
    sent = []
    page.on("request", lambda request: sent.append(request.all_headers()) if request.method == "POST" else None)
    return sent


def test_a_nurse_logs_in_and_out_over_https(server, browser):
    app, base = server
    with app.app_context():
        create_staff(db.session, "nurse@example.org", "nurse", PASSWORD, actor=Actor(label="test"), now=NOW,
                     language="en")
        db.session.commit()
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 800})
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


def test_a_family_taps_start_over_https(server, browser):
    app, base = server
    enrol_participant(app, "P-TLS", start=date(2026, 3, 9), now=NOW, phone="+8613800138071")
    with app.test_request_context():
        assignment = db.session.scalars(select(Assignment).where(Assignment.opens_at <= NOW,
                                                                 Assignment.closes_at > NOW)).first()
        token = ops.new_link(db.session, assignment.id, NOW)
        db.session.commit()
    context = browser.new_context(ignore_https_errors=True, **PHONE)
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
