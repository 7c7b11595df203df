"""The visit planner: pure, checked over any start date and any IANA zone."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pro_app.clock import local_to_utc, to_local
from pro_app.protocol.model import load_protocol
from pro_app.protocol.planner import plan_schedule, study_day_date

PROTOCOL = load_protocol()
ZONES = sorted(available_timezones() - {"Factory", "localtime"})

starts = st.dates(min_value=date(2000, 1, 1), max_value=date(2060, 12, 31))
zones = st.sampled_from(ZONES)


def by_kind(plan, kind):
    return [v for v in plan if v.kind == kind]


def test_default_protocol_doses_per_phase():
    plan = plan_schedule(PROTOCOL, date(2026, 3, 2), "Asia/Shanghai")
    infusions = by_kind(plan, "infusion")
    phases = [v.phase for v in infusions]
    assert phases.count("weekly") == 8
    assert phases.count("every-2-weeks") == 8
    assert phases.count("every-4-weeks") == 7  # weeks 25, 29, ..., 49
    assert [v.dose_number for v in infusions] == list(range(1, 24))
    # Day 1 is the first infusion; dose 9 is week 9, day 57.
    assert infusions[0].local_date == date(2026, 3, 2)
    assert infusions[8].local_date == date(2026, 3, 2) + timedelta(days=56)
    assert [v.duration_minutes for v in infusions[:3]] == [420, 240, 210]


def test_default_protocol_marrow_aspirates():
    start = date(2026, 3, 2)
    marrow = by_kind(plan_schedule(PROTOCOL, start, "Asia/Shanghai"), "marrow")
    assert [v.key for v in marrow] == [
        "marrow-screening", "marrow-day-29", "marrow-day-64", "marrow-week-16",
        "marrow-week-24", "marrow-week-36", "marrow-week-48",
    ]
    assert marrow[0].local_date < start <= marrow[1].local_date
    assert marrow[1].local_date == start + timedelta(days=28)
    assert marrow[2].local_date == start + timedelta(days=63)
    assert marrow[3].local_date == start + timedelta(days=105)


def test_study_days_have_no_day_zero():
    start = date(2026, 3, 2)
    assert study_day_date(start, 1) == start
    assert study_day_date(start, -1) == start - timedelta(days=1)
    assert study_day_date(start, 2) == start + timedelta(days=1)


@settings(max_examples=300, deadline=None)
@given(start=starts, tz=zones)
def test_any_start_and_zone_gives_a_sound_schedule(start, tz):
    plan = plan_schedule(PROTOCOL, start, tz)
    for kind in ("infusion", "marrow"):
        visits = by_kind(plan, kind)
        dates = [v.local_date for v in visits]
        assert all(a < b for a, b in zip(dates, dates[1:])), "local dates strictly increase"
        for a, b in zip(visits, visits[1:]):
            assert a.window_closes_on < b.window_opens_on, "windows never overlap"
        for v in visits:
            assert v.window_opens_on <= v.local_date <= v.window_closes_on
    phases = [v.phase for v in by_kind(plan, "infusion")]
    assert (phases.count("weekly"), phases.count("every-2-weeks"), phases.count("every-4-weeks")) == (8, 8, 7)
    starts_at = [v.starts_at for v in plan]
    assert starts_at == sorted(starts_at)


@settings(max_examples=300, deadline=None)
@given(start=starts, tz=zones)
def test_local_clock_times_survive_dst(start, tz):
    for v in plan_schedule(PROTOCOL, start, tz):
        assert v.starts_at.tzinfo is UTC
        local = to_local(v.starts_at, tz)
        if (local.date(), local.time()) != (v.local_date, v.local_time):
            # Only a wall time skipped by a spring-forward gap may differ, and it moves forward.
            naive = datetime.combine(v.local_date, v.local_time)
            assert local.replace(tzinfo=None) > naive
            assert local.replace(tzinfo=None) - naive <= timedelta(hours=2)


@settings(max_examples=500, deadline=None)
@given(day=st.dates(min_value=date(1990, 1, 1), max_value=date(2060, 1, 1)),
       at=st.times(), tz=zones)
def test_local_to_utc_round_trips_or_moves_forward(day, at, tz):
    instant = local_to_utc(day, at, tz)
    back = to_local(instant, tz).replace(tzinfo=None)
    wanted = datetime.combine(day, at)
    assert back == wanted or wanted < back <= wanted + timedelta(hours=2)


@pytest.mark.parametrize(("tz", "day", "at", "expected_utc"), [
    # New York springs forward at 02:00 on 2026-03-08: 02:30 does not exist, 03:30 EDT.
    ("America/New_York", date(2026, 3, 8), time(2, 30), datetime(2026, 3, 8, 7, 30, tzinfo=UTC)),
    # ...and falls back on 2026-11-01: 01:30 happens twice; the first (EDT) is meant.
    ("America/New_York", date(2026, 11, 1), time(1, 30), datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),
    # London: 08:30 BST in summer, 08:30 GMT in winter.
    ("Europe/London", date(2026, 3, 30), time(8, 30), datetime(2026, 3, 30, 7, 30, tzinfo=UTC)),
    ("Europe/London", date(2026, 3, 27), time(8, 30), datetime(2026, 3, 27, 8, 30, tzinfo=UTC)),
    ("Asia/Shanghai", date(2026, 7, 1), time(8, 30), datetime(2026, 7, 1, 0, 30, tzinfo=UTC)),
])
def test_dst_edges(tz, day, at, expected_utc):
    assert local_to_utc(day, at, tz) == expected_utc


def test_weekly_infusions_keep_their_wall_time_across_london_dst():
    # Start two weeks before the clocks change on 2026-03-29.
    plan = by_kind(plan_schedule(PROTOCOL, date(2026, 3, 15), "Europe/London"), "infusion")
    local_times = {to_local(v.starts_at, "Europe/London").time() for v in plan}
    assert local_times == {time(8, 30)}
    offsets = {v.starts_at.astimezone(ZoneInfo("Europe/London")).utcoffset() for v in plan}
    assert offsets == {timedelta(0), timedelta(hours=1)}
