"""A new nurse's first sign-in in a real browser (Debian's chromium driven by Playwright) against a real
HTTP server with CSRF on and two-factor sign-in required, as in production.

The nurse opens an invitation link, is refused a common password, chooses a good one, enrols an
authenticator (the test reads the key off the page and computes codes with pyotp), signs in with a
code, later with a recovery code once; the same recovery code is refused the second time.
Screenshots go to test-artifacts/screenshots/<test>/.
"""

import re
import time
from datetime import UTC, datetime

import pyotp
import pytest
from browser import TIMEOUT_MS, browser_fixture, served_app, shots_fixture  # noqa: F401 (fixtures)
from playwright.sync_api import expect
from sqlalchemy import select

from pro_app.audit.models import AuditEvent
from pro_app.audit.operations import Actor
from pro_app.db import db
from pro_app.staff.admin import invite_staff
from pro_app.staff.signin_views import invitation_token

EMAIL = "new.nurse@example.org"
PASSWORD = "Lanterns over the Haihe at dusk"


@pytest.fixture
def server(tmp_path):
    with served_app(tmp_path, {"SMS_BACKEND": "console", "REQUIRE_2FA": True}) as served:
        yield served


def _sign_in(page, base, second):
    page.goto(f"{base}/staff/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/staff/login/code"))
    page.get_by_label("Code from your authenticator app").fill(second)
    page.get_by_role("button", name="Sign in").click()


def _log_out(page):
    page.click("form[action='/staff/logout'] button")
    expect(page).to_have_url(re.compile(r"/staff/login"))


def test_new_nurse_accepts_invitation_enrols_and_uses_a_recovery_code_once(server, browser, shots):
    app, base = server
    with app.test_request_context():
        user = invite_staff(db.session, EMAIL, "nurse", language="en", actor=Actor(label="test"),
                            now=datetime.now(UTC))
        db.session.commit()
        link = f"{base}/staff/invitation/{invitation_token(user)}"

    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(f"{base}/lang/en")
        page.goto(link)
        page.get_by_label("New password", exact=True).fill("Password2024!")
        page.get_by_label("Repeat the new password").fill("Password2024!")
        page.get_by_role("button", name="Set my password").click()
        expect(page.locator(".error")).to_contain_text("too common")
        shots(page, "common-password-refused")

        page.get_by_label("New password", exact=True).fill(PASSWORD)
        page.get_by_label("Repeat the new password").fill(PASSWORD)
        page.get_by_role("button", name="Set my password").click()
        expect(page).to_have_url(re.compile(r"/staff/two-factor"))
        expect(page.locator("figure.qr svg")).to_be_visible()
        secret = page.locator("#totp-secret").inner_text().strip()
        shots(page, "enrol")
        totp = pyotp.TOTP(secret)
        page.get_by_label("The 6-digit code").fill(totp.now())
        page.get_by_role("button", name="Turn on two-factor sign-in").click()
        codes = page.locator("#recovery-codes code").all_inner_texts()
        assert len(codes) == 10
        shots(page, "recovery-codes")
        page.get_by_role("link", name="I have kept my recovery codes").click()
        expect(page).to_have_url(re.compile(r"/staff/alerts/"))
        _log_out(page)

        # The code used to enrol is spent; the next time step's code (within the ±30 s allowed) signs in.
        _sign_in(page, base, totp.at(time.time() + 30))
        expect(page).to_have_url(re.compile(r"/staff/alerts/"))
        _log_out(page)

        _sign_in(page, base, codes[3])
        expect(page).to_have_url(re.compile(r"/staff/alerts/"))
        _log_out(page)

        _sign_in(page, base, codes[3])
        expect(page.locator(".error")).to_contain_text("already used")
        shots(page, "recovery-code-spent")
    finally:
        context.close()
    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions[:3] == ["staff.invited", "staff.invitation_accepted", "staff.two_factor_enrolled"]
    assert actions.count("staff.recovery_code_used") == 1
