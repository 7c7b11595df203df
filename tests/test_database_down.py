"""A database that is down or hangs: /healthz answers 503 at once, every page a calm 503 page."""

import socket
import threading
import time

import pytest
from conftest import PG_URL
from flask.sessions import SecureCookieSessionInterface
from flask_login.utils import _create_identifier
from sqlalchemy import event
from sqlalchemy import text as sql

from pro_app import create_app
from pro_app.db import db
from pro_app.protocol import current_hotline
from pro_app.staff import sessions


def refused_port():
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Silent:
    """A TCP server that accepts connections and never says a word (a hung database host)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.held = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self):
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def silent():
    server = Silent()
    yield server
    server.close()


def app_for(tmp_path, port):
    return create_app({"TESTING": True, "SECRET_KEY": "test-secret", "RATELIMIT_ENABLED": False,
                       "WTF_CSRF_ENABLED": False,
                       "DATABASE_URL": f"postgresql+psycopg://pro@127.0.0.1:{port}/pro",
                       "PUBLIC_URL": "http://localhost"}, instance_path=str(tmp_path))


@pytest.fixture(params=["down", "hangs"])
def unreachable(request, tmp_path):
    """An app whose database is down (connection refused) or hangs (accepts, never answers)."""
    port = refused_port() if request.param == "down" else request.getfixturevalue("silent").port
    app = app_for(tmp_path, port)
    yield app
    app.extensions["pro_db"]["engine"].dispose()


DOWN_ONLY = pytest.mark.parametrize("unreachable", ["down"], indirect=True)


def timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def text(response):
    return response.get_data(as_text=True)


def test_healthz_answers_503_within_5_seconds(unreachable):
    response, seconds = timed(lambda: unreachable.test_client().get("/healthz"))
    assert response.status_code == 503 and response.get_json() == {"status": "error", "db": "unreachable"}
    # Not a benchmark: the acceptance bound for a load balancer's check (connect timeout 3 s).
    assert seconds < 5, seconds


def test_a_patient_page_is_a_calm_503_in_chinese_with_the_hotline(unreachable):
    response, seconds = timed(lambda: unreachable.test_client().get("/q/SomeLinkTokenFromAText12345678"))
    assert response.status_code == 503 and seconds < 5
    assert response.headers["Retry-After"] == "30" and response.headers["Cache-Control"] == "no-store"
    page = text(response)
    assert '<html lang="zh-CN">' in page and "服务暂不可用" in page and "请几分钟后重试" in page
    with unreachable.app_context():
        line = current_hotline()
    assert f'href="tel:{line.tel}"' in page and line.display in page
    assert "/staff/" not in page  # no staff login on a family's page


@DOWN_ONLY  # a hung database ends in the same error, only 3 s later
def test_a_respondent_who_chose_english_gets_english(unreachable):
    browser = unreachable.test_client()
    browser.get("/lang/en")
    page = text(browser.post("/q/SomeLinkTokenFromAText12345678", data={}))
    assert '<html lang="en">' in page and "Service unavailable" in page and "tel:" in page


@DOWN_ONLY
def test_a_calendar_feed_is_a_503(unreachable):
    assert unreachable.test_client().get("/cal/SomeCalendarToken1234567890.ics").status_code == 503


@DOWN_ONLY
def test_a_staff_page_is_a_503_in_the_staff_members_language(unreachable):
    browser = unreachable.test_client()
    with unreachable.test_request_context(environ_base={"REMOTE_ADDR": "127.0.0.1"},
                                          headers={"User-Agent": browser.environ_base["HTTP_USER_AGENT"]}):
        identifier = _create_identifier()  # what flask-login's strong session protection expects
    cookie = SecureCookieSessionInterface().get_signing_serializer(unreachable).dumps(
        {"_user_id": "1", "_id": identifier, "_fresh": True, sessions.SESSION_KEY: "k" * 43, "staff_lang": "en"})
    browser.set_cookie("session", cookie)
    response = browser.get("/staff/participants/", headers={"Accept-Language": "zh-CN"})
    page = text(response)
    assert response.status_code == 503
    assert '<html lang="en">' in page and "Service unavailable" in page and "tel:" not in page


@DOWN_ONLY
def test_a_login_attempt_is_a_503_not_a_500(unreachable):
    response = unreachable.test_client().post("/staff/login", data={"email": "nurse@example.org", "password": "x"})
    assert response.status_code == 503 and "服务暂不可用" in text(response)


def test_postgres_engines_get_connect_and_statement_timeouts(tmp_path):
    app = create_app({"SECRET_KEY": "x", "DATABASE_URL": "postgresql+psycopg://pro@127.0.0.1:1/pro",
                      "DATABASE_STATEMENT_TIMEOUT_MS": "2500"}, instance_path=str(tmp_path))
    engine = app.extensions["pro_db"]["engine"]
    seen = {}

    @event.listens_for(engine, "do_connect")
    def _capture(dialect, record, cargs, cparams):
        seen.update(cparams)
        raise ConnectionRefusedError("captured")

    with pytest.raises(Exception, match="captured"):
        engine.connect()
    assert seen["connect_timeout"] == 3 and seen["options"] == "-c statement_timeout=2500"
    assert engine.pool.timeout() == 3


@pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL: set PRO_TEST_DATABASE_URL")
def test_a_statement_past_the_timeout_is_cancelled_and_the_page_is_a_503(tmp_path):
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "DATABASE_URL": PG_URL, "DATABASE_STATEMENT_TIMEOUT_MS": 200},
                     instance_path=str(tmp_path))

    @app.get("/q/_slow")
    def _slow():
        db.session.execute(sql("SELECT pg_sleep(3)"))
        return "finished"

    try:
        response, seconds = timed(lambda: app.test_client().get("/q/_slow"))
        assert response.status_code == 503 and "服务暂不可用" in response.get_data(as_text=True)
        assert seconds < 3, seconds  # cancelled by the server, not finished
        with app.app_context():
            assert db.session.scalar(sql("SHOW statement_timeout")) == "200ms"
    finally:
        app.extensions["pro_db"]["engine"].dispose()
