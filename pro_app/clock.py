"""Time helpers: UTC inside, IANA zones at the edges."""

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones


def utcnow():
    """Return the current instant as an aware UTC datetime (only at the edges)."""
    return datetime.now(UTC)


def zone(name):
    """Return the ZoneInfo for an IANA name, raising ValueError when unknown."""
    if not isinstance(name, str) or not name or name != name.strip():
        raise ValueError(f"unknown time zone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, IsADirectoryError):
        raise ValueError(f"unknown time zone {name!r}") from None


def is_zone(name):
    """Tell whether a string names an IANA time zone."""
    try:
        zone(name)
    except ValueError:
        return False
    return True


def local_to_utc(day: date, at: time, tz: str) -> datetime:
    """Turn a local wall-clock date and time into a UTC instant.

    A time that falls in a spring-forward gap moves forward by the gap; a time that occurs
    twice in an autumn fold means its first occurrence.
    """
    return datetime.combine(day, at, tzinfo=zone(tz)).astimezone(UTC)


def to_local(instant: datetime, tz: str) -> datetime:
    """Show a stored UTC instant on a zone's wall clock."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(zone(tz))


def common_zones():
    """Return the IANA zone names, sorted, for pickers."""
    return sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))
