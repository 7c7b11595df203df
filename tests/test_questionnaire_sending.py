"""Assignments from the protocol, invitations with links minted at send time, nudges, expiry."""

import hashlib
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from pro_app.db import db
from pro_app.questionnaires import current_instruments
from pro_app.questionnaires import operations as ops
from pro_app.questionnaires.models import Assignment, AssignmentState, QuestionnaireLink
from pro_app.sms.models import Message, MessageState
from pro_app.visits.models import Visit

START = date(2026, 3, 16)  # day 1; baseline opens 03-09 09:00 and closes 03-16 08:00 (Shanghai)
ENROLLED = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
LINK = re.compile(r"http://localhost/q/([A-Za-z0-9_-]+)")


@pytest.fixture
def app_config(twilio_config):
    return twilio_config


def assignments(app, **where):
    with app.app_context():
        stmt = select(Assignment).order_by(Assignment.opens_at, Assignment.id)
        for key, value in where.items():
            stmt = stmt.where(getattr(Assignment, key) == value)
        return db.session.scalars(stmt).all()


@pytest.mark.parametrize(("age", "phone", "caregivers", "respondents"), [
    ("", "+8613800138001", [], {"self"}),
    ("15", "+8613800138001", [{"phone": "+8613800138012"}], {"self", "proxy"}),
    ("5", "", [{"phone": "+8613800138012"}, {"phone": "+8613800138013"}], {"proxy"}),
])
def test_who_answers_depends_on_age(app, make_participant, age, phone, caregivers, respondents):
    make_participant("P-1", start=START, age=age, phone=phone, caregivers=caregivers, now=ENROLLED)
    found = assignments(app)
    assert {a.respondent for a in found} == respondents
    # A child's second caregiver is not asked: one proxy answers.
    assert len({a.contact_id for a in found if a.respondent == "proxy"}) <= 1
    by_instrument = {}
    for a in found:
        if a.respondent == sorted(respondents)[0]:
            by_instrument.setdefault(a.instrument_id, []).append(a)
    assert len(by_instrument["baseline"]) == 1
    assert len(by_instrument["post-infusion"]) == 23  # one after each infusion
    weekly, other = ("toddler-check", "symptom-check") if age == "5" else ("symptom-check", "toddler-check")
    assert len(by_instrument[weekly]) == 24 + 7  # weekly to week 24, then every 4 weeks
    assert other not in by_instrument  # under 7: the parent's observation form instead
    assert len(by_instrument["quality-of-life"]) == 1 + 12 + 1  # baseline, every 4 weeks, end


def test_invitation_carries_a_fresh_link_that_is_stored_only_hashed(app, make_participant, fake_twilio, tick):
    make_participant("P-1", start=START, now=ENROLLED)
    baseline = assignments(app, instrument_id="baseline")[0]
    assert baseline.opens_at == datetime(2026, 3, 9, 1, 0, tzinfo=UTC)
    tick(baseline.opens_at - timedelta(minutes=1))
    assert not any(LINK.search(m["body"]) for m in fake_twilio.messages)
    tick(baseline.opens_at)
    links = [LINK.search(m["body"]).group(1) for m in fake_twilio.messages if LINK.search(m["body"])]
    assert len(links) == 1  # baseline and quality of life open together: one text, one link to both
    assert all(len(token) >= 22 for token in links)  # at least 128 bits
    opened = {a.id for a in assignments(app, opens_at=baseline.opens_at)}
    with app.app_context():
        stored = db.session.execute(select(QuestionnaireLink.assignment_id, QuestionnaireLink.token_hash,
                                           QuestionnaireLink.list_hash)).all()
        assert {row.assignment_id for row in stored} == opened and len(opened) == 2
        assert {row.list_hash for row in stored} == {hashlib.sha256(t.encode()).hexdigest() for t in links}
        assert not any(t in row.token_hash for t in links for row in stored)
        bodies = db.session.scalars(select(Message.body).where(
            Message.template.in_(("questionnaire_invite", "questionnaire_invites")),
            Message.state == MessageState.SENT)).all()
        assert len(bodies) == 1 and not any(t in b for t in links for b in bodies)


