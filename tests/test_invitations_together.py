"""Invitations due at the same moment for one contact go as one text with one link to their list."""

import hashlib
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, update

from pro_app.db import db
from pro_app.protocol import current_protocol
from pro_app.questionnaires import current_instruments
from pro_app.questionnaires import operations as ops
from pro_app.questionnaires.invitations import TOGETHER, merged_reason, together_params
from pro_app.questionnaires.models import Assignment, AssignmentState, QuestionnaireLink, Response
from pro_app.sms.models import Message, MessageState

START = date(2026, 3, 16)  # day 1; baseline and quality of life open 03-09 09:00 Shanghai, together
ENROLLED = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
OPENS = datetime(2026, 3, 9, 1, 0, tzinfo=UTC)
PHONE = "+8613800138001"
LINK = re.compile(r"http://localhost/q/([A-Za-z0-9_-]+)")


@pytest.fixture
def app_config(twilio_config):
    return twilio_config


def enrol(make_participant, lang="en"):
    make_participant("P-1", start=START, lang=lang, phone=PHONE, now=ENROLLED)


def opening_together(app):
    with app.app_context():
        found = db.session.scalars(select(Assignment).where(Assignment.opens_at == OPENS)
                                   .order_by(Assignment.instrument_id)).all()
        assert [a.instrument_id for a in found] == ["baseline", "quality-of-life"]
        return found


def invitation_states(app, assignment_ids):
    with app.app_context():
        return {m.assignment_id: (m.template, m.state, m.state_reason, m.id) for m in db.session.scalars(
            select(Message).where(Message.assignment_id.in_(assignment_ids),
                                  Message.template.in_(("questionnaire_invite", TOGETHER))))}


def texts_with_links(fake_twilio):
    return [m["body"] for m in fake_twilio.messages_to(PHONE) if LINK.search(m["body"])]


def page(response):
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def phone(app, lang="en"):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
    return client


def csrf(html):
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def answer_everything(app, client, instrument_id):
    """Answer each page with the first allowed answer (calm ones), send, and return the done page."""
    with app.app_context():
        instrument = current_instruments()[instrument_id]
    for index, section in enumerate(instrument.sections):
        data = {"s": str(index)}
        for item in section.items:
            if item.show_if is not None or not item.required:
                continue
            if item.type in ("single", "multiple"):
                data[item.id] = str(item.choices[0][0])
            elif item.type == "yesno":
                data[item.id] = "no"
            elif item.type == "rating":
                data[item.id] = str(int(item.max if item.max is not None else 10))
        response = client.post("/q/answer", data=data)
        assert response.status_code == 303, page(response)
    review = client.get("/q/review")
    key = re.search(r'name="submit_key" value="([^"]+)"', review.get_data(as_text=True)).group(1)
    response = client.post("/q/submit", data={"submit_key": key, "csrf_token": csrf(review.get_data(as_text=True))})
    assert response.headers["Location"] == "/q/done"
    return client.get("/q/done")


def test_titles_are_named_in_the_words_of_each_language():
    en = together_params("en", site="Study", titles=["Weekly symptom check", "Quality of life"], deadline="03-16 08:00")
    assert en["count"] == "2" and en["titles"] == "Weekly symptom check, Quality of life"
    zh = together_params("zh-CN", site="研究", titles=["每周症状自查", "生活质量"], deadline="03-16 08:00")
    assert zh["titles"] == "每周症状自查、生活质量" and zh["link"] == ops.LINK


