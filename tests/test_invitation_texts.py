"""Invitations name the questionnaire; nudges land in allowed hours, clear of visits; a new link replaces a held one."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from pro_app.db import db
from pro_app.protocol import current_protocol
from pro_app.questionnaires import current_instruments
from pro_app.questionnaires import operations as ops
from pro_app.questionnaires.models import Assignment
from pro_app.questionnaires.schedule import nudge_time
from pro_app.reminders.quiet import in_quiet_hours, latest_allowed
from pro_app.sms.models import Message, MessageState

SHANGHAI = ("Asia/Shanghai", time(21), time(8))
START = date(2026, 3, 16)
ENROLLED = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)


def local(instant, tz="Asia/Shanghai"):
    return instant.astimezone(ZoneInfo(tz)).replace(tzinfo=None)


def at(y, m, d, hh, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


def test_latest_allowed_moves_back_before_the_evening():
    assert local(latest_allowed(at(2026, 3, 10, 21, 30), *SHANGHAI)) == datetime(2026, 3, 10, 20, 0)
    assert local(latest_allowed(at(2026, 3, 11, 6, 0), *SHANGHAI)) == datetime(2026, 3, 10, 20, 0)
    assert latest_allowed(at(2026, 3, 10, 12, 0), *SHANGHAI) == at(2026, 3, 10, 12, 0)


def test_a_nudge_at_21_before_an_infusion_morning_goes_the_afternoon_before():
    # Window closes 21:00 on the 11th; 24 h before is 21:00 on the 10th (quiet), and the
    # infusion at 08:30 on the 11th keeps the 12 hours before it clear.
    nudge = nudge_time(opens_at=at(2026, 3, 8, 18), closes_at=at(2026, 3, 11, 21), before=timedelta(hours=24),
                       quiet=SHANGHAI, visit_starts=[at(2026, 3, 11, 8, 30)], now=at(2026, 3, 1, 0))
    assert local(nudge) == datetime(2026, 3, 10, 20, 0)
    assert at(2026, 3, 11, 8, 30) - nudge >= timedelta(hours=12)


def test_no_nudge_when_no_moment_is_left():
    assert nudge_time(opens_at=at(2026, 3, 10, 18), closes_at=at(2026, 3, 11, 9), before=timedelta(hours=24),
                      quiet=SHANGHAI, visit_starts=[], now=at(2026, 3, 1, 0)) is None


@settings(max_examples=300, deadline=None)
@given(opens=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1)),
       open_hours=st.integers(1, 24 * 10), visits=st.lists(st.integers(-48, 24 * 12), max_size=4),
       zone=st.sampled_from(["Asia/Shanghai", "America/New_York", "Europe/London"]))
def test_a_nudge_is_in_allowed_hours_in_the_window_and_never_12_hours_before_a_visit(opens, open_hours, visits,
                                                                                     zone):
    opens = opens.replace(tzinfo=UTC)
    closes = opens + timedelta(hours=open_hours)
    starts = [opens + timedelta(hours=h) for h in visits]
    nudge = nudge_time(opens_at=opens, closes_at=closes, before=timedelta(hours=24), quiet=(zone, time(21), time(8)),
                       visit_starts=starts, now=opens)
    if nudge is None:
        return
    assert opens + timedelta(hours=2) < nudge <= closes - timedelta(hours=24)
    assert not in_quiet_hours(local(nudge, zone).time(), time(21), time(8))
    assert all(not (s - timedelta(hours=12) <= nudge < s) for s in starts)


def test_an_invitation_names_its_questionnaire(app, make_participant):
    make_participant("P-1", start=START, now=ENROLLED, caregivers=[{"phone": "+447911123456", "lang": "en",
                                                                   "tz": "Europe/London"}], age="15")
    with app.app_context():
        invites = db.session.scalars(select(Message).where(Message.template == "questionnaire_invite")).all()
        titles = {(m.language, m.assignment.instrument_id): m.body for m in invites}
        assert "“开始前的基本情况”" in titles[("zh-CN", "baseline")]
        assert '"Before we start"' in titles[("en", "baseline")]
        nudges = db.session.scalars(select(Message).where(Message.template == "questionnaire_nudge")).all()
        assert nudges and all(m.params["title"] in m.body for m in nudges)
        for m in nudges:
            tz = m.contact.timezone
            assert not in_quiet_hours(local(m.due_at, tz).time(), time(21), time(8)), m.dedupe_key


def test_a_new_link_cancels_an_invitation_still_held(app, make_participant):
    make_participant("P-1", start=START, now=ENROLLED)
    with app.test_request_context():
        baseline = db.session.scalar(select(Assignment).where(Assignment.instrument_id == "baseline"))
        [held] = db.session.scalars(select(Message).where(Message.assignment_id == baseline.id,
                                                          Message.template == "questionnaire_invite")).all()
        assert held.state == MessageState.PENDING
        ops.resend(db.session, baseline, current_protocol(), current_instruments(), now=ENROLLED + timedelta(hours=1))
        db.session.commit()
    with app.app_context():
        states = dict(db.session.execute(select(Message.dedupe_key, Message.state).where(
            Message.assignment_id == baseline.id, Message.template == "questionnaire_invite")).all())
        assert states.pop(held.dedupe_key) == MessageState.CANCELLED
        assert list(states.values()) == [MessageState.PENDING]  # the new invitation
