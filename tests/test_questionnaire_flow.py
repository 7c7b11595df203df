"""The respondent's pages end to end: from the link in a text to one stored response.

Texts go through the real Twilio SDK to the loopback fake; each test takes its link from
the text the gateway received, as a phone would.
"""

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import mean

import pytest
import yaml
from conftest import NOW, PASSWORD
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import func, select

from pro_app.db import db
from pro_app.questionnaires import current_instruments
from pro_app.questionnaires import operations as ops
from pro_app.questionnaires.invitations import TOGETHER
from pro_app.questionnaires.models import Assignment, AssignmentState, QuestionnaireLink, Response, ResponseDraft
from pro_app.sms.models import Message

# Day 1 is Monday 2026-03-09 in Shanghai (UTC+8). Baseline and quality of life open on day -7
# at 09:00 (2026-03-02 01:00 UTC) and close on day 1 at 08:00 (2026-03-09 00:00 UTC); NOW is
# 12:00 local on day -7, inside those windows and after quiet hours (21:00-08:00).
START = NOW.date() + timedelta(days=7)
BASELINE_CLOSES = datetime(2026, 3, 9, 0, 0, tzinfo=UTC)
INFUSION_EVENING = datetime(2026, 3, 9, 11, 0, tzinfo=UTC)  # day 1, 19:00 in Shanghai
ADULT, TEEN, PARENT, OTHER = "+8613800138001", "+8613800138002", "+8613800138003", "+8613800138004"
LINK = re.compile(r"http://localhost(/q/[A-Za-z0-9_-]+)")

# Quality of life, answered as below; the expected scores are worked out by hand from the
# README's definition of a linear score: (mean - low) / (high - low) * 100.
QOL = [
    {"walking": "4", "active_play": "3", "self_care": "3", "up_and_about": "2"},
    {"worried": "3", "low_mood": "4", "irritable": "2", "good_mood": "3"},
    {"school_work": "4", "concentrate": "3", "usual_days": "4", "learning": "3"},
    {"friends": "4", "enjoyment": "3", "support": "2", "get_along": "3"},
    {"overall_life": "8"},
]
QOL_SCORES = {
    "physical": round((mean([4, 3, 3, 2]) - 1) / (4 - 1) * 100, 1),   # 66.7
    "emotional": round((mean([3, 4, 2, 3]) - 0) / (4 - 0) * 100, 1),  # 75.0
    "school": round((mean([4, 3, 4, 3]) - 1) / (4 - 1) * 100, 1),     # 83.3
    "social": round((mean([4, 3, 2, 3]) - 1) / (4 - 1) * 100, 1),     # 66.7
    "global": round((8 - 0) / (10 - 0) * 100, 1),                     # 80.0
}

