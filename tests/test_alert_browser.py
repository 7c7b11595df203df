"""The nurses' worklist in a real browser: Debian's chromium driven by Playwright against a real
HTTP server (werkzeug, threaded) on a SQLite file, with CSRF protection on as in production.

A nurse logs in, sees the red alert above an older amber one, claims, acknowledges and resolves
it; the alert page's history and the database agree. A monitor sees the worklist but is refused
a claim even with a valid CSRF token. axe-core finds no serious or critical problem on the pages.
Screenshots go to test-artifacts/screenshots/<test>/.
"""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from browser import (  # noqa: F401 (fixtures)
    TIMEOUT_MS,
    assert_accessible,
    browser_fixture,
    served_app,
    shots_fixture,
    sign_in,
)
from conftest import enrol_participant
from playwright.sync_api import expect
from sqlalchemy import select

from pro_app import alerts
from pro_app.alerts.models import Alert, AlertState
from pro_app.alerts.operations import raise_findings
from pro_app.alerts.rules import Finding
from pro_app.audit.models import AuditEvent
from pro_app.audit.operations import Actor
from pro_app.db import db
from pro_app.participants.models import Participant
from pro_app.staff.cli import create_staff

PASSWORD = "a browser-length password"
NURSE, MONITOR = "nurse@example.org", "monitor@example.org"
NOTE = "Called the family; advised the emergency department. 已电话联系家属。"


@pytest.fixture
def server(tmp_path):
    """(app, base URL) of a real threaded HTTP server on a migrated SQLite file."""
    with served_app(tmp_path, {"SMS_BACKEND": "console"}) as (app, base):
        assert app.config.get("WTF_CSRF_ENABLED", True) is True
        yield app, base


def seed(app):
    """A nurse and a monitor; a red alert (10 min old) and an older amber one for another participant."""
    now = datetime.now(UTC)
    with app.test_request_context():
        create_staff(db.session, NURSE, "nurse", PASSWORD, phone="+8613900000001", on_call=True, language="en",
                     actor=Actor(label="test"), now=now)
        create_staff(db.session, MONITOR, "monitor", PASSWORD, language="en", actor=Actor(label="test"), now=now)
        db.session.commit()
    ids = {}
    for study_id, phone, finding, age in [
        ("P-AMB", "+8613800138002", Finding("post-infusion:rash_severe", "amber", {"item": "rash_severity",
                                                                                    "value": 3}), 120),
        ("P-RED", "+8613800138001", Finding("post-infusion:fever", "red", {"item": "temperature", "value": 39.0,
                                                                           "threshold": 38.0}), 10),
    ]:
        enrol_participant(app, study_id, start=date.today(), now=now, phone=phone)
        with app.test_request_context():
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
        page = sign_in(nurse_context, base, NURSE, PASSWORD)
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
        page = sign_in(monitor_context, base, MONITOR, PASSWORD)
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
