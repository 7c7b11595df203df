"""Staff pages: login, roles, enrolment form, languages and security headers."""

import re

import pytest
from conftest import PASSWORD, csrf_token
from sqlalchemy import func, select

from pro_app.db import db
from pro_app.participants.models import Participant


def test_pages_need_login(client):
    response = client.get("/staff/participants/")
    assert response.status_code == 302 and "/staff/login" in response.headers["Location"]


def test_wrong_password_is_refused(client, make_staff):
    email = make_staff("nurse")
    client.get("/lang/en")
    response = client.post("/staff/login", data={"email": email, "password": "nope"})
    assert response.status_code == 400
    assert "Email or password is not right" in response.get_data(as_text=True)
    assert client.get("/staff/participants/").status_code == 302


def test_login_lists_participants_in_both_languages(client, login, make_participant):
    make_participant("P-001")
    login("nurse", lang="en")
    page = client.get("/staff/participants/").get_data(as_text=True)
    assert '<html lang="en">' in page and "Participants" in page and "P-001" in page
    client.get("/lang/zh-CN")
    page = client.get("/staff/participants/").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page and "受试者" in page and "P-001" in page


def test_participant_page_shows_contacts_and_the_visit_calendar(client, login, make_participant):
    make_participant("P-001", caregivers=[{"phone": "+8613800138012", "name": "Mother", "lang": "en"}])
    login("nurse", lang="en")
    page = client.get("/staff/participants/P-001").get_data(as_text=True)
    assert "+8613800138012" in page and "Mother" in page
    assert page.count('class="visit visit-infusion') == 23
    assert page.count('class="visit visit-marrow') == 7
    # Day 1 in the study zone, named; the year is said only when it is not this one.
    assert re.search(r"Mon, Mar 2(, 2026)? 08:30 China Standard Time", page)
    assert "Coombs" in page
    client.get("/lang/zh-CN")
    page = client.get("/staff/participants/P-001").get_data(as_text=True)
    assert "输注" in page and "骨髓穿刺" in page and "2026年3月" in page


def test_unknown_participant_is_a_friendly_404(client, login):
    login("nurse")
    response = client.get("/staff/participants/NOPE")
    assert response.status_code == 404 and "Page not found" in response.get_data(as_text=True)


ENROL = {"study_id": "P-300", "start": "2026-04-01", "tz": "Europe/London", "lang": "en", "age": "",
         "phone": "+447911123456"}


def test_enrol_form_plans_the_schedule(app, client, login):
    login("nurse")
    response = client.post("/staff/participants/new", data=ENROL)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/staff/participants/P-300")
    with app.app_context():
        p = db.session.scalar(select(Participant).where(Participant.study_id == "P-300"))
        assert len(p.visits) == 30 and p.contacts[0].timezone == "Europe/London"


@pytest.mark.parametrize(("field", "value", "message"), [
    ("phone", "+44 12", "is not a valid phone number"),
    ("tz", "Europe/Londn", "is not a known time zone"),
    ("start", "01/04/2026", "is not a date"),
])
def test_enrol_form_shows_errors_next_to_fields_and_keeps_input(app, client, login, field, value, message):
    login("nurse")
    data = {**ENROL, field: value, "caregivers-0-name": "Father", "caregivers-0-phone": "+447911123457"}
    response = client.post("/staff/participants/new", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    error = re.search(rf'<p class="error" id="{field}-error">([^<]+)</p>', page)
    assert error and message in error.group(1)
    assert f'value="{value}"' in page and 'value="Father"' in page and 'value="P-300"' in page
    assert 'aria-invalid="true"' in page and "error-summary" in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Participant)) == 0


def test_enrol_form_refuses_a_duplicate_study_id(client, login, make_participant):
    make_participant("P-300")
    login("nurse")
    response = client.post("/staff/participants/new", data=ENROL)
    assert response.status_code == 400
    assert re.search(r'id="study_id-error">P-300 is already enrolled', response.get_data(as_text=True))


