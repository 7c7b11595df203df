"""The Exports page in a real browser (Debian's chromium driven by Playwright, a real threaded HTTP
server on a SQLite file, CSRF on): an investigator downloads the long CSV of answers, the audit log
shows the download, a nurse is refused. The page works at a phone's 360 px and a desktop's 1280 px
and axe-core finds no serious problem. Screenshots go to test-artifacts/screenshots/<test>/."""

import csv
import io
import random
from datetime import UTC, date, datetime, timedelta

from browser import assert_accessible, browser_fixture, shots_fixture, sign_in  # noqa: F401
from conftest import enrol_participant
from playwright.sync_api import expect
from sqlalchemy import select
from test_alert_browser import PASSWORD, server  # noqa: F401

from pro_app.audit.models import AuditEvent
from pro_app.audit.operations import Actor
from pro_app.db import db
from pro_app.demo import plausible_answers
from pro_app.questionnaires import current_instruments
from pro_app.questionnaires import operations as ops
from pro_app.questionnaires.models import Assignment
from pro_app.staff.cli import create_staff

INVESTIGATOR, NURSE = "investigator@example.org", "nurse@example.org"


def seed(app):
    """An investigator, a nurse, and one participant with one submitted after-infusion check."""
    now = datetime.now(UTC)
    with app.test_request_context():
        for email, role in ((INVESTIGATOR, "investigator"), (NURSE, "nurse")):
            create_staff(db.session, email, role, PASSWORD, language="en", actor=Actor(label="test"), now=now)
        db.session.commit()
    enrol_participant(app, "P-EXP", start=date.today() - timedelta(days=3), now=now, phone="+8613800138009")
    with app.test_request_context():
        instrument = current_instruments()["post-infusion"]
        a = db.session.scalars(select(Assignment).where(Assignment.instrument_id == "post-infusion")
                               .order_by(Assignment.opens_at)).first()
        draft = ops.open_draft(db.session, a, instrument, a.opens_at + timedelta(minutes=5))
        draft.answers = plausible_answers(instrument, random.Random(7))
        response = ops.submit(db.session, a, draft, instrument, draft.submit_key, a.opens_at + timedelta(minutes=9))
        answered = sum(1 for v in response.answers.values() if v not in (None, []))
        db.session.commit()
    return answered


def test_investigator_downloads_the_long_csv_and_the_audit_log_shows_it(browser, server, shots, tmp_path):  # noqa: F811
    app, base = server
    answered = seed(app)

    desktop = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = sign_in(desktop, base, INVESTIGATOR, PASSWORD)
    page.get_by_role("link", name="Exports").click()
    page.wait_for_url(f"{base}/staff/exports/")
    expect(page.get_by_role("heading", name="Exports", exact=True)).to_be_visible()
    assert_accessible(page, "exports page")
    shots(page, "exports-1280")
    page.get_by_label("responses").check()
    page.get_by_label("CSV (spreadsheet)").check()
    with page.expect_download() as info:
        page.get_by_role("button", name="Download").click()
    download = info.value
    assert download.suggested_filename.endswith(".csv") and "-responses-" in download.suggested_filename
    path = tmp_path / "long.csv"
    download.save_as(path)
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert len(rows) == answered > 5
    assert {r["study_id"] for r in rows} == {"P-EXP"} and {r["instrument_id"] for r in rows} == {"post-infusion"}
    assert "+8613800138009" not in path.read_text(encoding="utf-8")

    page.goto(f"{base}/staff/audit/")
    row = page.locator("table.audit tbody tr", has_text="export downloaded").first
    expect(row).to_contain_text(INVESTIGATOR)
    expect(row).to_contain_text(f"rows: {answered}")
    shots(page, "audit-log")
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export.downloaded")).one()
        assert event.after["dataset"] == "responses" and event.after["rows"] == answered
        db.session.rollback()

    phone = browser.new_context(viewport={"width": 360, "height": 740})
    small = sign_in(phone, base, INVESTIGATOR, PASSWORD)
    small.goto(f"{base}/staff/exports/")
    expect(small.get_by_role("button", name="Download")).to_be_visible()
    width = small.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the page scrolls sideways at 360 px ({width} px wide)"
    assert_accessible(small, "exports page at 360 px")
    shots(small, "exports-360")

    nurse = sign_in(browser.new_context(viewport={"width": 360, "height": 740}), base, NURSE, PASSWORD)
    expect(nurse.get_by_role("link", name="Exports")).to_have_count(0)
    refused = nurse.goto(f"{base}/staff/exports/")
    assert refused.status == 403
    shots(nurse, "nurse-403")
    for context in (desktop, phone, nurse.context):
        context.close()