@pytest.mark.parametrize(("lang", "named"), [
    ("en", ("2 short questionnaires are ready for you", "Before we start, Quality of life")),
    ("zh-CN", ("有 2 份问卷请您填写", "开始前的基本情况、生活质量")),
])
def test_two_invitations_due_together_go_as_one_text_with_one_link(app, make_participant, fake_twilio, tick,
                                                                   lang, named):
    enrol(make_participant, lang)
    baseline, qol = opening_together(app)
    tick(OPENS)
    [text] = texts_with_links(fake_twilio)
    assert all(words in text for words in named)
    assert len(LINK.findall(text)) == 1
    token = LINK.search(text).group(1)
    states = invitation_states(app, [baseline.id, qol.id])
    carrier = states[baseline.id]
    assert carrier[:2] == (TOGETHER, MessageState.SENT)
    # The other invitation went in that text: cancelled, saying which text carried it.
    assert states[qol.id][1:3] == (MessageState.CANCELLED, merged_reason(carrier[3]))
    with app.app_context():
        links = db.session.scalars(select(QuestionnaireLink)).all()
        digest = hashlib.sha256(token.encode()).hexdigest()
        assert {link.assignment_id for link in links} == {baseline.id, qol.id}
        assert {link.list_hash for link in links} == {digest}
        assert digest not in {link.token_hash for link in links}
        stored = db.session.get(Message, carrier[3])
        assert token not in stored.body and stored.params["assignments"] == [baseline.id, qol.id]
    # A later tick sends nothing more for them.
    tick(OPENS + timedelta(minutes=15))
    assert len(texts_with_links(fake_twilio)) == 1


def test_the_link_lists_both_and_both_can_be_answered(app, make_participant, fake_twilio, tick, clock):
    enrol(make_participant)
    baseline, qol = opening_together(app)
    tick(OPENS)
    clock.now = OPENS + timedelta(minutes=5)
    token = LINK.search(texts_with_links(fake_twilio)[0]).group(1)
    client = phone(app)
    listing = client.get(f"/q/{token}")
    assert listing.status_code == 200
    html = page(listing)
    assert "Your questionnaires" in html and "Before we start" in html and "Quality of life" in html
    assert html.count('name="a"') == 2 and "Open until 03-16 08:00" in html
    assert "tel:" in html  # the hotline is on the page
    # Opening the list twice (a link preview) starts nothing.
    assert client.get(f"/q/{token}").status_code == 200
    with app.app_context():
        assert db.session.scalar(select(Assignment.state).where(Assignment.id == qol.id)) == AssignmentState.PENDING

    started = client.post(f"/q/{token}", data={"a": str(qol.id), "csrf_token": csrf(listing.get_data(as_text=True))})
    assert started.status_code == 303 and started.headers["Location"] == "/q/answer"
    done = answer_everything(app, client, "quality-of-life")
    assert "Back to your questionnaires" in page(done) and "1 more questionnaire" in page(done)

    back = client.get("/q/list")
    html = page(back)
    assert back.status_code == 200 and "Answered. Thank you." in html and html.count('name="a"') == 1
    started = client.post("/q/list", data={"a": str(baseline.id), "csrf_token": csrf(back.get_data(as_text=True))})
    assert started.headers["Location"] == "/q/answer"
    done = answer_everything(app, client, "baseline")
    assert "Back to your questionnaires" not in page(done)
    with app.app_context():
        assert set(db.session.scalars(select(Response.assignment_id))) == {baseline.id, qol.id}
    # Both answered: the link now says so, as a single link does.
    again = phone(app).get(f"/q/{token}")
    assert again.status_code == 200 and "Already answered" in page(again)


