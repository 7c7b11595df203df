"""Every kind of staff page in a real browser, on a 390x844 phone and a 1280x800 desktop, in zh-CN
and English, with the demo study: no page scrolls sideways, axe-core finds nothing serious or
critical, and a screenshot of each is kept under test-artifacts/screenshots/<test>/.
"""

import re
import threading
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from conftest import NOW
from sqlalchemy import select
from test_alert_browser import browser  # noqa: F401  (the shared chromium fixture)
from werkzeug.serving import make_server

from pro_app import alerts, create_app
from pro_app.alerts.models import Alert
from pro_app.db import db, make_engine, upgrade
from pro_app.demo import DEMO_PASSWORD, load_demo
from pro_app.protocol import current_protocol
from pro_app.questionnaires import current_instruments
from pro_app.questionnaires.models import Response
from pro_app.visits.models import Visit

ROOT = Path(__file__).resolve().parents[1]
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    """(app, base URL) of a threaded HTTP server on a SQLite file holding the demo study."""
    tmp = tmp_path_factory.mktemp("layout")
    url = f"sqlite:///{tmp / 'demo.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    app = create_app({"SECRET_KEY": "layout-test-secret", "DATABASE_URL": url, "SMS_BACKEND": "console",
                      "RATELIMIT_ENABLED": False}, instance_path=str(tmp))
    with app.test_request_context():
        load_demo(db.session, current_protocol(), current_instruments(), NOW, app.config["PUBLIC_URL"],
                  alerts.settings(app.config))
        db.session.commit()
    http = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{http.server_port}"
    thread = threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield app, base
    finally:
        http.shutdown()
        http.server_close()
        thread.join(5)
        app.extensions["pro_db"]["engine"].dispose()


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
def test_staff_pages_fit_the_screen_and_pass_axe(browser, demo_server, lang, viewport):  # noqa: F811
    app, base = demo_server
    folder = ROOT / "test-artifacts" / "screenshots" / f"staff-layout-{viewport}-{lang}"
    folder.mkdir(parents=True, exist_ok=True)
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
            results = Axe().run(page)
            assert results.response["testEngine"]["name"] == "axe-core"
            for v in results.response["violations"]:
                if v.get("impact") in ("serious", "critical"):
                    problems.append(f"{path}: {v['id']} ({v['impact']}) at {[n['target'] for n in v['nodes']][:3]}")
    finally:
        context.close()
    assert not problems, "\n".join(problems)
