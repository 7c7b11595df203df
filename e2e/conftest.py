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

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from browser import chromium  # noqa: E402  (tests/browser.py)
from deployment import ROOT, Deployment, installed_venv  # noqa: E402

ARTIFACTS = ROOT / "test-artifacts" / "e2e"


@pytest.fixture(scope="session")
def deployment():
    with tempfile.TemporaryDirectory(prefix="pro-e2e-") as own:
        work = Path(os.environ.get("PRO_E2E_WORK") or own)
        work.chmod(0o755)  # nginx's workers (www-data) read the static files of the venv inside
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with Deployment(work / "run", ARTIFACTS, installed_venv(work, ARTIFACTS)) as running:
            yield running


@pytest.fixture(scope="session")
def browser():
    with chromium() as launched:
        yield launched


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
