"""Quiet hours: when a patient or family may be texted (pure)."""

from datetime import datetime, time, timedelta

from pro_app.clock import local_to_utc, to_local


def in_quiet_hours(local: time, start: time, end: time) -> bool:
    """Tell whether a local wall-clock time lies in [start, end), which may span midnight."""
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def next_allowed(instant: datetime, tz: str, start: time, end: time) -> datetime:
    """Return the first instant at or after `instant` outside the quiet hours of zone `tz`."""
    local = to_local(instant, tz)
    if not in_quiet_hours(local.time().replace(tzinfo=None), start, end):
        return instant
    day = local.date()
    if start > end and local.time().replace(tzinfo=None) >= start:
        day += timedelta(days=1)  # quiet hours began this evening and end tomorrow
    return max(instant, local_to_utc(day, end, tz))


def latest_allowed(instant: datetime, tz: str, start: time, end: time, margin=timedelta(hours=1)) -> datetime:
    """Return `instant`, or when it falls in quiet hours, `margin` before those quiet hours began."""
    local = to_local(instant, tz)
    clock = local.time().replace(tzinfo=None)
    if not in_quiet_hours(clock, start, end):
        return instant
    day = local.date()
    if start > end and clock < end:
        day -= timedelta(days=1)  # quiet hours that end this morning began yesterday evening
    return local_to_utc(day, start, tz) - margin
