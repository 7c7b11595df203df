"""A claimed text goes only if it still holds when it is sent (real tick processes, gated gateway).

The gateway holds the first text of a batch open until the test lets it go; meanwhile the test
changes what a later text of the same batch is about. That text must not leave with the old facts.
"""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select, update
from test_tick_processes import Child, GatedTwilio, Outbox, child_env

from pro_app import create_app
from pro_app.audit.operations import Actor
from pro_app.db import db
from pro_app.participants.models import Participant, ParticipantStatus
from pro_app.participants.operations import enrol
from pro_app.participants.validation import check_enrolment
from pro_app.protocol import current_protocol
from pro_app.questionnaires import current_instruments
from pro_app.reminders.operations import enqueue, message_row
from pro_app.sms.models import Message, MessageState, PhoneNumber
from pro_app.visits.models import Visit
from pro_app.visits.operations import move_visit

PATIENT, NURSE = "+8613800138001", "+8613900139000"
ENROLLED = datetime(2026, 2, 20, 2, 0, tzinfo=UTC)


@pytest.fixture
def study(scratch_db, tmp_path, reminders_only_protocol):
    """An app on the scratch database with one participant enrolled and a staff text due first."""
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "DATABASE_URL": scratch_db, "SMS_BACKEND": "console",
                      "PROTOCOL_FILE": reminders_only_protocol}, instance_path=str(tmp_path))
    with app.test_request_context():
        enrolment, errors = check_enrolment({"study_id": "P-001", "start": date(2026, 3, 2).isoformat(),
                                             "tz": "Asia/Shanghai", "lang": "zh-CN", "age": "",
                                             "phone": PATIENT, "caregivers": []})
        assert not errors
        enrol(db.session, enrolment, current_protocol(), current_instruments(), actor=Actor(label="test"),
              now=ENROLLED, public_url="http://127.0.0.1:5000")
        db.session.execute(update(Message).where(Message.template == "welcome")
                           .values(state=MessageState.SENT))  # the welcome is out of the way
        reminder = db.session.scalars(select(Message).where(Message.dedupe_key.startswith("visit:"))
                                      .order_by(Message.due_at, Message.id).limit(1)).one()
        # A staff text due before everything: the first of the batch, the one the gateway holds.
        enqueue(db.session, [message_row(key="staff:first", participant_id=None, contact_id=None, phone=NURSE,
                                         template="staff_note", language="en", body="Staff text",
                                         due_at=ENROLLED - timedelta(hours=1), now=ENROLLED)])
        db.session.commit()
    yield app, reminder.id
    app.extensions["pro_db"]["engine"].dispose()


def _run_gated(scratch_db, tmp_path, now, change, name):
    """Run a tick as of `now`; while the gateway holds the batch's first text, call change()."""
    gateway = GatedTwilio(hold=[1] if change else []).start()
    outbox = Outbox(scratch_db)
    child = Child(["tick", "--now", now.isoformat()], child_env(scratch_db, gateway, TWILIO_TIMEOUT=60),
                  tmp_path, name)
    try:
        if change:
            assert gateway.wait_held(1, 30, child.output) == NURSE
            change()
            gateway.release()
        assert child.wait(timeout=30) == 0, child.output()
        return gateway.messages, child.stdout().strip()
    finally:
        child.stop()
        gateway.stop()
        outbox.close()


def test_a_visit_moved_between_claim_and_send_sends_the_new_plan_not_the_old_date(study, scratch_db, tmp_path):
    app, reminder_id = study
    with app.app_context():
        old = db.session.get(Message, reminder_id)
        due, old_body, visit_id = old.due_at, old.body, old.visit_id

    def move():
        with app.test_request_context():
            visit = db.session.get(Visit, visit_id)
            move_visit(db.session, visit, visit.local_start.date() + timedelta(days=7), time(9, 0),
                       shift_later=False, shift_other_kinds=False, reason="family travelling",
                       actor=Actor(label="test"), now=due - timedelta(seconds=30), protocol=current_protocol())
            db.session.commit()

    received, summary = _run_gated(scratch_db, tmp_path, due, move, "moved")
    assert [m["to"] for m in received] == [NURSE], summary
    with app.app_context():
        old = db.session.get(Message, reminder_id)
        assert (old.state, old.state_reason, old.attempted_at) == (MessageState.CANCELLED, "visit changed", None)
        new = db.session.scalars(select(Message).where(Message.visit_id == visit_id,
                                                       Message.state == MessageState.PENDING)
                                 .order_by(Message.due_at)).first()
        assert new is not None and new.body != old_body and new.due_at > due

    # The new plan goes at its own time.
    received, summary = _run_gated(scratch_db, tmp_path, new.due_at, None, "new-plan")
    bodies = [m["body"] for m in received]
    assert new.body in bodies and old_body not in bodies, summary


