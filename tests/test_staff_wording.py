"""Staff pages in words: occasions, escalation levels, what fired; the alert page's contact block and forms."""

import re

import pytest
from sqlalchemy import select
from test_staff_readable import load_the_demo, sign_in

from pro_app.alerts.models import Alert, AlertState
from pro_app.alerts.wording import fired_items
from pro_app.db import db
from pro_app.questionnaires.schedule import occasion_label


@pytest.mark.parametrize(("occasion", "en", "zh"), [
    ("infusion-2", "after infusion 2", "第 2 次输注后"),
    ("weekly-w1", "week 1", "第 1 周"),
    ("four-weekly-w37", "week 37", "第 37 周"),
    ("baseline", "baseline", "基线"),
    ("end-of-treatment", "end of treatment", "治疗结束"),
    ("report-20260301120000", "reported by the family", "家属主动报告"),
    ("something-new", "something-new", "something-new"),
])
def test_occasions_are_said_in_words(app, occasion, en, zh):
    from flask_babel import force_locale

    with app.test_request_context():
        with force_locale("en"):
            assert str(occasion_label(occasion)) == en
        with force_locale("zh_CN"):
            assert str(occasion_label(occasion)) == zh


def test_the_items_behind_fired_rules_are_found_in_every_shape_of_detail():
    details = [{"item": "temperature", "value": 38.6, "threshold": 38.0},
               {"items": ["breathing", "throat"]},
               {"items": [{"item": "tired_severity", "now": 3, "compared_with": ["baseline"]}]},
               {"score": "physical"}, None, "junk"]
    assert fired_items(details) == {"temperature", "breathing", "throat", "tired_severity"}


def red_alert(app):
    with app.app_context():
        return db.session.scalar(select(Alert.id).where(Alert.severity == "red", Alert.state == AlertState.OPEN))


def test_the_alert_page_reads_as_sentences_and_has_the_family_to_call(app, client):
    load_the_demo(app)
    sign_in(client, "nurse@example.org", "en")
    alert_id = red_alert(app)
    page = client.get(f"/staff/alerts/{alert_id}").get_data(as_text=True)
    assert "38.6 °C (threshold 38.0 °C)" in page
    assert "first notice" in page and "level 0" not in page
    assert 'href="tel:+8613800138012"' in page and "Mother" in page  # the caregiver, tappable
    # The firing answer is marked among the answers behind the alert.
    marked = re.search(r'<tr class="fired-answer">(.*?)</tr>', page, re.S)
    assert marked and "38.6" in marked.group(1)
    # No action is chosen for the nurse.
    select_html = re.search(r'<select[^>]*name="action".*?</select>', page, re.S).group(0)
    assert re.search(r'<option[^>]*value=""[^>]*>Choose what was done</option>', select_html)
    assert select_html.index('value=""') < select_html.index('value="called_patient"')
    assert not re.search(r'<option selected value="[a-z]|value="[a-z_]+" selected', select_html)
    worklist = client.get("/staff/alerts/").get_data(as_text=True)
    assert "Fever 38.0 °C or higher: 38.6 °C (threshold 38.0 °C)" in worklist
    sign_in(client, "nurse@example.org", "zh-CN")
    assert "首次通知" in client.get(f"/staff/alerts/{alert_id}").get_data(as_text=True)


def test_resolving_needs_a_chosen_action_and_claim_goes_once_the_alert_is_yours(app, client):
    load_the_demo(app)
    sign_in(client, "nurse@example.org", "en")
    alert_id = red_alert(app)
    refused = client.post(f"/staff/alerts/{alert_id}/resolve", data={"action": "", "note": "called"})
    assert refused.status_code == 400 and "Choose what was done." in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Alert, alert_id).state == AlertState.OPEN
    assert ">Claim</button>" in client.get(f"/staff/alerts/{alert_id}").get_data(as_text=True)
    client.post(f"/staff/alerts/{alert_id}/claim")
    page = client.get(f"/staff/alerts/{alert_id}").get_data(as_text=True)
    assert ">Claim</button>" not in page and ">Take over</button>" not in page
    assert ">Acknowledge</button>" in page
    # Another nurse may take it over, in those words.
    client.post("/staff/logout")
    sign_in(client, "investigator@example.org", "en")
    assert ">Take over</button>" in client.get(f"/staff/alerts/{alert_id}").get_data(as_text=True)


def test_the_participant_page_header_shows_open_alerts_next_visit_and_allergies(app, client):
    load_the_demo(app)
    sign_in(client, "nurse@example.org", "en")
    page = client.get("/staff/participants/DEMO-T02").get_data(as_text=True)
    header = re.search(r'<div class="summary summary-alert" role="status">(.*?)</div>', page, re.S)
    assert header, "an open red alert colours the header"
    assert f'/staff/alerts/{red_alert(app)}' in header.group(1)
    assert "Next visit" in header.group(1) and "Infusion" in header.group(1)
    assert "Allergies" in header.group(1)



def test_the_language_chosen_on_the_login_page_is_kept_across_login_and_logout(app, client, make_staff):
    from conftest import PASSWORD

    from pro_app.staff.models import StaffUser

    email = make_staff("nurse")
    client.get("/lang/en")
    assert '<html lang="en">' in client.get("/staff/login").get_data(as_text=True)
    assert client.post("/staff/login", data={"email": email, "password": PASSWORD}).status_code == 303
    assert '<html lang="en">' in client.get("/staff/alerts/").get_data(as_text=True)
    client.get("/lang/zh-CN")  # changed while signed in: saved on the account
    client.post("/staff/logout")
    assert '<html lang="zh-CN">' in client.get("/staff/login").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(StaffUser.language).where(StaffUser.email == email)) == "zh-CN"
