"""Fixtures of the end-to-end run: the deployment (e2e/deployment.py) and Debian's chromium.

Run by `make e2e` (e2e/run.sh), never by `make test`. PRO_E2E_WORK names the work folder
(run.sh's temporary one); the wheel is built and installed there unless PRO_E2E_VENV names a
virtualenv that already has it.
"""

import os
import sys
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))

from deployment import ROOT, Deployment, build_wheel, install_wheel  # noqa: E402

ARTIFACTS = ROOT / "test-artifacts" / "e2e"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="session")
def deployment():
    with tempfile.TemporaryDirectory(prefix="pro-e2e-") as own:
        work = Path(os.environ.get("PRO_E2E_WORK") or own)
        work.chmod(0o755)  # nginx's workers (www-data) read the static files of the venv inside
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        venv = os.environ.get("PRO_E2E_VENV")
        if not venv:
            with open(ARTIFACTS / "install.log", "w") as log:
                venv = install_wheel(build_wheel(work / "dist"), work / "venv", log)
        with Deployment(work / "run", ARTIFACTS, Path(venv)) as running:
            yield running


@pytest.fixture(scope="session")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def shots():
    """Save a full-page screenshot under test-artifacts/e2e/screenshots/."""
    folder = ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    taken = []

    def shot(page, name):
        taken.append(name)
        page.screenshot(path=str(folder / f"{len(taken):02d}-{name}.png"), full_page=True)
    return shot