def test_nudge_goes_only_if_unanswered_and_nothing_after_the_window(app, make_participant, fake_twilio, tick):
    make_participant("P-1", start=START, now=ENROLLED)
    baseline, qol = assignments(app, opens_at=datetime(2026, 3, 9, 1, 0, tzinfo=UTC))
    tick(baseline.opens_at)
    # Answer the baseline questionnaire; leave quality of life unanswered.
    with app.app_context():
        a = db.session.get(Assignment, baseline.id)
        instrument = current_instruments()["baseline"]
        draft = ops.open_draft(db.session, a, instrument, baseline.opens_at)
        draft.answers = {"overall_feeling": 7}
        ops.submit(db.session, a, draft, instrument, draft.submit_key, baseline.opens_at + timedelta(hours=1))
        db.session.commit()
    fake_twilio.clear()
    with app.app_context():
        nudges = db.session.scalars(select(Message).where(Message.template == "questionnaire_nudge",
                                                          Message.assignment_id.in_([baseline.id, qol.id]))).all()
        nudge_at = {m.assignment_id: m.due_at for m in nudges}
    assert set(nudge_at) == {baseline.id, qol.id}
    summary = tick(nudge_at[baseline.id])
    assert "dropped questionnaire answered or closed 1" in summary
    sent_links = [m for m in fake_twilio.messages if LINK.search(m["body"])]
    assert len(sent_links) == 1  # only the unanswered quality-of-life nudge
    with app.app_context():
        link = db.session.scalar(select(QuestionnaireLink).where(
            QuestionnaireLink.token_hash == hashlib.sha256(
                LINK.search(sent_links[0]["body"]).group(1).encode()).hexdigest()))
        assert link.assignment_id == qol.id
    summary = tick(qol.closes_at)
    assert "questionnaires expired 1" in summary
    assert assignments(app, id=qol.id)[0].state == AssignmentState.EXPIRED
    assert assignments(app, id=baseline.id)[0].state == AssignmentState.COMPLETED


def test_moving_an_infusion_moves_its_post_infusion_questionnaire(app, client, login, make_participant):
    today = datetime.now(UTC)
    start = (today + timedelta(days=14)).date()
    make_participant("P-1", start=start, now=today)
    login("nurse")
    with app.app_context():
        visit = db.session.scalar(select(Visit).where(Visit.protocol_key == "infusion-3"))
        visit_id = visit.id
    before = assignments(app, visit_id=visit_id)
    assert len(before) == 1 and before[0].instrument_id == "post-infusion"
    new_date = (start + timedelta(days=17)).isoformat()
    response = client.post(f"/staff/visits/{visit_id}/move", data={
        "new_date": new_date, "new_time": "08:30", "shift_later": "y", "reason": "Delayed"})
    assert response.status_code == 303
    after = assignments(app, visit_id=visit_id)[0]
    assert after.opens_at - before[0].opens_at == timedelta(days=3)
    with app.app_context():
        states = dict(db.session.execute(
            select(Message.dedupe_key, Message.state).where(Message.assignment_id == after.id)).all())
    # Not given yet, so nothing is invited: the invitation waits for the infusion to be recorded.
    assert states == {}
    # Cancelling an infusion withdraws its questionnaire.
    with app.app_context():
        other_id = db.session.scalar(select(Visit.id).where(Visit.protocol_key == "infusion-4"))
    client.post(f"/staff/visits/{other_id}/status", data={"status": "cancelled", "reason": "Stopped"})
    assert assignments(app, visit_id=other_id)[0].state == AssignmentState.SUPERSEDED
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Message).where(
            Message.assignment_id == assignments(app, visit_id=other_id)[0].id,
            Message.state == MessageState.PENDING)) == 0


def test_an_after_infusion_check_is_invited_only_once_the_infusion_is_recorded_as_given(
        app, client, login, make_participant, fake_twilio, tick):
    today = datetime.now(UTC)
    start = (today + timedelta(days=14)).date()
    make_participant("P-1", start=start, now=today)
    login("nurse")
    with app.app_context():
        visit_id = db.session.scalar(select(Visit.id).where(Visit.protocol_key == "infusion-1"))
    [check] = assignments(app, visit_id=visit_id)
    # The infusion is still "scheduled" when the window opens: no text goes out.
    tick(check.opens_at + timedelta(minutes=5))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Message).where(
            Message.assignment_id == check.id)) == 0
    # The nurse records it as given: the invitation is queued for the window.
    response = client.post(f"/staff/visits/{visit_id}/status", data={"status": "done", "reason": "Given"})
    assert response.status_code == 303
    with app.app_context():
        [invite] = db.session.scalars(select(Message).where(Message.assignment_id == check.id)).all()
        assert invite.state == MessageState.PENDING and invite.template == "questionnaire_invite"
    assert assignments(app, visit_id=visit_id)[0].state == AssignmentState.PENDING


def test_an_after_infusion_check_for_an_infusion_never_recorded_is_withdrawn_not_missed(
        app, make_participant, tick):
    today = datetime.now(UTC)
    start = (today + timedelta(days=14)).date()
    make_participant("P-1", start=start, now=today)
    with app.app_context():
        visit_id = db.session.scalar(select(Visit.id).where(Visit.protocol_key == "infusion-1"))
    [check] = assignments(app, visit_id=visit_id)
    tick(check.closes_at + timedelta(minutes=1))
    assert assignments(app, visit_id=visit_id)[0].state == AssignmentState.SUPERSEDED
