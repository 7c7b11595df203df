"""Server-side staff sessions: logout, password change and deactivation end them; idle and absolute timeouts."""

from datetime import timedelta

import pytest
from conftest import NOW, PASSWORD
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import select

from pro_app.db import db
from pro_app.staff import sessions
from pro_app.staff.models import StaffSession, StaffUser

PAGE = "/staff/participants/"


def cookie_of(client):
    return client.get_cookie("session").value


def session_data(app, client):
    return SecureCookieSessionInterface().get_signing_serializer(app).loads(cookie_of(client))


# Tests with more than one browser use plain test clients: pytest-flask's `client` keeps its last
# request's app context pushed, and other clients' requests would then share its `g`.


def browser_with(app, cookie):
    """Another browser holding a copy of a session cookie."""
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other


def goes_to_login(response):
    return response.status_code == 302 and "/staff/login" in response.headers["Location"]


def rows(app):
    with app.app_context():
        return db.session.scalars(select(StaffSession).order_by(StaffSession.id)).all()


def log_in(app, email, password=PASSWORD):
    browser = app.test_client()
    response = browser.post("/staff/login", data={"email": email, "password": password})
    assert response.status_code == 303, response.status_code
    return browser


def test_login_opens_a_session_whose_key_is_stored_only_hashed(app, client, login, clock):
    login("nurse")
    key = session_data(app, client)[sessions.SESSION_KEY]
    [row] = rows(app)
    assert len(key) >= 43 and row.key_hash == sessions.hash_key(key) and key not in row.key_hash
    assert row.created_at == row.last_seen_at == NOW and row.expires_at == NOW + timedelta(hours=12)
    assert row.revoked_at is None
    assert client.get(PAGE).status_code == 200


def test_a_cookie_replayed_after_logout_goes_to_the_login_page(app, make_staff, clock):
    client = log_in(app, make_staff("nurse"))
    copied = cookie_of(client)
    assert browser_with(app, copied).get(PAGE).status_code == 200
    assert client.post("/staff/logout").status_code == 303
    assert goes_to_login(client.get(PAGE))
    assert goes_to_login(browser_with(app, copied).get(PAGE))
    [row] = rows(app)
    assert row.revoked_at == NOW


def test_each_login_gets_a_new_session_and_a_planted_one_is_dropped(app, make_staff, clock):
    email = make_staff("nurse")
    browser = app.test_client()
    with browser.session_transaction() as planted:
        planted[sessions.SESSION_KEY] = "x" * 43
        planted["_user_id"] = "1"
    assert goes_to_login(browser.get(PAGE))
    browser.post("/staff/login", data={"email": email, "password": PASSWORD})
    first = session_data(app, browser)[sessions.SESSION_KEY]
    second = session_data(app, log_in(app, email))[sessions.SESSION_KEY]
    assert len({first, second, "x" * 43}) == 3
    assert browser.get(PAGE).status_code == 200  # two logins, two sessions, both good
    assert len(rows(app)) == 2


def test_idle_for_31_minutes_means_logging_in_again(app, client, login, clock):
    login("nurse")
    for minutes in (29, 58, 87):  # used every 29 minutes: never idle for 30
        clock.now = NOW + timedelta(minutes=minutes)
        assert client.get(PAGE).status_code == 200, minutes
    assert rows(app)[0].last_seen_at == NOW + timedelta(minutes=87)
    clock.now = NOW + timedelta(minutes=87 + 31)
    assert goes_to_login(client.get(PAGE))


@pytest.mark.parametrize("app_config", [{"STAFF_IDLE_MINUTES": 5}])
def test_the_idle_timeout_is_a_setting(app, client, login, clock):
    login("nurse")
    clock.now = NOW + timedelta(minutes=6)
    assert goes_to_login(client.get(PAGE))


def test_a_session_ends_after_12_hours_however_busy(app, client, login, clock):
    login("nurse")
    for minutes in range(20, 12 * 60, 20):
        clock.now = NOW + timedelta(minutes=minutes)
        assert client.get(PAGE).status_code == 200, minutes
    clock.now = NOW + timedelta(hours=12)
    assert goes_to_login(client.get(PAGE))


def test_the_seen_time_is_written_at_most_once_a_minute(app, client, login, clock):
    login("nurse")
    clock.now = NOW + timedelta(seconds=59)
    assert client.get(PAGE).status_code == 200
    assert rows(app)[0].last_seen_at == NOW
    clock.now = NOW + timedelta(seconds=61)
    assert client.get(PAGE).status_code == 200
    assert rows(app)[0].last_seen_at == NOW + timedelta(seconds=61)


def test_deactivation_ends_every_session_of_the_account_only(app, runner, make_staff, clock):
    nurse, other = make_staff("nurse"), make_staff("investigator")
    phone, desk, colleague = log_in(app, nurse), log_in(app, nurse), log_in(app, other)
    result = runner.invoke(args=["staff", "deactivate", nurse])
    assert result.exit_code == 0 and "2 session(s) ended" in result.output
    assert goes_to_login(phone.get(PAGE)) and goes_to_login(desk.get(PAGE))
    assert colleague.get(PAGE).status_code == 200
    assert app.test_client().post("/staff/login", data={"email": nurse, "password": PASSWORD}).status_code == 400
    with app.app_context():
        user = db.session.scalar(select(StaffUser).where(StaffUser.email == nurse))
        assert user.active is False and user.on_call is False


