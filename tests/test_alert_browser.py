"""The nurses' worklist in a real browser: Debian's chromium driven by Playwright against a real
HTTP server (werkzeug, threaded) on a SQLite file, with CSRF protection on as in production.

A nurse logs in, sees the red alert above an older amber one, claims, acknowledges and resolves
it; the alert page's history and the database agree. A monitor sees the worklist but is refused
a claim even with a valid CSRF token. axe-core finds no serious or critical problem on the pages.
Screenshots go to test-artifacts/screenshots/<test>/.
"""

import os
import re
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect, sync_playwright
from sqlalchemy import select
from werkzeug.serving import make_server

from pro_app import alerts, create_app
from pro_app.alerts.models import Alert, AlertState
from pro_app.alerts.operations import raise_findings
from pro_app.alerts.rules import Finding
from pro_app.audit.models import AuditEvent
from pro_app.audit.operations import Actor
from pro_app.db import db, make_engine, upgrade
from pro_app.participants.models import Participant
from pro_app.participants.operations import enrol
from pro_app.participants.validation import check_enrolment
from pro_app.protocol import current_protocol
from pro_app.questionnaires import current_instruments
from pro_app.staff.cli import create_staff

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
PASSWORD = "a browser-length password"
NURSE, MONITOR = "nurse@example.org", "monitor@example.org"
NOTE = "Called the family; advised the emergency department. 已电话联系家属。"
TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing or not executable: install Debian's chromium package")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        yield launched
        launched.close()


@pytest.fixture
def server(tmp_path):
    """(app, base URL) of a real threaded HTTP server on a migrated SQLite file."""
    url = f"sqlite:///{tmp_path / 'browser.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    app = create_app({"SECRET_KEY": "browser-test-secret", "DATABASE_URL": url, "SMS_BACKEND": "console"},
                     instance_path=str(tmp_path))
    assert app.config.get("WTF_CSRF_ENABLED", True) is True
    http = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{http.server_port}"
    app.config["PUBLIC_URL"] = base
    thread = threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield app, base
    finally:
        http.shutdown()
        http.server_close()
        thread.join(5)
        app.extensions["pro_db"]["engine"].dispose()