def test_a_list_starts_only_its_own_open_questionnaires(app, make_participant, fake_twilio, tick, clock):
    enrol(make_participant)
    baseline, qol = opening_together(app)
    tick(OPENS)
    clock.now = OPENS + timedelta(minutes=5)
    token = LINK.search(texts_with_links(fake_twilio)[0]).group(1)
    client = phone(app)
    form = csrf(client.get(f"/q/{token}").get_data(as_text=True))
    with app.app_context():
        other = db.session.scalar(select(Assignment.id).where(Assignment.id.not_in([baseline.id, qol.id])))
    for bad in (str(other), "x", ""):
        response = client.post(f"/q/{token}", data={"a": bad, "csrf_token": form})
        assert response.status_code == 400
    assert client.get("/q/list").status_code == 200 and "Please open your link again" in page(client.get("/q/list"))
    # A new link for one of them (staff "resend") closes it on the list.
    with app.test_request_context():
        ops.resend(db.session, db.session.get(Assignment, baseline.id), current_protocol(), current_instruments(),
                   now=OPENS + timedelta(minutes=4))
        db.session.commit()
    html = page(client.get(f"/q/{token}"))
    assert "newer link" in html and html.count('name="a"') == 1
    response = client.post(f"/q/{token}", data={"a": str(baseline.id), "csrf_token": form})
    assert response.status_code == 410
    # Past the windows the list link is closed, with the hotline.
    clock.now = datetime(2026, 3, 16, 0, 0, tzinfo=UTC)
    closed = client.get(f"/q/{token}")
    assert closed.status_code == 410 and "tel:" in page(closed)
    assert client.get("/q/" + "A" * 32).status_code == 404


def test_a_withdrawn_questionnaire_is_not_named(app, make_participant, fake_twilio, tick):
    enrol(make_participant)
    baseline, qol = opening_together(app)
    with app.app_context():
        # Withdrawn before its invitation went, as consent withdrawn or a cancelled infusion does.
        db.session.execute(update(Assignment).where(Assignment.id == baseline.id)
                           .values(state=AssignmentState.SUPERSEDED))
        db.session.commit()
    tick(OPENS)
    [text] = texts_with_links(fake_twilio)
    assert "Quality of life" in text and "Before we start" not in text and "2 short" not in text
    states = invitation_states(app, [baseline.id, qol.id])
    assert states[qol.id][:2] == ("questionnaire_invite", MessageState.SENT)
    assert states[baseline.id][1] == MessageState.SUPPRESSED


@pytest.mark.parametrize("apart", [timedelta(0), timedelta(minutes=30)])
def test_invitations_held_by_quiet_hours_still_go_as_one_text(app, make_participant, fake_twilio, tick, apart):
    enrol(make_participant)
    baseline, qol = opening_together(app)
    late = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai
    with app.app_context():
        # Due in quiet hours, together or planned apart (a resend, a moved window).
        db.session.execute(update(Message).where(Message.assignment_id == qol.id,
                                                 Message.template == "questionnaire_invite").values(due_at=late))
        db.session.execute(update(Message).where(Message.assignment_id == baseline.id,
                                                 Message.template == "questionnaire_invite")
                           .values(due_at=late - apart))
        db.session.commit()
    if apart:
        assert "deferred 1" in tick(late - apart)
        assert "deferred 1" in tick(late)
    else:
        assert "deferred 2" in tick(late)  # each held as it is, to be folded together when they go
    assert texts_with_links(fake_twilio) == []
    morning = datetime(2026, 3, 10, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
    tick(morning)
    [text] = texts_with_links(fake_twilio)
    assert "2 short questionnaires" in text
    states = invitation_states(app, [baseline.id, qol.id])
    assert {s[1] for s in states.values()} == {MessageState.SENT, MessageState.CANCELLED}


@pytest.mark.parametrize(("lang", "kind", "reason"), [
    ("en", "questionnaire invitations in one text", "sent in one text with other invitations (text {id})"),
    ("zh-CN", "合并为一条短信的问卷邀请", "已与其他问卷邀请合并为一条短信发送（短信 {id}）"),
])
def test_staff_read_which_text_carried_an_invitation(app, client, login, make_participant, fake_twilio, tick,
                                                     lang, kind, reason):
    enrol(make_participant)
    baseline, qol = opening_together(app)
    tick(OPENS)
    carrier = invitation_states(app, [baseline.id, qol.id])[baseline.id][3]
    login("nurse", lang=lang)
    html = page(client.get("/staff/participants/P-1/messages"))
    assert kind in html and reason.format(id=carrier) in html
