"""Acceptance 4: at any hour, the demo's phones show a questionnaire link for a patient and a caregiver."""

import html
import re
from datetime import UTC, datetime

import pytest

from pro_app.questionnaires import current_instruments

TEEN, MOTHER = "+8613800138002", "+8613800138012"
LINK = re.compile(r"http://[^\s]+/q/[A-Za-z0-9_-]{20,}")


@pytest.fixture
def app_config():
    return {"DEMO": True}


@pytest.mark.parametrize("hour", [15, 20, 23])  # 23:00, 04:00 and 07:00 in Shanghai: all quiet hours
def test_demo_phones_show_a_questionnaire_link_inside_shanghai_quiet_hours(app, client, runner, clock, tick, hour):
    clock.now = datetime(2026, 11, 25, hour, 0, tzinfo=UTC)
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    tick(clock.now)  # the scheduler's first tick, seconds after `make run`
    for phone in (TEEN, MOTHER):
        page = html.unescape(client.get(f"/dev/phone/{phone}").get_data(as_text=True))
        links = LINK.findall(page)
        assert links, phone
        opened = client.get(re.sub(r"^https?://[^/]+", "", links[-1]))
        with app.app_context():
            title = current_instruments()["symptom-check"].title["zh-CN"]
        assert opened.status_code == 200 and title in html.unescape(opened.get_data(as_text=True)), phone