def test_monitor_reads_but_cannot_change(client, login, make_participant):
    make_participant("P-001")
    login("monitor")
    assert client.get("/staff/participants/P-001").status_code == 200
    assert client.get("/staff/participants/new").status_code == 403
    assert client.post("/staff/participants/new", data=ENROL).status_code == 403


def test_every_changing_route_is_closed_to_monitors(app, client, login, make_participant):
    make_participant("P-001")
    login("monitor")
    changing = [r for r in app.url_map.iter_rules()
                if "POST" in r.methods and r.rule.startswith("/staff")
                # One's own account and sign-in: every role may change its password and second factor.
                and r.endpoint not in ("staff.login", "staff.logout", "staff.password", "staff.second_factor",
                                       "staff.enrol", "staff.accept_invitation")]
    assert len(changing) >= 4
    for rule in changing:
        url = re.sub(r"<(?:int|dbid):\w+>", "1", rule.rule.replace("<study_id>", "P-001"))
        assert client.post(url, data={"reason": "x"}).status_code == 403, rule.rule


def test_security_headers(client):
    response = client.get("/staff/login")
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in response.headers
    secure = client.get("/staff/login", base_url="https://pro.example.org")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")


def test_language_switch_refuses_offsite_redirects(client):
    for target in ("https://evil.example", "//evil.example", "/\\evil.example"):
        response = client.get("/lang/en", query_string={"next": target})
        assert response.headers["Location"] == "/"


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
def test_forms_need_a_csrf_token(client, make_staff):
    email = make_staff("nurse")
    client.get("/lang/en")
    response = client.post("/staff/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 400 and "form had expired" in response.get_data(as_text=True)
    token = csrf_token(client.get("/staff/login").get_data(as_text=True))
    response = client.post("/staff/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 303
    for url in ("/staff/participants/new",):
        assert 'name="csrf_token"' in client.get(url).get_data(as_text=True)


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True}])
def test_login_is_rate_limited(client, make_staff):
    email = make_staff("nurse")
    client.get("/lang/en")
    pages = [client.post("/staff/login", data={"email": email, "password": "wrong"}) for _ in range(22)]
    codes = [page.status_code for page in pages]
    # Ten wrong passwords lock the account (the page says until when); the address's twenty a minute stop the rest.
    assert codes[:20] == [400] * 20 and codes[20:] == [429, 429]
    assert "locked until" in pages[10].get_data(as_text=True)
    assert "Too many attempts" in client.post("/staff/login", data={"email": email}).get_data(as_text=True)


def test_session_cookie_flags(app, client, make_staff):
    email = make_staff("nurse")
    response = client.post("/staff/login", data={"email": email, "password": PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_https_deployments_get_secure_cookies(tmp_path):
    from pro_app import create_app

    app = create_app({"PUBLIC_URL": "https://pro.example.org", "SECRET_KEY": "x", "DATABASE_URL": "sqlite://",
                      "SMS_BACKEND": "twilio"}, instance_path=str(tmp_path))
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_SECURE"]


def test_withdrawing_a_participant_is_audited_and_needs_a_reason(app, client, login, make_participant):
    from pro_app.audit.models import AuditEvent
    from pro_app.participants.models import ParticipantStatus

    make_participant("P-001")
    login("nurse")
    response = client.post("/staff/participants/P-001/status", data={"status": "withdrawn", "reason": ""})
    assert response.status_code == 400 and "Give a reason" in response.get_data(as_text=True)
    response = client.post("/staff/participants/P-001/status",
                           data={"status": "withdrawn", "reason": "Consent withdrawn by the family"})
    assert response.status_code == 303
    with app.app_context():
        p = db.session.scalar(select(Participant).where(Participant.study_id == "P-001"))
        assert p.status == ParticipantStatus.WITHDRAWN
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "participant.status"))
        assert event.before == {"status": "active"} and event.after == {"status": "withdrawn"}
        assert event.reason == "Consent withdrawn by the family"