# The README: "An instrument's version is the SHA-256 of its content."
QOL_VERSION = hashlib.sha256(json.dumps(
    yaml.safe_load((Path(__file__).resolve().parents[1] / "questionnaires" / "quality-of-life.yaml").read_text()),
    sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()


@pytest.fixture
def app_config(twilio_config):
    return twilio_config




@pytest.fixture
def nurse(app, make_staff):
    """A logged-in nurse's browser (not pytest-flask's `client`, which keeps each request's
    context pushed until the next one, so other clients' requests would share its session)."""
    email = make_staff("nurse")
    browser = app.test_client()
    browser.get("/lang/en")
    response = browser.post("/staff/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 303
    return browser


def phone(app):
    """A new browser on a phone: its own cookie jar, English pages unless told otherwise."""
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def session_of(app, client):
    """What the browser's session cookie holds, read as the app reads it ({} when none or bad)."""
    cookie = client.get_cookie("session")
    if cookie is None:
        return {}
    return SecureCookieSessionInterface().get_signing_serializer(app).loads(cookie.value)


def forged_session(data):
    """A session cookie with these contents, signed with a key that is not the app's."""
    other = Flask("forger")
    other.secret_key = "not-the-app-secret"
    return SecureCookieSessionInterface().get_signing_serializer(other).dumps(data)


def text_of(response):
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


class Listed(str):
    """The link of a text naming several questionnaires, as the way to one of them (its list's Start)."""

    def __new__(cls, path, assignment_id):
        obj = super().__new__(cls, path)
        obj.assignment_id = assignment_id
        return obj


def links(app, fake_twilio, number):
    """Return {instrument id: [link path, ...]} from the invitations the gateway got, oldest first.

    A text naming several questionnaires carries one link to their list: it is listed under each.
    """
    found = {}
    with app.app_context():
        for sent in fake_twilio.messages_to(number):
            match = LINK.search(sent["body"])
            if match is None:
                continue
            message = db.session.scalar(select(Message).where(Message.provider_sid == sent["sid"]))
            assert message is not None and message.assignment is not None, sent
            if message.template == TOGETHER:
                for assignment_id in message.params["assignments"]:
                    instrument = db.session.get(Assignment, assignment_id).instrument_id
                    found.setdefault(instrument, []).append(Listed(match.group(1), assignment_id))
                continue
            found.setdefault(message.assignment.instrument_id, []).append(match.group(1))
    return found


def link(app, fake_twilio, number, instrument):
    paths = links(app, fake_twilio, number).get(instrument)
    assert paths, f"no {instrument} invitation to {number}: {fake_twilio.messages_to(number)}"
    return paths[-1]


def assignment(app, number, instrument):
    """Return (id, state, draft answers or None, draft section or None) of a contact's assignment."""
    with app.app_context():
        a = db.session.scalar(select(Assignment).where(Assignment.instrument_id == instrument)
                              .where(Assignment.contact.has(phone=number)).order_by(Assignment.opens_at))
        draft = db.session.get(ResponseDraft, a.id)
        return a.id, a.state, (draft.answers if draft else None), (draft.section if draft else None)


def count(app, model, **where):
    with app.app_context():
        stmt = select(func.count()).select_from(model)
        for key, value in where.items():
            stmt = stmt.where(getattr(model, key) == value)
        return db.session.scalar(stmt)


def enrol_adult(make_participant, study_id="P-001", number=ADULT):
    make_participant(study_id, start=START, lang="en", phone=number)


def enrol_teen(make_participant, study_id="P-002"):
    make_participant(study_id, start=START, lang="en", age="15", phone=TEEN,
                     caregivers=[{"phone": PARENT, "name": "Mum", "lang": "en"}])


def post(client, path):
    """Post a link's form: on a list, the Start button of the questionnaire the link was taken for."""
    listed = getattr(path, "assignment_id", None)
    return client.post(path, data={"a": str(listed)} if listed else None)


def start(client, path):
    response = post(client, path)
    assert response.status_code == 303, text_of(response)
    assert response.headers["Location"] == "/q/answer"
    return response


def answer(client, index, data, expect="next"):
    response = client.post("/q/answer", data={"s": str(index), **data})
    if expect == "next":
        assert response.status_code == 303, text_of(response)
    return response


def answer_all(client, sections):
    for index, data in enumerate(sections):
        response = answer(client, index, data)
        wanted = "/q/review" if index == len(sections) - 1 else f"/q/answer?s={index + 1}"
        if response.headers["Location"] == "/q/advice":
            # A red answer: the emergency advice comes first, then the questionnaire goes on.
            advice = client.get("/q/advice")
            assert advice.status_code == 200 and 'role="alert"' in advice.get_data(as_text=True)
            wanted = "/q/review" if index == len(sections) - 1 else "/q/answer"
            response = client.get("/q/answer")
            assert response.status_code in (200, 303)
            if response.status_code == 303:
                assert response.headers["Location"] == wanted
            continue
        assert response.headers["Location"] == wanted


def submit_key(client):
    review = client.get("/q/review")
    assert review.status_code == 200, text_of(review)
    found = re.search(r'name="submit_key" value="([^"]+)"', review.get_data(as_text=True))
    assert found, text_of(review)
    return found.group(1)


# --- opening the link ----------------------------------------------------------------------

def test_link_previews_use_nothing_up_and_start_makes_a_token_free_session(app, clock, make_participant, tick,
                                                                           fake_twilio):
    enrol_adult(make_participant)
    tick(NOW)
    path = link(app, fake_twilio, ADULT, "quality-of-life")
    token = path.rsplit("/", 1)[1]
    assert len(token) >= 32

    bot = phone(app)
    bot.environ_base["HTTP_USER_AGENT"] = "Mozilla/5.0 (compatible; WeChat link preview)"
    for _ in range(5):
        page = bot.get(path)
        assert page.status_code == 200
        assert "Quality of life" in text_of(page) and 'method="post"' in text_of(page)
        _id, state, draft, _section = assignment(app, ADULT, "quality-of-life")
        assert state == AssignmentState.PENDING and draft is None
    assert count(app, ResponseDraft) == 0

    respondent = phone(app)
    started = start(respondent, path)
    assert token not in started.headers["Location"]
    cookies = [c for c in started.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies, started.headers
    assert "HttpOnly" in cookies[0] and "SameSite=Lax" in cookies[0]
    assert token not in cookies[0]
    assignment_id, state, draft, section = assignment(app, ADULT, "quality-of-life")
    assert state == AssignmentState.IN_PROGRESS and draft == {} and section == 0
    held = session_of(app, respondent)
    assert held["q_assignment"] == assignment_id and token not in str(held)
    assert "q_assignment" not in session_of(app, bot)  # the previews got no session either
    first = respondent.get("/q/answer")
    assert first.status_code == 200 and "Everyday activities" in text_of(first)
    assert "Page 1 of 5" in text_of(first)


@pytest.mark.parametrize("who", ["adult", "caregiver"])
def test_answering_every_page_stores_one_response_with_scores(app, clock, make_participant, tick, fake_twilio,
                                                              who):
    if who == "adult":
        enrol_adult(make_participant)
        number, respondent, proxy = ADULT, "self", False
    else:
        enrol_teen(make_participant)
        number, respondent, proxy = PARENT, "proxy", True
    tick(NOW)
    path = link(app, fake_twilio, number, "quality-of-life")
    client = phone(app)
    start_page = text_of(client.get(path))
    assert ("Please answer for the child in the study" in start_page) is proxy
    start(client, path)
    answer_all(client, QOL)
    key = submit_key(client)
    done = client.post("/q/submit", data={"submit_key": key})
    assert done.status_code == 303 and done.headers["Location"] == "/q/done"
    thanks = client.get("/q/done")
    assert thanks.status_code == 200 and "Thank you" in text_of(thanks)

    with app.app_context():
        [response] = db.session.scalars(select(Response)).all()
        assert response.instrument_id == "quality-of-life"
        assert response.answers == {k: int(v) for page in QOL for k, v in page.items()}
        assert response.scores == QOL_SCORES
        assert response.proxy is proxy and response.respondent == respondent
        assert response.contact_id == response.assignment.contact_id
        assert response.assignment.contact.phone == number
        assert response.version.version_hash == current_instruments()["quality-of-life"].version == QOL_VERSION
        assert response.version.definition == current_instruments()["quality-of-life"].definition
        assert response.assignment.state == AssignmentState.COMPLETED
        assert db.session.get(ResponseDraft, response.assignment_id) is None
        response_id = response.id

    # A double tap on "Send": the same key again lands on the thank-you page, nothing more is stored.
    again = client.post("/q/submit", data={"submit_key": key})
    assert again.status_code == 303 and again.headers["Location"] == "/q/done"
    assert count(app, Response) == 1

    # The link now says it has been answered, and starting it again creates nothing.
    for fresh in (phone(app), client):
        shown = fresh.get(path)
        if isinstance(path, Listed):  # the list shows it done, with no Start, beside the one still open
            assert shown.status_code == 200 and "Answered. Thank you." in text_of(shown)
            assert f'name="a" value="{path.assignment_id}"' not in text_of(shown)
        else:
            assert shown.status_code == 200 and "Already answered" in text_of(shown)
        posted = post(fresh, path)
        assert posted.status_code == 200 and "Already answered" in text_of(posted)
    assert count(app, Response) == 1 and count(app, ResponseDraft) == 0
    with app.app_context():
        assert db.session.get(Response, response_id).answers["overall_life"] == 8


def test_a_wrong_submit_key_is_refused_and_stores_nothing(app, clock, make_participant, tick, fake_twilio):
    enrol_adult(make_participant)
    tick(NOW)
    client = phone(app)
    start(client, link(app, fake_twilio, ADULT, "quality-of-life"))
    answer_all(client, QOL)
    key = submit_key(client)
    wrong = client.post("/q/submit", data={"submit_key": "0" * len(key)})
    assert wrong.status_code == 400 and "Something did not fit" in text_of(wrong)
    assert count(app, Response) == 0
    assert assignment(app, ADULT, "quality-of-life")[1] == AssignmentState.IN_PROGRESS


def test_a_missing_answer_keeps_the_page_with_errors(app, clock, make_participant, tick, fake_twilio):
    enrol_adult(make_participant)
    tick(NOW)
    client = phone(app)
    start(client, link(app, fake_twilio, ADULT, "quality-of-life"))
    response = answer(client, 0, {"walking": "4", "active_play": "9", "self_care": "3"}, expect="error")
    assert response.status_code == 400
    page = text_of(response)
    assert "Please check your answers" in page
    assert "Choose one of the answers." in page and "Please answer this question." in page
    # What was given is shown again, so nothing has to be re-entered.
    assert re.search(r'name="walking" value="4" checked', page)
    assert assignment(app, ADULT, "quality-of-life")[2:] == ({}, 0)


def test_resume_with_a_new_phone_session_keeps_earlier_pages(app, clock, make_participant, tick, fake_twilio):
    enrol_adult(make_participant)
    tick(NOW)
    path = link(app, fake_twilio, ADULT, "quality-of-life")
    first = phone(app)
    start(first, path)
    answer(first, 0, QOL[0])

    second = phone(app)  # the cookie jar is gone: WeChat closed, phone restarted
    assert "Please open your link again" in text_of(second.get("/q/answer"))
    start(second, path)
    page = second.get("/q/answer")
    assert page.status_code == 200 and "Feelings" in text_of(page) and "Page 2 of 5" in text_of(page)
    back = text_of(second.get("/q/answer?s=0"))
    for item, value in QOL[0].items():
        assert f'name="{item}" value="{value}" checked' in back
    _id, state, draft, section = assignment(app, ADULT, "quality-of-life")
    assert draft == {k: int(v) for k, v in QOL[0].items()} and section == 1
    answer_all(second, QOL)
    second.post("/q/submit", data={"submit_key": submit_key(second)})
    assert count(app, Response) == 1


# --- one respondent's session cannot reach another's answers -------------------------------

def test_sessions_are_bound_to_one_assignment(app, clock, make_participant, tick, fake_twilio):
    enrol_adult(make_participant, "P-001", ADULT)
    enrol_adult(make_participant, "P-002", OTHER)
    tick(NOW)
    path_a = link(app, fake_twilio, ADULT, "quality-of-life")
    path_b = link(app, fake_twilio, OTHER, "quality-of-life")
    a = phone(app)
    start(a, path_a)
    answer(a, 0, QOL[0])
    a_before = assignment(app, ADULT, "quality-of-life")
    assert a_before[2:] == ({k: int(v) for k, v in QOL[0].items()}, 1)

    # Tampering with the section: out of range, negative, not a number, beyond the page reached.
    for s in ("4", "99", "-1", "x", "", "2"):
        refused = a.post("/q/answer", data={"s": s, **QOL[2]})
        assert refused.status_code == 400, s
        assert "Something did not fit" in text_of(refused)
    refused = a.post("/q/answer", data=QOL[1])  # no section at all
    assert refused.status_code == 400
    assert assignment(app, ADULT, "quality-of-life") == a_before

    # Opening B's link in A's browser replaces the session: from then on it answers B only.
    start(a, path_b)
    assert "Page 1 of 5" in text_of(a.get("/q/answer"))
    answer(a, 0, {"walking": "1", "active_play": "1", "self_care": "1", "up_and_about": "1"})
    assert assignment(app, ADULT, "quality-of-life") == a_before
    b_answers = assignment(app, OTHER, "quality-of-life")
    assert b_answers[2:] == ({"walking": 1, "active_play": 1, "self_care": 1, "up_and_about": 1}, 1)
    # B's session cannot go on to A's second page either: A's answers are not there.
    page = text_of(a.get("/q/answer?s=0"))
    assert 'name="walking" value="1" checked' in page and 'name="walking" value="4" checked' not in page

    # And back: A's link again, A's answers go to A, B's draft is left alone.
    start(a, path_a)
    answer(a, 1, QOL[1])
    assert assignment(app, OTHER, "quality-of-life") == b_answers
    assert assignment(app, ADULT, "quality-of-life")[3] == 2

    # A session naming B's assignment but not signed with the app's key is no session at all,
    # and neither is A's own cookie with its signature tampered with.
    b_id = b_answers[0]
    for value in (forged_session({"q_assignment": b_id}), a.get_cookie("session").value[:-4] + "AAAA"):
        forger = phone(app)
        forger.set_cookie("session", value, domain="localhost")
        assert "Please open your link again" in text_of(forger.get("/q/answer"))
        refused = forger.post("/q/answer", data={"s": "1", **QOL[1]})
        assert "Please open your link again" in text_of(refused)
    assert assignment(app, OTHER, "quality-of-life") == b_answers


def test_without_a_session_nothing_is_stored(app, clock, make_participant, tick, fake_twilio):
    enrol_adult(make_participant)
    tick(NOW)
    client = phone(app)
    for method, path, data in [("get", "/q/answer", None), ("post", "/q/answer", {"s": "0", **QOL[0]}),
                               ("get", "/q/review", None), ("post", "/q/submit", {"submit_key": "abc"}),
                               ("get", "/q/done", None)]:
        response = getattr(client, method)(path, data=data)
        assert response.status_code == 200, path
        assert "Please open your link again" in text_of(response), path
    assert count(app, ResponseDraft) == 0 and count(app, Response) == 0
    assert assignment(app, ADULT, "quality-of-life")[1] == AssignmentState.PENDING


# --- links that cannot be used --------------------------------------------------------------

@pytest.mark.parametrize("token", ["nosuchtoken", "A" * 32, "x" * 200, "%E2%80%8B"])
def test_an_unknown_link_is_a_friendly_404(app, clock, token):
    client = phone(app)
    for response in (client.get(f"/q/{token}"), client.post(f"/q/{token}")):
        assert response.status_code == 404
        assert "Link not found" in text_of(response)
        assert "call the study team" in text_of(response)
    assert "q_assignment" not in session_of(app, client)


def test_a_resent_link_replaces_the_old_one(app, nurse, clock, make_participant, tick, fake_twilio):
    enrol_adult(make_participant)
    tick(NOW)
    old = link(app, fake_twilio, ADULT, "quality-of-life")
    assignment_id = assignment(app, ADULT, "quality-of-life")[0]
    respondent = phone(app)
    start(respondent, old)
    answer(respondent, 0, QOL[0])

    clock.now = NOW + timedelta(hours=2)
    refused = nurse.post(f"/staff/assignments/{assignment_id}/resend", data={"reason": "  "})
    assert "nothing was sent" in text_of(nurse.get(refused.headers["Location"]))
    tick(clock.now)
    assert links(app, fake_twilio, ADULT)["quality-of-life"] == [old]  # no reason, no second link
    resent = nurse.post(f"/staff/assignments/{assignment_id}/resend", data={"reason": "the family lost the text"})
    assert resent.status_code == 303
    assert "the old one no longer works" in text_of(nurse.get(resent.headers["Location"]))
    assert "sent 1" in tick(clock.now)
    paths = links(app, fake_twilio, ADULT)["quality-of-life"]
    assert len(paths) == 2 and paths[0] == old
    new = paths[1]

    if isinstance(old, Listed):
        # The list stays open for the other questionnaire it named; this one is closed on it.
        shown = phone(app).get(old)
        assert shown.status_code == 200 and "sent you a newer link for this one" in text_of(shown)
        assert f'name="a" value="{old.assignment_id}"' not in text_of(shown)
    for response in ([] if isinstance(old, Listed) else [phone(app).get(old)]) + [post(phone(app), old)]:
        assert response.status_code == 410
        assert "This link has been replaced" in text_of(response)
    # A session opened from the old link ends with it, and nothing it sends is kept.
    stale = respondent.post("/q/answer", data={"s": "1", **QOL[1]})
    assert stale.status_code == 410 and "This link has been replaced" in text_of(stale)
    assert respondent.get("/q/answer").status_code == 410
    fresh = phone(app)
    assert fresh.get(new).status_code == 200
    start(fresh, new)
    resumed = fresh.get("/q/answer")
    assert "Page 2 of 5" in text_of(resumed)  # the draft survives the new link
    with app.app_context():
        links_now = db.session.scalars(select(QuestionnaireLink).where(
            QuestionnaireLink.assignment_id == assignment_id).order_by(QuestionnaireLink.id)).all()
        assert [lk.superseded_at is not None for lk in links_now] == [True, False]


def test_a_closed_window_takes_no_answers(app, clock, make_participant, tick, fake_twilio):
    enrol_adult(make_participant)
    tick(NOW)
    path = link(app, fake_twilio, ADULT, "quality-of-life")
    client = phone(app)
    start(client, path)
    answer(client, 0, QOL[0])
    before = assignment(app, ADULT, "quality-of-life")

    assert "questionnaires expired 2" in tick(BASELINE_CLOSES)
    assert assignment(app, ADULT, "quality-of-life")[1] == AssignmentState.EXPIRED
    clock.now = BASELINE_CLOSES + timedelta(minutes=1)
    for response in (phone(app).get(path), post(phone(app), path), phone(app).post(path)):
        assert response.status_code == 410 and "This questionnaire has closed" in text_of(response)
    # The session from before the deadline is refused too, and stores nothing.
    for response in (client.post("/q/answer", data={"s": "1", **QOL[1]}), client.get("/q/answer"),
                     client.get("/q/review"), client.post("/q/submit", data={"submit_key": "x"})):
        assert response.status_code == 410 and "This questionnaire has closed" in text_of(response)
    assert assignment(app, ADULT, "quality-of-life")[2:] == before[2:]
    assert count(app, Response) == 0


def test_the_deadline_holds_before_the_tick_has_run(app, clock, make_participant, tick, fake_twilio):
    enrol_adult(make_participant)
    tick(NOW)
    path = link(app, fake_twilio, ADULT, "quality-of-life")
    client = phone(app)
    start(client, path)
    answer_all(client, QOL)
    key = submit_key(client)
    clock.now = BASELINE_CLOSES  # closes_at itself is outside the window; no tick has expired it
    late = client.post("/q/submit", data={"submit_key": key})
    assert late.status_code == 410 and "This questionnaire has closed" in text_of(late)
    assert count(app, Response) == 0


def test_a_window_not_yet_open_says_when_it_opens(app, clock, make_participant, tick, fake_twilio):
    enrol_adult(make_participant)
    tick(NOW)
    # Texts invite only once a window opens, so mint a link to next week's symptom check as a
    # resend would: the week-1 check opens on day 5 (Friday 2026-03-13) at 18:00 local.
    with app.app_context():
        week1 = db.session.scalar(select(Assignment).where(Assignment.instrument_id == "symptom-check",
                                                           Assignment.occasion == "weekly-w1"))
        token = ops.new_link(db.session, week1.id, NOW)
        db.session.commit()
    client = phone(app)
    for response in (client.get(f"/q/{token}"), client.post(f"/q/{token}")):
        assert response.status_code == 200
        page = text_of(response)
        assert "Not open yet" in page and "2026-03-13 18:00" in page
    assert count(app, ResponseDraft) == 0
    assert "q_assignment" not in session_of(app, client)


# --- headers ---------------------------------------------------------------------------------

ALLOWED_SOURCES = {"'self'", "'none'", "data:"}


def test_questionnaire_pages_are_private_and_self_contained(app, clock, make_participant, tick, fake_twilio):
    enrol_adult(make_participant)
    tick(NOW)
    path = link(app, fake_twilio, ADULT, "quality-of-life")
    client = phone(app)
    pages = [client.get(path), start(client, path), client.get("/q/answer")]
    pages += [answer(client, i, data) for i, data in enumerate(QOL)]
    pages += [client.get("/q/answer?s=0"), answer(client, 1, {"worried": "9"}, expect="error"),
              client.get("/q/review")]
    pages += [client.post("/q/submit", data={"submit_key": submit_key(client)}), client.get("/q/done"),
              client.get(path), phone(app).get("/q/nosuchtoken"), phone(app).get("/q/answer")]
    assert {p.status_code for p in pages} == {200, 303, 400, 404}
    for response in pages:
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Referrer-Policy"] == "same-origin"
        csp = response.headers["Content-Security-Policy"]
        directives = dict((part.split()[0], part.split()[1:]) for part in csp.split(";") if part.strip())
        assert directives["default-src"] == ["'self'"]
        sources = {s for values in directives.values() for s in values}
        assert sources <= ALLOWED_SOURCES, csp
        assert directives["frame-ancestors"] == ["'none'"]


# --- temperatures ----------------------------------------------------------------------------

def post_infusion_answers(temperature, unit):
    return [
        {"temperature": temperature, "temperature__unit": unit, "temperature_route": "1", "chills": "no"},
        {"breathing": "0", "throat_swelling": "0", "chest_heart": "0", "fainting": "0"},
        {"bleeding": "0", "confusion": "0", "vision": "0"},
        {"rash": "no", "allergy_signs": "0", "cough": "no"},
        {"headache": "no", "nausea": "no"},
    ]


@pytest.mark.parametrize(("given", "unit", "stored"), [
    ("100.4", "F", round((100.4 - 32) * 5 / 9, 1)),  # 38.0
    ("98,6", "F", round((98.6 - 32) * 5 / 9, 1)),    # 37.0, with a decimal comma
    ("37.8", "C", 37.8),
])
def test_a_temperature_in_fahrenheit_is_stored_in_celsius(app, clock, make_participant, tick, fake_twilio,
                                                           give_infusion, given, unit, stored):
    enrol_adult(make_participant)
    give_infusion("P-001", dose=1, now=INFUSION_EVENING - timedelta(hours=2))
    clock.now = INFUSION_EVENING
    tick(INFUSION_EVENING)
    client = phone(app)
    start(client, link(app, fake_twilio, ADULT, "post-infusion"))
    # Out of range in the unit the respondent chose, said in that unit.
    too_hot = answer(client, 0, {"temperature": "120", "temperature__unit": unit, "chills": "no"}, expect="error")
    assert too_hot.status_code == 400
    assert ("from 93.2 to 109.4°F" if unit == "F" else "from 34 to 43°C") in text_of(too_hot)
    answer_all(client, post_infusion_answers(given, unit))
    client.post("/q/submit", data={"submit_key": submit_key(client)})
    with app.app_context():
        [response] = db.session.scalars(select(Response)).all()
        assert response.instrument_id == "post-infusion"
        assert response.answers["temperature"] == stored
        assert "temperature__unit" not in response.answers
        assert response.answers["chills"] is False and "chills_severity" not in response.answers


# --- staff pages -------------------------------------------------------------------------------

def test_staff_see_states_scores_answers_and_completion(app, nurse, clock, make_participant, tick,
                                                        fake_twilio):
    enrol_adult(make_participant)
    tick(NOW)
    respondent = phone(app)
    start(respondent, link(app, fake_twilio, ADULT, "quality-of-life"))
    answer_all(respondent, QOL)
    respondent.post("/q/submit", data={"submit_key": submit_key(respondent)})
    # Baseline is never answered: its window closes with the tick on day 1 at 08:00.
    tick(BASELINE_CLOSES)
    clock.now = BASELINE_CLOSES + timedelta(hours=1)

    page = text_of(nurse.get("/staff/participants/P-001/questionnaires"))
    rows = re.findall(r"<tr>(.*?)</tr>", page)
    qol = next(r for r in rows if "Quality of life" in r)
    baseline = next(r for r in rows if "Before we start" in r)
    assert "completed" in qol and "expired" in baseline
    # Scores by their label in the page language, never by id.
    labels = {"physical": "Everyday activities", "emotional": "Feelings", "school": "School and work",
              "social": "Friends and enjoyment", "global": "Overall quality of life"}
    for score, value in QOL_SCORES.items():
        assert f"{labels[score]}: {value}" in qol and f"{score}: " not in qol
    assert "Completion: <strong>50%</strong>" in page
    response_link = re.search(r'href="(/staff/responses/\d+)"', qol).group(1)

    answers = text_of(nurse.get(response_link))
    assert "How hard was it to walk around, at home or outside?" in answers
    assert "Not hard (4)" in answers and "Once or twice (3)" in answers
    assert re.search(r"Overall quality of life</th><td>80.0</td>", answers)
    assert app.extensions["pro_instruments"]["quality-of-life"].version[:12] in answers

    overview = text_of(nurse.get("/staff/questionnaires"))
    assert "<strong>50%</strong>" in overview
    rows = [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", overview)]
    by_name = {cells[0]: cells[1:] for cells in rows if cells}
    assert by_name["Quality of life"] == ["1", "0", "100%"]
    assert by_name["Before we start"] == ["0", "1", "0%"]
    assert by_name["P-001"] == ["1", "1", "50%"]
    assert by_name["Weekly symptom check"] == ["0", "0", "—"]