@pytest.fixture
def shots(request):
    """Save a screenshot of a page under test-artifacts/screenshots/<test>/<n>-<name>.png."""
    folder = ROOT / "test-artifacts" / "screenshots" / re.sub(r"[^\w.-]+", "_", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    taken = []

    def shot(page, name):
        path = folder / f"{len(taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)
        return path
    return shot


def seed(app):
    """A nurse and a monitor; a red alert (10 min old) and an older amber one for another participant."""
    now = datetime.now(UTC)
    with app.test_request_context():
        create_staff(db.session, NURSE, "nurse", PASSWORD, phone="+8613900000001", on_call=True, language="en",
                     actor=Actor(label="test"), now=now)
        create_staff(db.session, MONITOR, "monitor", PASSWORD, language="en", actor=Actor(label="test"), now=now)
        ids = {}
        for study_id, phone, finding, age in [
            ("P-AMB", "+8613800138002", Finding("post-infusion:rash_severe", "amber", {"item": "rash_severity",
                                                                                        "value": 3}), 120),
            ("P-RED", "+8613800138001", Finding("post-infusion:fever", "red", {"item": "temperature", "value": 39.0,
                                                                               "threshold": 38.0}), 10),
        ]:
            enrolment, errors = check_enrolment({"study_id": study_id, "start": date.today().isoformat(),
                                                 "tz": "Asia/Shanghai", "lang": "zh-CN", "age": "", "phone": phone,
                                                 "caregivers": []})
            assert not errors, errors
            enrol(db.session, enrolment, current_protocol(), current_instruments(), actor=Actor(label="test"),
                  now=now, public_url=app.config["PUBLIC_URL"])
            participant = db.session.scalar(select(Participant).where(Participant.study_id == study_id))
            raise_findings(db.session, participant, [finding], now=now - timedelta(minutes=age), **alerts.context())
            ids[study_id] = db.session.scalar(select(Alert.id).where(Alert.participant_id == participant.id))
        db.session.commit()
    return ids


def alert_row(app, alert_id):
    with app.app_context():
        alert = db.session.get(Alert, alert_id)
        row = {"state": alert.state, "owner": alert.owner.email if alert.owner else None, "action": alert.action,
               "note": alert.note, "claimed": alert.claimed_at is not None,
               "acknowledged": alert.acknowledged_at is not None, "resolved": alert.resolved_at is not None}
        db.session.rollback()
        return row


def log_in(context, base, email):
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{base}/staff/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/staff/alerts/")
    expect(page.locator("header .who")).to_contain_text(email)
    return page


def assert_accessible(page, what):
    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    assert not bad, f"{what}: axe found " + "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in bad)
    assert results.response["testEngine"]["name"] == "axe-core"  # axe really ran


def worklist(page):
    """The worklist rows as (severity, study ID, alert path), top to bottom."""
    rows = page.locator("table.worklist tbody tr[class^='alert-']")
    out = []
    for i in range(rows.count()):
        row = rows.nth(i)
        out.append((row.get_attribute("class").removeprefix("alert-"), row.locator("td").nth(1).inner_text().strip(),
                    row.locator("td").nth(2).locator("a").get_attribute("href")))
    return out


def test_nurse_triages_a_red_alert_and_a_monitor_is_refused(server, browser, shots):
    app, base = server
    ids = seed(app)
    red, amber = ids["P-RED"], ids["P-AMB"]

    # --- the nurse --------------------------------------------------------------------------
    nurse_context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    try:
        page = log_in(nurse_context, base, NURSE)
        # The red alert is on top although the amber one is older.
        assert worklist(page) == [("red", "P-RED", f"/staff/alerts/{red}"),
                                  ("amber", "P-AMB", f"/staff/alerts/{amber}")]
        shots(page, "nurse-worklist")
        assert_accessible(page, "worklist")

        top = page.locator("table.worklist tbody tr").first
        top.get_by_role("button", name="Claim").click()
        page.wait_for_url(f"{base}/staff/alerts/")
        expect(page.locator("table.worklist tbody tr").first.locator("td").nth(5)).to_have_text(NURSE)
        assert alert_row(app, red)["owner"] == NURSE and alert_row(app, red)["state"] == AlertState.OPEN
        shots(page, "claimed")

        page.locator("table.worklist tbody tr").first.locator("td").nth(2).get_by_role("link").click()
        page.wait_for_url(f"{base}/staff/alerts/{red}")
        expect(page.get_by_role("heading", level=1)).to_contain_text("P-RED")
        assert_accessible(page, "alert page")
        page.get_by_role("button", name="Acknowledge").click()
        page.wait_for_url(f"{base}/staff/alerts/{red}")
        expect(page.locator("dl.facts")).to_contain_text("acknowledged")
        expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
        assert alert_row(app, red)["state"] == AlertState.ACKNOWLEDGED
        shots(page, "acknowledged")

        # Resolving without a note is refused on the page, in words a screen reader reaches.
        page.get_by_label("Action taken").select_option("advised_hospital_visit")
        page.locator("form[action$='/resolve'] button[type=submit]").click()
        expect(page.locator(".error-summary")).to_be_visible()
        expect(page.locator("#note-error")).to_have_text("Write what was done.")
        expect(page.get_by_label("Note")).to_have_attribute("aria-invalid", "true")
        assert alert_row(app, red)["state"] == AlertState.ACKNOWLEDGED
        shots(page, "resolve-refused")
        assert_accessible(page, "alert page with a form error")

        page.get_by_label("Action taken").select_option("advised_hospital_visit")
        page.get_by_label("Note").fill(NOTE)
        page.locator("form[action$='/resolve'] button[type=submit]").click()
        page.wait_for_url(f"{base}/staff/alerts/{red}")
        expect(page.locator("dl.facts")).to_contain_text("resolved")
        expect(page.locator("dl.facts")).to_contain_text(NOTE)
        expect(page.locator("form[action$='/resolve']")).to_have_count(0)

        history = page.locator("table.audit tbody tr")
        rows = [history.nth(i).inner_text() for i in range(history.count())]
        by_action = {}
        for row in rows:
            found = re.search(r"alert (opened|claimed|acknowledged|resolved)", row)
            assert found, row
            by_action[found.group(1)] = row
        assert set(by_action) == {"opened", "claimed", "acknowledged", "resolved"}, rows
        for action in ("claimed", "acknowledged", "resolved"):
            assert NURSE in by_action[action], by_action[action]
        assert NOTE in by_action["resolved"] and "advised a hospital visit" in by_action["resolved"]
        shots(page, "resolved")

        assert alert_row(app, red) == {"state": AlertState.RESOLVED, "owner": NURSE,
                                       "action": "advised_hospital_visit", "note": NOTE, "claimed": True,
                                       "acknowledged": True, "resolved": True}
        with app.app_context():
            events = db.session.scalars(select(AuditEvent).where(AuditEvent.entity == "alert",
                                                                 AuditEvent.entity_id == red)
                                        .order_by(AuditEvent.id)).all()
            assert [(e.action, e.actor) for e in events] == [
                ("alert.opened", "system"), ("alert.claimed", f"staff:{NURSE}"),
                ("alert.acknowledged", f"staff:{NURSE}"), ("alert.resolved", f"staff:{NURSE}")]
            assert events[-1].reason == NOTE
        page.goto(f"{base}/staff/alerts/")
        assert worklist(page) == [("amber", "P-AMB", f"/staff/alerts/{amber}")]
    finally:
        nurse_context.close()

    # --- the monitor -----------------------------------------------------------------------
    before = alert_row(app, amber)
    monitor_context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    try:
        page = log_in(monitor_context, base, MONITOR)
        assert worklist(page) == [("amber", "P-AMB", f"/staff/alerts/{amber}")]
        expect(page.get_by_role("button", name="Claim")).to_have_count(0)
        shots(page, "monitor-worklist")
        assert_accessible(page, "monitor's worklist")

        token = page.locator("input[name=csrf_token]").first.get_attribute("value")
        assert token
        refused = page.request.post(f"{base}/staff/alerts/{amber}/claim", form={"csrf_token": token},
                                    max_redirects=0, timeout=TIMEOUT_MS)
        assert refused.status == 403, refused.text()
        assert "Not allowed" in refused.text()
        # Without the token it is the CSRF check that refuses it: CSRF protection is on.
        no_token = page.request.post(f"{base}/staff/alerts/{amber}/claim", form={}, max_redirects=0,
                                     timeout=TIMEOUT_MS)
        assert no_token.status == 400, no_token.text()

        # The same refusal for a form submitted from the page itself.
        page.evaluate("""([url, token]) => {
            const form = document.createElement('form');
            form.method = 'post';
            form.action = url;
            const input = document.createElement('input');
            input.type = 'hidden'; input.name = 'csrf_token'; input.value = token;
            form.appendChild(input);
            document.body.appendChild(form);
            form.submit();
        }""", [f"/staff/alerts/{amber}/acknowledge", token])
        page.wait_for_url(f"{base}/staff/alerts/{amber}/acknowledge")
        expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
        shots(page, "monitor-refused")
        assert alert_row(app, amber) == before and before["state"] == AlertState.OPEN and before["owner"] is None
    finally:
        monitor_context.close()