def test_an_inactive_account_is_out_even_with_a_live_session_row(app, make_staff, clock):
    email = make_staff("nurse")
    browser = log_in(app, email)
    with app.app_context():
        db.session.scalar(select(StaffUser).where(StaffUser.email == email)).active = False
        db.session.commit()
    assert goes_to_login(browser.get(PAGE))


def test_a_password_change_ends_every_session(app, runner, make_staff, clock):
    email = make_staff("nurse")
    old = log_in(app, email)
    new_password = "a brand new passphrase"
    result = runner.invoke(args=["staff", "password", email], input=f"{new_password}\n{new_password}\n")
    assert result.exit_code == 0 and "1 session(s) ended" in result.output, result.output
    assert goes_to_login(old.get(PAGE))
    assert app.test_client().post("/staff/login", data={"email": email, "password": PASSWORD}).status_code == 400
    assert log_in(app, email, new_password).get(PAGE).status_code == 200
    short = runner.invoke(args=["staff", "password", email], input="short\nshort\n")
    assert short.exit_code == 1 and "at least 12 characters" in short.output
    missing = runner.invoke(args=["staff", "password", "nobody@example.org"], input=f"{new_password}\n" * 2)
    assert missing.exit_code == 1 and "no staff account" in missing.output


def test_a_session_of_another_account_does_not_log_in_as_this_one(app, make_staff, clock):
    first, second = make_staff("nurse"), make_staff("admin")
    browser = log_in(app, first)
    other_key = session_data(app, log_in(app, second))[sessions.SESSION_KEY]
    with browser.session_transaction() as data:
        data[sessions.SESSION_KEY] = other_key  # the admin's session key, with the nurse's user id
    assert goes_to_login(browser.get(PAGE))


def test_session_state_is_a_pure_decision():
    row = StaffSession(created_at=NOW, last_seen_at=NOW, expires_at=NOW + timedelta(hours=12), revoked_at=None)
    idle = timedelta(minutes=30)
    assert sessions.state(row, NOW + timedelta(seconds=30), idle) == "live"
    assert sessions.state(row, NOW + timedelta(minutes=5), idle) == "stale"
    assert sessions.state(row, NOW + timedelta(minutes=31), idle) == "idle"
    assert sessions.state(row, NOW + timedelta(hours=12), idle) == "expired"
    row.revoked_at = NOW
    assert sessions.state(row, NOW, idle) == "revoked"


def test_changing_ones_password_ends_the_other_sessions_and_keeps_this_one(app, make_staff, clock):
    email = make_staff("nurse")
    client = log_in(app, email)
    client.get("/lang/en")
    old_cookie = cookie_of(client)
    elsewhere = log_in(app, email)
    assert "Change password" in client.get(PAGE).get_data(as_text=True)
    assert client.get("/staff/password").status_code == 200
    new = "another long passphrase"
    for data, message in [
        ({"current": "wrong password!", "new": new, "repeat": new}, "The current password is not right."),
        ({"current": PASSWORD, "new": new, "repeat": new + "x"}, "The two new passwords differ."),
        ({"current": PASSWORD, "new": "short", "repeat": "short"}, "Use at least 12 characters."),
    ]:
        response = client.post("/staff/password", data=data)
        assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert elsewhere.get(PAGE).status_code == 200  # nothing changed yet
    response = client.post("/staff/password", data={"current": PASSWORD, "new": new, "repeat": new})
    assert response.status_code == 303
    assert client.get(PAGE).status_code == 200  # this browser carries on, in a new session
    assert cookie_of(client) != old_cookie
    assert goes_to_login(elsewhere.get(PAGE))
    assert goes_to_login(browser_with(app, old_cookie).get(PAGE))
    assert log_in(app, email, new).get(PAGE).status_code == 200
    with app.app_context():
        from pro_app.audit.models import AuditEvent

        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "staff.password_changed"))
        assert event.after == {"sessions_ended": 2} and "passphrase" not in str(event.after)


def test_the_password_page_needs_a_login(client):
    assert goes_to_login(client.get("/staff/password"))
    assert goes_to_login(client.post("/staff/password", data={"current": "x", "new": "y", "repeat": "y"}))


def test_a_busy_database_skips_the_seen_time_but_not_the_page(app, make_staff, clock, monkeypatch):
    from sqlalchemy.exc import OperationalError

    browser = log_in(app, make_staff("nurse"))

    def busy(*args):
        raise OperationalError("UPDATE staff_sessions", {}, Exception("database is locked"))

    monkeypatch.setattr(sessions, "touch", busy)
    clock.now = NOW + timedelta(minutes=5)
    assert browser.get(PAGE).status_code == 200
    assert rows(app)[0].last_seen_at == NOW
