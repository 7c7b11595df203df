"""One rule for time on staff pages: the study zone, named, and the participant's own beside it."""

from datetime import datetime

from babel.dates import format_datetime, format_skeleton, get_timezone_name
from flask_babel import get_locale
from markupsafe import Markup, escape

from pro_app.clock import to_local, utcnow

#: What a hospital in China calls its own zone; babel's CLDR name is the formal 中国标准时间.
LOCAL_NAMES = {("zh", "Asia/Shanghai"): "北京时间"}


def zone_name(instant, tz, locale):
    """Name a zone as a reader says it at that instant: 'China Standard Time', '北京时间', 'British Summer Time'."""
    key = (locale.language, tz)
    if key in LOCAL_NAMES:
        return LOCAL_NAMES[key]
    return get_timezone_name(to_local(instant, tz), width="long", locale=locale)


def wall_clock(instant, tz, locale, *, today=None, seconds=False, weekday=False):
    """Format an instant's date and time on a zone's wall clock: '25 Nov 18:04', with the year when not this one."""
    local = to_local(instant, tz)
    this_year = to_local(today or utcnow(), tz).year
    skeleton = ("MMMEd" if weekday else "MMMd") if local.year == this_year else ("yMMMEd" if weekday else "yMMMd")
    day = format_skeleton(skeleton, local, locale=locale)
    return f"{day} {format_datetime(local, 'HH:mm:ss' if seconds else 'HH:mm', locale=locale)}"


def when_text(instant, study_tz, locale, own_tz=None, *, today=None, seconds=False, named=True, weekday=False):
    """Say an instant in the study zone with its name, and in the participant's zone where that differs."""
    text = wall_clock(instant, study_tz, locale, today=today, seconds=seconds, weekday=weekday)
    if named:
        text = f"{text} {zone_name(instant, study_tz, locale)}"
    # Zones with other names but the same clock (Asia/Hong_Kong) would only repeat the time.
    if own_tz and to_local(instant, own_tz).utcoffset() != to_local(instant, study_tz).utcoffset():
        study_day, own_day = to_local(instant, study_tz).date(), to_local(instant, own_tz).date()
        own = (format_datetime(to_local(instant, own_tz), "HH:mm", locale=locale) if own_day == study_day
               else wall_clock(instant, own_tz, locale, today=today))
        text = f"{text} ({own} {zone_name(instant, own_tz, locale)})"
    return text


def when(instant, own_tz=None, *, seconds=False, named=True, weekday=False):
    """Render an instant for a staff page as a <time> element: study zone named, the participant's beside it."""
    if not isinstance(instant, datetime):
        return "—"
    from pro_app.protocol import current_protocol

    study_tz = current_protocol().timezone
    text = when_text(instant, study_tz, get_locale(), own_tz, seconds=seconds, named=named,
                     weekday=weekday)
    return Markup('<time datetime="{}">{}</time>').format(escape(to_local(instant, "UTC").isoformat()), text)


def study_zone_name(instant=None):
    """Name the study zone for a column heading ('China Standard Time', '北京时间')."""
    from pro_app.protocol import current_protocol

    return zone_name(instant or utcnow(), current_protocol().timezone, get_locale())


def init_app(app):
    app.add_template_global(when)
    app.add_template_global(study_zone_name)
