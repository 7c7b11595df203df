"""Reminder planning and quiet hours are pure: checked without a database."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pro_app.protocol.model import load_protocol
from pro_app.reminders.plan import Recipient, plan_visit_reminders
from pro_app.reminders.quiet import in_quiet_hours, next_allowed
from pro_app.sms.dispatch import RateLimiter, backoff, decide
from pro_app.sms.models import PhoneNumber

PROTOCOL = load_protocol()
STEPS = PROTOCOL.visit_reminders
ZONES = sorted(available_timezones() - {"Factory", "localtime"})
QUIET = (time(21), time(8))


def recipient(cid=1, tz="Asia/Shanghai", lang="zh-CN"):
    return Recipient(cid, f"+86138001380{cid:02d}", lang, tz, *QUIET)


def plan(starts_at, zone="Asia/Shanghai", recipients=None, now=datetime(2026, 1, 1, tzinfo=UTC)):
    return plan_visit_reminders(visit_id=7, revision=0, starts_at=starts_at, visit_zone=zone,
                                recipients=recipients or [recipient(tz=zone)], steps=STEPS, now=now)


def local(instant, tz):
    return instant.astimezone(ZoneInfo(tz)).replace(tzinfo=None)


def test_three_steps_at_local_times_and_each_stale_at_the_next_or_at_the_end_of_its_day():
    visit = datetime(2026, 3, 10, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai on the 10th
    steps = plan(visit)
    assert [(s.step, local(s.due_at, "Asia/Shanghai")) for s in steps] == [
        ("2d", datetime(2026, 3, 8, 18, 0)),
        ("1d", datetime(2026, 3, 9, 18, 0)),
        ("morning", datetime(2026, 3, 10, 7, 0)),
    ]
    # "In 2 days" and "tomorrow" are true only until local midnight.
    assert [local(s.expires_at, "Asia/Shanghai") for s in steps[:2]] == [
        datetime(2026, 3, 9, 0, 0), datetime(2026, 3, 10, 0, 0)]
    assert steps[2].expires_at == visit
    assert steps[2].during_quiet_hours and not steps[0].during_quiet_hours
    assert len({s.dedupe_key for s in steps}) == 3


@pytest.mark.parametrize(("tz", "step", "expected_utc"), [
    # New York: clocks go forward on Sunday 2026-03-08. 18:00 EST then 18:00 EDT.
    ("America/New_York", "2d", datetime(2026, 3, 7, 23, 0, tzinfo=UTC)),
    ("America/New_York", "1d", datetime(2026, 3, 8, 22, 0, tzinfo=UTC)),
    ("America/New_York", "morning", datetime(2026, 3, 9, 11, 0, tzinfo=UTC)),
    # London: clocks go forward on Sunday 2026-03-29.
    ("Europe/London", "2d", datetime(2026, 3, 7, 18, 0, tzinfo=UTC)),
])
def test_dst_in_the_contacts_own_zone(tz, step, expected_utc):
    visit = datetime(2026, 3, 9, 12, 30, tzinfo=UTC)  # Monday 08:30 in New York (EDT)
    steps = plan(visit, zone="America/New_York", recipients=[recipient(tz=tz, lang="en")])
    assert {s.step: s.due_at for s in steps}[step] == expected_utc


def test_london_spring_forward_week():
    visit = datetime(2026, 3, 30, 7, 30, tzinfo=UTC)  # Monday 08:30 BST
    steps = {s.step: s.due_at for s in plan(visit, zone="Europe/London")}
    assert steps["2d"] == datetime(2026, 3, 28, 18, 0, tzinfo=UTC)  # Saturday 18:00 GMT
    assert steps["1d"] == datetime(2026, 3, 29, 17, 0, tzinfo=UTC)  # Sunday 18:00 BST


def test_a_contact_far_away_gets_no_reminder_after_the_visit_started():
    visit = datetime(2026, 3, 10, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai = 00:30 in London
    steps = plan(visit, recipients=[recipient(tz="Europe/London", lang="en")])
    assert [s.step for s in steps] == ["2d", "1d"]
    assert all(s.due_at < visit for s in steps)


def test_steps_already_stale_are_not_planned():
    visit = datetime(2026, 3, 10, 0, 30, tzinfo=UTC)
    now = datetime(2026, 3, 9, 11, 0, tzinfo=UTC)  # 19:00 on the 9th: the 1d step is due, 2d stale
    assert [s.step for s in plan(visit, now=now)] == ["1d", "morning"]
    assert plan(visit, now=visit) == []


def test_contacts_who_do_not_want_reminders_get_none():
    r = Recipient(1, "+8613800138001", "zh-CN", "Asia/Shanghai", *QUIET, wants_visit_reminders=False)
    assert plan(datetime(2026, 3, 10, tzinfo=UTC), recipients=[r]) == []


@pytest.mark.parametrize(("clock", "quiet"), [
    (time(21, 0), True), (time(23, 59), True), (time(0, 0), True), (time(7, 59), True),
    (time(8, 0), False), (time(12, 0), False), (time(20, 59), False),
])
def test_quiet_hours_over_midnight(clock, quiet):
    assert in_quiet_hours(clock, *QUIET) is quiet


def test_quiet_hours_within_a_day_and_none():
    assert in_quiet_hours(time(13), time(12), time(14))
    assert not in_quiet_hours(time(14), time(12), time(14))
    assert not in_quiet_hours(time(3), time(0), time(0))


def test_next_allowed_moves_to_the_morning_across_a_dst_change():
    # 23:30 on Saturday 2026-03-07 in New York; the night is an hour shorter.
    instant = datetime(2026, 3, 8, 4, 30, tzinfo=UTC)
    allowed = next_allowed(instant, "America/New_York", *QUIET)
    assert allowed == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)  # 08:00 EDT
    assert next_allowed(allowed, "America/New_York", *QUIET) == allowed


@settings(max_examples=400, deadline=None)
@given(instant=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2050, 1, 1), timezones=st.just(UTC)),
       tz=st.sampled_from(ZONES),
       start=st.times(), end=st.times())
def test_next_allowed_is_the_first_moment_outside_quiet_hours(instant, tz, start, end):
    allowed = next_allowed(instant, tz, start, end)
    assert allowed >= instant
    wall = local(allowed, tz).time()
    # Outside quiet hours, or exactly the (possibly DST-shifted) end of them.
    assert not in_quiet_hours(wall, start, end) or allowed > instant
    assert allowed - instant <= timedelta(hours=26)
    if not in_quiet_hours(local(instant, tz).time(), start, end):
        assert allowed == instant


@settings(max_examples=200, deadline=None)
@given(day=st.dates(min_value=date(2020, 1, 1), max_value=date(2040, 1, 1)),
       at=st.times(min_value=time(6), max_value=time(18)),
       zone=st.sampled_from(ZONES), contact_zone=st.sampled_from(ZONES))
def test_planned_reminders_are_ordered_unique_and_before_the_visit(day, at, zone, contact_zone):
    starts_at = datetime.combine(day, at, tzinfo=ZoneInfo(zone)).astimezone(UTC)
    steps = plan(starts_at, zone=zone, recipients=[recipient(tz=contact_zone)],
                 now=starts_at - timedelta(days=30))
    dues = [s.due_at for s in steps]
    assert dues == sorted(dues) and len(set(dues)) == len(dues)
    for s in steps:
        assert s.due_at < s.expires_at <= starts_at


def test_decide():
    now = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai
    quiet = ("Asia/Shanghai", *QUIET)
    base = {"now": now, "expires_at": None, "phone": None, "participant_active": True,
            "ignore_quiet_hours": False, "quiet": None}
    assert decide(**base).action == "send"
    assert decide(**{**base, "expires_at": now}).reason == "stale"
    opted = PhoneNumber(phone="+1", opted_out_at=now, updated_at=now)
    assert decide(**{**base, "phone": opted}).reason == "opted out"
    gone = PhoneNumber(phone="+1", unreachable_at=now, updated_at=now)
    assert decide(**{**base, "phone": gone}).reason == "number unreachable"
    assert decide(**{**base, "participant_active": False}).reason == "participant not active"
    deferred = decide(**{**base, "quiet": quiet})
    assert deferred.action == "defer" and deferred.until == datetime(2026, 3, 10, 0, 0, tzinfo=UTC)
    assert decide(**{**base, "quiet": quiet, "ignore_quiet_hours": True}).action == "send"
    assert decide(**{**base, "quiet": quiet, "expires_at": deferred.until}).reason == "stale"


def test_backoff_grows_and_is_capped():
    assert [backoff(n).total_seconds() for n in (1, 2, 3)] == [5, 10, 20]
    assert backoff(20) == timedelta(minutes=10)


def test_rate_limiter_spaces_sends():
    clock = {"t": 100.0}
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        clock["t"] += seconds

    limiter = RateLimiter(5, monotonic=lambda: clock["t"], sleep=sleep)
    for _ in range(11):
        limiter.wait()
    assert clock["t"] == pytest.approx(102.0)  # 11 sends at 5 per second take 2 s
    assert RateLimiter(0, monotonic=lambda: 0, sleep=sleep).wait() is None


def test_a_step_in_a_spring_gap_moves_forward_and_one_in_an_autumn_fold_is_planned_once():
    from pro_app.protocol.model import ReminderStep

    night = (ReminderStep("night", 0, time(2, 30), during_quiet_hours=True),)
    nyc = recipient(tz="America/New_York", lang="en")
    # 2026-03-08 02:30 does not exist in New York: the text goes at 03:30 EDT (07:30 UTC).
    spring = plan_visit_reminders(visit_id=1, revision=0, starts_at=datetime(2026, 3, 8, 14, 0, tzinfo=UTC),
                                  visit_zone="America/New_York", recipients=[nyc], steps=night,
                                  now=datetime(2026, 3, 1, tzinfo=UTC))
    assert [s.due_at for s in spring] == [datetime(2026, 3, 8, 7, 30, tzinfo=UTC)]
    # 2026-11-01 01:30 happens twice in New York: one text, at the first 01:30 (EDT, 05:30 UTC).
    fold = (ReminderStep("night", 0, time(1, 30), during_quiet_hours=True),)
    autumn = plan_visit_reminders(visit_id=1, revision=0, starts_at=datetime(2026, 11, 1, 14, 0, tzinfo=UTC),
                                  visit_zone="America/New_York", recipients=[nyc], steps=fold,
                                  now=datetime(2026, 10, 1, tzinfo=UTC))
    assert [s.due_at for s in autumn] == [datetime(2026, 11, 1, 5, 30, tzinfo=UTC)]
