"""Every kind of staff page in a real browser, on a 390x844 phone and a 1280x800 desktop, in zh-CN
and English, with the demo study: no page scrolls sideways, axe-core finds nothing serious or
critical, and a screenshot of each is kept under test-artifacts/screenshots/<test>/.
"""

import re

import pytest
from browser import browser_fixture, screenshot_folder, serious_violations, served_app  # noqa: F401 (browser is a fixture)
from conftest import NOW
from sqlalchemy import select

from pro_app import alerts
from pro_app.alerts.models import Alert
from pro_app.db import db
from pro_app.demo import DEMO_PASSWORD, load_demo
from pro_app.protocol import current_protocol
from pro_app.questionnaires import current_instruments
from pro_app.questionnaires.models import Response
from pro_app.visits.models import Visit

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    """(app, base URL) of a threaded HTTP server on a SQLite file holding the demo study."""
    config = {"SMS_BACKEND": "console", "RATELIMIT_ENABLED": False}
    with served_app(tmp_path_factory.mktemp("layout"), config) as (app, base):
        with app.test_request_context():
            load_demo(db.session, current_protocol(), current_instruments(), NOW, app.config["PUBLIC_URL"],
                      alerts.settings(app.config))
            db.session.commit()
        yield app, base


def pages_to_visit(app):
    """One page of every kind: the menu's lists, a participant's pages, an alert, a response, a visit."""
    with app.app_context():
        red = db.session.scalar(select(Alert.id).where(Alert.severity == "red").order_by(Alert.id))
        response = db.session.scalar(select(Response.id).order_by(Response.id.desc()))
        visit = db.session.scalar(select(Visit.id).order_by(Visit.id))
        db.session.rollback()
    sid = "DEMO-T02"
    return [
        ("worklist", "/staff/alerts/"), ("alert", f"/staff/alerts/{red}"), ("participants", "/staff/participants/"),
        ("participant", f"/staff/participants/{sid}"), ("questionnaires", f"/staff/participants/{sid}/questionnaires"),
        ("messages", f"/staff/participants/{sid}/messages"), ("participant-audit", f"/staff/participants/{sid}/audit"),
        ("timeline", f"/staff/participants/{sid}/timeline"), ("consent", f"/staff/participants/{sid}/consent"),
        ("response", f"/staff/responses/{response}"), ("visit", f"/staff/visits/{visit}"),
        ("completion", "/staff/questionnaires"), ("inbox", "/staff/inbox"), ("audit", "/staff/audit/"),
        ("oncall", "/staff/oncall/"), ("exports", "/staff/exports/"), ("accounts", "/staff/admin/"),
        ("overview", "/staff/overview"),
    ]


def sign_in(context, base, lang):
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{base}/lang/{lang}?next=/staff/login")
    page.fill("input[name=email]", "admin@example.org")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r".*/staff/(alerts/)?$"))
    return page


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_staff_pages_fit_the_screen_and_pass_axe(browser, demo_server, lang, viewport):
    app, base = demo_server
    folder = screenshot_folder(f"staff-layout-{viewport}-{lang}")
    context = browser.new_context(viewport=VIEWPORTS[viewport], locale=lang)
    problems = []
    try:
        page = sign_in(context, base, lang)
        for name, path in pages_to_visit(app):
            response = page.goto(base + path)
            assert response.status == 200, f"{path}: {response.status}"
            assert page.locator("html").get_attribute("lang") == lang
            width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            if width > inner:
                wide = page.evaluate("""() => [...document.querySelectorAll('main *')]
                    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                    .slice(0, 3).map(e => e.tagName + '.' + e.className + ': ' + (e.textContent || '').slice(0, 40))""")
                problems.append(f"{path}: {width}px wide in a {inner}px window: {wide}")
            page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
            for v in serious_violations(page):
                problems.append(f"{path}: {v['id']} ({v['impact']}) at {[n['target'] for n in v['nodes']][:3]}")
    finally:
        context.close()
    assert not problems, "\n".join(problems)
