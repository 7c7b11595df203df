"""Staff sign-in: the password rule, two-factor codes, recovery codes, invitations and account locks."""

import re
from datetime import timedelta

import pyotp
import pytest
from conftest import NOW, PASSWORD
from sqlalchemy import select

from pro_app.audit.models import AuditEvent
from pro_app.audit.operations import Actor
from pro_app.db import db
from pro_app.staff.auth import lock_minutes
from pro_app.staff.models import StaffUser
from pro_app.staff.passwords import password_problem


@pytest.fixture
def app_config():
    return {"REQUIRE_2FA": True}


def _user(app, email):
    with app.app_context():
        user = db.session.scalar(select(StaffUser).where(StaffUser.email == email))
        db.session.expunge(user)
        return user


def _enrol(client, app, email, clock):
    """Sign in with the password, enrol the authenticator; return (secret, recovery codes)."""
    response = client.post("/staff/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 303 and "/staff/two-factor" in response.location
    page = client.get("/staff/two-factor").get_data(as_text=True)
    assert "<svg" in page
    secret = _user(app, email).totp_secret
    assert secret in page
    done = client.post("/staff/two-factor", data={"code": pyotp.TOTP(secret).at(clock.now)})
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([0-9a-f-]+)</code></li>", done.get_data(as_text=True))
    assert len(codes) == 10
    return secret, codes


def test_2fa_is_required_and_codes_work_once(app, client, make_staff, clock):
    email = make_staff("monitor")
    assert client.get("/staff/alerts/").status_code in (302, 303)
    secret, codes = _enrol(client, app, email, clock)
    assert client.get("/staff/alerts/").status_code == 200  # enrolment signed this browser in
    client.post("/staff/logout")

    clock.now = NOW + timedelta(minutes=5)
    client.post("/staff/login", data={"email": email, "password": PASSWORD})
    assert client.get("/staff/alerts/").status_code in (302, 303), "a password alone does not sign in"
    assert client.post("/staff/login/code", data={"code": "000000"}).status_code == 400
    code = pyotp.TOTP(secret).at(clock.now)
    assert client.post("/staff/login/code", data={"code": code}).status_code == 303
    assert client.get("/staff/alerts/").status_code == 200
    client.post("/staff/logout")

    # The same code a second time (replayed within its 30 s) is refused.
    client.post("/staff/login", data={"email": email, "password": PASSWORD})
    assert client.post("/staff/login/code", data={"code": code}).status_code == 400

    assert client.post("/staff/login/code", data={"code": codes[0].upper()}).status_code == 303
    client.post("/staff/logout")
    client.post("/staff/login", data={"email": email, "password": PASSWORD})
    assert client.post("/staff/login/code", data={"code": codes[0]}).status_code == 400
    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.action)).all()
        used = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "staff.recovery_code_used"))
    assert "staff.two_factor_enrolled" in actions and used.after == {"left": 9}


def test_code_page_without_a_right_password_goes_to_login(client):
    assert client.post("/staff/login/code", data={"code": "123456"}).status_code == 303
    assert client.get("/staff/two-factor").status_code == 303


def test_ten_wrong_passwords_lock_for_a_growing_time(app, client, make_staff, clock):
    email = make_staff("nurse")
    client.get("/lang/en")
    for _ in range(9):
        page = client.post("/staff/login", data={"email": email, "password": "wrong password!"})
        assert "locked" not in page.get_data(as_text=True)
    page = client.post("/staff/login", data={"email": email, "password": "wrong password!"})
    # 04:00 UTC + 15 min is 12:15 on the study's clock.
    assert page.status_code == 400
    assert "locked until 2026-03-02 12:15 (Asia/Shanghai)" in page.get_data(as_text=True)
    right = client.post("/staff/login", data={"email": email, "password": PASSWORD})
    assert right.status_code == 400 and "locked until" in right.get_data(as_text=True)

    clock.now = NOW + timedelta(minutes=16)
    for _ in range(10):
        page = client.post("/staff/login", data={"email": email, "password": "wrong password!"})
    assert "locked until 2026-03-02 12:46 (Asia/Shanghai)" in page.get_data(as_text=True)  # 30 minutes now
    with app.app_context():
        locks = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "staff.locked")
                                   .order_by(AuditEvent.id)).all()
        assert [e.after["minutes"] for e in locks] == [15, 30]
    clock.now = NOW + timedelta(minutes=47)
    assert client.post("/staff/login", data={"email": email, "password": PASSWORD}).status_code == 303


def test_lock_time_grows_to_a_day_at_most():
    assert [lock_minutes(n) for n in range(4)] == [15, 30, 60, 120]
    assert lock_minutes(50) == 24 * 60


@pytest.mark.parametrize("password,ok", [
    ("a" * 12, False), ("short", False), ("Password2024!!", False), ("qwertyuiop123", False),
    ("jane.doe@hospital.cn", False), ("my jane.doe passphrase", False), ("Green lanterns at dusk", True),
])
def test_password_rule(english, password, ok):
    assert (password_problem(password, "jane.doe@hospital.cn") is None) is ok


def test_invitation_is_single_use_and_refuses_a_common_password(app, client, clock):
    from pro_app.staff.admin import invite_staff
    from pro_app.staff.signin_views import invitation_token

    with app.test_request_context():
        user = invite_staff(db.session, "new.nurse@example.org", "nurse", actor=Actor(label="test"), now=NOW)
        db.session.commit()
        url = f"/staff/invitation/{invitation_token(user)}"
    client.get("/lang/en")
    assert client.get(url).status_code == 200
    refused = client.post(url, data={"new": "password1234", "repeat": "password1234"})
    assert refused.status_code == 400 and "too common" in refused.get_data(as_text=True)
    assert client.post(url, data={"new": PASSWORD, "repeat": PASSWORD}).status_code == 303
    assert client.get(url).status_code == 404
    assert client.get("/staff/invitation/not-a-token").status_code == 404


def test_two_factor_is_required_by_default(monkeypatch, tmp_path):
    from pro_app import create_app

    monkeypatch.delenv("PRO_REQUIRE_2FA", raising=False)
    app = create_app({"SECRET_KEY": "x", "DATABASE_URL": "sqlite://"}, instance_path=str(tmp_path))
    assert app.config["REQUIRE_2FA"] is True
    monkeypatch.setenv("PRO_REQUIRE_2FA", "off")
    app = create_app({"SECRET_KEY": "x", "DATABASE_URL": "sqlite://"}, instance_path=str(tmp_path))
    assert app.config["REQUIRE_2FA"] is False