CHANGES = [("revision", "visit changed"), ("withdrawn", "participant not active"),
           ("no-consent", "no consent to texts"), ("opted-out", "opted out or unreachable")]


def _make_change(change, due):
    """Change what a reminder is about behind the planner's back (no replan, nothing cancelled)."""
    from pro_app.participants.models import Contact

    if change == "revision":
        db.session.execute(update(Visit).values(revision=Visit.revision + 1))
    elif change == "withdrawn":
        db.session.execute(update(Participant).values(status=ParticipantStatus.WITHDRAWN))
    elif change == "no-consent":
        db.session.execute(update(Contact).values(consent_at=None))
    else:
        db.session.add(PhoneNumber(phone=PATIENT, opted_out_at=due, opt_out_source="STOP", updated_at=due))
    db.session.commit()


@pytest.mark.parametrize(("change", "reason"), CHANGES)
def test_a_claimed_text_that_no_longer_holds_is_not_sent(study, scratch_db, tmp_path, change, reason):
    app, reminder_id = study
    with app.app_context():
        due = db.session.get(Message, reminder_id).due_at

    def make_change():
        with app.app_context():
            _make_change(change, due)

    received, summary = _run_gated(scratch_db, tmp_path, due, make_change, change)
    assert [m["to"] for m in received] == [NURSE], summary
    with app.app_context():
        row = db.session.get(Message, reminder_id)
        assert row.attempted_at is None and row.sent_at is None
        # The revision only the statement that marks the attempt sees; the rest the first look may catch too.
        if change in ("revision", "no-consent"):
            assert (row.state, row.state_reason) == (MessageState.CANCELLED, reason), summary
            assert f"cancelled {reason}" in summary
        else:
            suppressed = {"withdrawn": "participant not active", "opted-out": "opted out"}[change]
            assert (row.state, row.state_reason) in {
                (MessageState.CANCELLED, reason), (MessageState.SUPPRESSED, suppressed)}, summary


@pytest.fixture
def in_process(app, make_participant):
    make_participant("P-001", phone=PATIENT, now=ENROLLED)
    with app.app_context():
        return db.session.scalars(select(Message.id).where(Message.dedupe_key.startswith("visit:"))
                                  .order_by(Message.due_at, Message.id).limit(1)).one()


@pytest.mark.parametrize(("change", "reason"), CHANGES)
def test_the_statement_that_marks_the_attempt_refuses_a_stale_text_and_names_why(app, in_process, change, reason):
    from pro_app.sms.dispatch import cancel_if_stale, claim, mark_attempted

    with app.app_context():
        due = db.session.get(Message, in_process).due_at
        assert claim(db.session, due, 1, "w1", ids=[in_process]) == [in_process]
        db.session.commit()
        _make_change(change, due)
        assert not mark_attempted(db.session, in_process, "w1", due)
        assert not mark_attempted(db.session, in_process, "someone else", due)
        assert cancel_if_stale(db.session, in_process, "w1", due) == reason
        db.session.commit()
        row = db.session.get(Message, in_process, populate_existing=True)
        assert (row.state, row.state_reason, row.claimed_by, row.attempted_at) == (
            MessageState.CANCELLED, reason, None, None)


def test_a_claimed_text_still_true_is_marked_attempted_once(app, in_process):
    from pro_app.sms.dispatch import cancel_if_stale, claim, mark_attempted

    with app.app_context():
        due = db.session.get(Message, in_process).due_at
        claim(db.session, due, 1, "w1", ids=[in_process])
        assert cancel_if_stale(db.session, in_process, "w1", due) is None
        assert not mark_attempted(db.session, in_process, "w2", due)
        assert mark_attempted(db.session, in_process, "w1", due)
        assert not mark_attempted(db.session, in_process, "w1", due)
