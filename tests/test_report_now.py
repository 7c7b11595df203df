"""Report a problem now: a standing per-contact link opens an ad-hoc report, assessed like any answer."""

import re
from datetime import UTC, datetime

from sqlalchemy import select

from pro_app.alerts.models import Alert
from pro_app.db import db
from pro_app.participants.models import Contact
from pro_app.questionnaires.models import Assignment
from pro_app.questionnaires.report import report_token

AT = datetime(2026, 3, 20, 6, 0, tzinfo=UTC)  # 14:00 in Tianjin, between two weekly checks


def _token(app, phone):
    with app.app_context():
        contact = db.session.scalar(select(Contact).where(Contact.phone == phone))
        return report_token(contact.id, app.secret_key)


def _post(client, path, data=None):
    page = client.get(path)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    return client.post(path, data={**(data or {}), "csrf_token": token.group(1) if token else ""})


def test_a_parent_reports_breathing_trouble_now_and_it_is_a_red_alert(app, clock, make_participant):
    make_participant("P-001", age="3", phone="", caregivers=[{"phone": "+8613800138012", "lang": "en"}])
    clock.now = AT
    client = app.test_client()
    path = f"/q/report/{_token(app, '+8613800138012')}"
    page = client.get(path)
    assert page.status_code == 200 and "Report a problem now" in page.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Assignment).where(Assignment.occasion.like("report-%"))) is None  # GET: nothing
    started = _post(client, path)
    assert started.status_code == 303 and started.headers["Location"].endswith("/q/answer")
    with app.app_context():
        [report] = db.session.scalars(select(Assignment).where(Assignment.occasion.like("report-%"))).all()
        assert report.instrument_id == "toddler-check" and report.respondent == "proxy"
    first = client.get("/q/answer").get_data(as_text=True)
    assert "Temperature" in first and f'href="{path}"' in first  # the standing link is on every page
    calm = client.post("/q/answer", data={"s": "0", "fever_earlier": "no", "csrf_token": ""})
    assert calm.status_code == 303 and calm.headers["Location"] == "/q/answer?s=1"
    red = client.post("/q/answer", data={"s": "1", "breathing": "2", "drooling": "0", "bleeding": "0"})
    assert red.status_code == 303 and red.headers["Location"] == "/q/advice"
    with app.app_context():
        alerts = db.session.scalars(select(Alert)).all()
    assert [a.severity for a in alerts] == ["red"]  # assessed as the page is saved, like any answer


def test_a_forged_or_foreign_report_link_is_unknown(app, client, make_participant):
    make_participant("P-001")
    token = _token(app, "+8613800138001")
    contact_id, signature = token.split("-")
    for bad in [f"{int(contact_id) + 1}-{signature}", f"{contact_id}-{'0' * 32}", "x-y", "-", "1" * 40]:
        page = client.get(f"/q/report/{bad}")
        text = page.get_data(as_text=True)
        assert page.status_code == 404 and ("Link not found" in text or "找不到此链接" in text), bad
    assert client.get(f"/q/report/{token}").status_code == 200
