"""Forms over https as a real browser sends them: a CSRF token, Origin instead of Referer."""

from datetime import timedelta

import pytest
from conftest import NOW, PASSWORD, csrf_token
from sqlalchemy import func, select

from pro_app.db import db
from pro_app.questionnaires import operations as ops
from pro_app.questionnaires.models import Assignment, ResponseDraft

SITE = "https://pro.example-hospital.cn"
ELSEWHERE = "https://evil.example"


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True, "PUBLIC_URL": SITE, "SMS_BACKEND": "twilio"}


class Browser:
    """A test client that talks https to the site, and sends only the headers it is given."""

    def __init__(self, app):
        self.client = app.test_client()
        self.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"

    def get(self, path, **kwargs):
        return self.client.get(path, base_url=SITE, **kwargs)

    def post(self, path, data, headers):
        return self.client.post(path, base_url=SITE, data=data, headers=headers)

    def token(self, path):
        response = self.get(path)
        assert response.status_code == 200
        return csrf_token(response.get_data(as_text=True))


def login_form(browser, email):
    return {"email": email, "password": PASSWORD, "csrf_token": browser.token("/staff/login")}


def refused(response):
    return response.status_code == 400 and "sent from elsewhere" in response.get_data(as_text=True)


@pytest.mark.parametrize("headers", [
    {"Origin": SITE},                                      # what chromium sends: Origin, no Referer
    {"Origin": SITE + ":443"},                             # the default port written out
    {"Origin": "null"},                                    # privacy settings, some in-app browsers
    {},                                                    # neither header
    {"Referer": SITE + "/staff/login"},                    # an older browser: Referer only
    {"Origin": "null", "Referer": SITE + "/staff/login"},
])
def test_a_same_site_login_over_https_passes(app, make_staff, headers):
    email = make_staff("nurse")
    browser = Browser(app)
    response = browser.post("/staff/login", login_form(browser, email), headers)
    assert response.status_code == 303, response.get_data(as_text=True)
    assert "Secure" in response.headers["Set-Cookie"]
    assert browser.get("/staff/participants/").status_code == 200


@pytest.mark.parametrize("headers", [
    {"Origin": ELSEWHERE},
    {"Origin": "http://pro.example-hospital.cn"},          # same host, not https: another origin
    {"Origin": SITE + ":8443"},
    {"Origin": ELSEWHERE, "Referer": SITE + "/staff/login"},
    {"Origin": "null", "Referer": ELSEWHERE + "/page"},
    {"Referer": ELSEWHERE + "/page"},
    {"Origin": "not a url"},
])
def test_a_cross_site_login_is_refused_with_a_clear_page(app, make_staff, headers):
    email = make_staff("nurse")
    browser = Browser(app)
    response = browser.post("/staff/login", login_form(browser, email), headers)
    assert refused(response), response.status_code
    assert browser.get("/staff/participants/").status_code == 302  # not logged in


def test_a_valid_origin_does_not_replace_the_token(app, make_staff):
    email = make_staff("nurse")
    response = Browser(app).post("/staff/login", {"email": email, "password": PASSWORD}, {"Origin": SITE})
    assert refused(response)


def test_a_logged_in_form_checks_the_origin_too(app, make_staff):
    email = make_staff("nurse")
    browser = Browser(app)
    browser.get("/lang/en")
    assert browser.post("/staff/login", login_form(browser, email), {"Origin": SITE}).status_code == 303
    token = browser.token("/staff/participants/")
    assert refused(browser.post("/staff/logout", {"csrf_token": token}, {"Origin": ELSEWHERE}))
    assert browser.get("/staff/participants/").status_code == 200  # still logged in
    assert browser.post("/staff/logout", {"csrf_token": token}, {"Origin": SITE}).status_code == 303
    assert browser.get("/staff/participants/").status_code == 302


@pytest.fixture
def open_link(app, make_participant, clock):
    """A questionnaire link that can be answered now, as a family's phone got it."""
    make_participant("P-001", start=NOW.date() + timedelta(days=7), lang="en")
    with app.app_context():
        assignment = db.session.scalars(select(Assignment).where(Assignment.opens_at <= NOW,
                                                                 Assignment.closes_at > NOW)).first()
        assert assignment is not None
        token = ops.new_link(db.session, assignment.id, NOW)
        db.session.commit()
    return f"/q/{token}"


def drafts(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(ResponseDraft))


def test_start_over_https_works_and_never_names_the_link_to_another_site(app, open_link):
    browser = Browser(app)
    page = browser.get(open_link)
    assert page.headers["Referrer-Policy"] == "same-origin"  # the token never leaves the site
    token = csrf_token(page.get_data(as_text=True))
    response = browser.post(open_link, {"csrf_token": token}, {"Origin": SITE})
    assert response.status_code == 303 and response.headers["Location"].endswith("/q/answer")
    assert drafts(app) == 1
    assert browser.get("/q/answer").status_code == 200


def test_start_from_another_site_is_refused_and_changes_nothing(app, open_link):
    browser = Browser(app)
    token = browser.token(open_link)
    response = browser.post(open_link, {"csrf_token": token}, {"Origin": ELSEWHERE})
    assert refused(response)
    assert drafts(app) == 0


@pytest.mark.parametrize("url, origin", [
    ("https://Pro.Example-Hospital.cn/staff/login?x=1", "https://pro.example-hospital.cn"),
    ("https://pro.example-hospital.cn:443", "https://pro.example-hospital.cn"),
    ("http://127.0.0.1:80/", "http://127.0.0.1"),
    ("http://127.0.0.1:5000/q/abc", "http://127.0.0.1:5000"),
    ("https://[::1]:8443/x", "https://[::1]:8443"),
    ("null", None), ("", None), ("/staff/login", None), ("https://host:99999/", None), ("https://", None),
])
def test_origin_of(url, origin):
    from pro_app.security import origin_of

    assert origin_of(url) == origin


def test_is_same_origin_prefers_origin_then_referer():
    from pro_app.security import is_same_origin

    own = {SITE}
    assert is_same_origin(SITE, None, own) and is_same_origin(SITE, ELSEWHERE, own)  # Origin decides
    assert not is_same_origin(ELSEWHERE, SITE + "/x", own)
    assert is_same_origin("null", SITE + "/x", own) and not is_same_origin("null", ELSEWHERE + "/x", own)
    assert is_same_origin(None, None, own) and is_same_origin("null", None, own)  # the token alone decides
