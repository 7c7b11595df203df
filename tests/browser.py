"""Shared pieces of the browser tests: the app on a real server, Debian's chromium, sign-in, axe, screenshots.

A test module that needs the `browser` or `shots` fixture imports `browser_fixture` or `shots_fixture`.
"""

import os
import re
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect, sync_playwright
from scratch import scratch_database
from werkzeug.serving import make_server

from pro_app import create_app

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
TIMEOUT_MS = 10_000
AXE = Axe()


# --- the app on a real server -----------------------------------------------------------------------

@contextmanager
def served_app(folder, config, ssl_context=None):
    """Yield (app, base URL): a fresh app on a migrated SQLite file in `folder`, behind werkzeug's
    threaded server at 127.0.0.1:<free port>; the base URL is also the app's PUBLIC_URL."""
    with scratch_database("sqlite", folder) as url:
        app = create_app({"SECRET_KEY": "browser-test", "DATABASE_URL": url, **config}, instance_path=str(folder))
        http = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=ssl_context)
        base = f"{'https' if ssl_context else 'http'}://127.0.0.1:{http.server_port}"
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


# --- Debian's chromium ------------------------------------------------------------------------------

@contextmanager
def chromium():
    """Launch Debian's chromium (never Playwright's own download)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing or not executable: install Debian's chromium package", pytrace=False)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module", name="browser")
def browser_fixture():
    with chromium() as launched:
        yield launched


def sign_in(context, base, email, password):
    """Log a member of staff in at /staff/login in a new tab; return the tab, on the worklist."""
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{base}/staff/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/staff/alerts/")
    expect(page.locator("header .who")).to_contain_text(email)
    return page


# --- axe-core and screenshots -----------------------------------------------------------------------

def serious_violations(page):
    """axe-core's serious and critical findings on the page."""
    results = AXE.run(page)
    assert results.response["testEngine"]["name"] == "axe-core"  # axe really ran
    return [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]


def describe(violations):
    return "\n".join(f"{v['id']} ({v['impact']}): {v['help']} -> "
                     f"{[n['target'] for n in v['nodes']][:5]} {v['nodes'][0].get('failureSummary', '')}"
                     for v in violations)


def assert_accessible(page, what):
    found = serious_violations(page)
    assert not found, f"axe on {what} ({page.url}):\n{describe(found)}"


def screenshot_folder(name):
    """test-artifacts/screenshots/<name>/, emptied of an earlier run's screenshots."""
    folder = SHOTS / re.sub(r"[^\w.-]+", "_", name)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


@pytest.fixture(name="shots")
def shots_fixture(request):
    """Save a screenshot of a page under test-artifacts/screenshots/<test>/<n>-<name>.png."""
    folder = screenshot_folder(request.node.name)
    taken = []

    def shot(page, name):
        path = folder / f"{len(taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)
        return path
    return shot
