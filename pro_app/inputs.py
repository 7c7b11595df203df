"""Range checks for what staff pages and webhooks receive: ids, page numbers, dates, NUL bytes.

Bad input gets a 404 or 400 page here, before it reaches the database: PostgreSQL refuses
integers beyond its column types and NUL bytes in text, and Python's dates stop at year 1.
"""

from datetime import date, timedelta

from flask import abort, request
from werkzeug.routing import IntegerConverter, ValidationError

#: The largest id an INTEGER primary key holds (PostgreSQL's int4, and every id here is one).
MAX_DB_ID = 2**31 - 1

#: No page list goes further than this; beyond it a page number is noise.
MAX_PAGE = 100_000

#: Study dates before this are typing mistakes (the trial and every visit are after it).
EARLIEST_STUDY_DATE = date(2000, 1, 1)
#: Day 1 of an enrolment is on or before this (a later one is a typing mistake).
LATEST_START = date(2099, 12, 31)
#: Screening and baseline visits come before day 1, but not by more than this.
BEFORE_START = timedelta(days=365)
#: Treatment and follow-up end well within this after day 1.
AFTER_START = timedelta(days=3653)


class DatabaseIdConverter(IntegerConverter):
    """`<dbid:name>`: a positive database id; anything else (0, ≥ 2^31) is a 404."""

    def __init__(self, url_map):
        super().__init__(url_map, fixed_digits=0, min=1, max=MAX_DB_ID)

    def to_python(self, value):
        # Leading zeros and absurd lengths never name a row.
        if len(value) > 10:
            raise ValidationError()
        return super().to_python(value)


def page_arg(name="page"):
    """Return the page number asked for: 1 when absent or nonsense, never beyond MAX_PAGE."""
    text = request.args.get(name, "")
    if text.isascii() and text.isdigit() and len(text) <= 19:
        return max(1, min(int(text), MAX_PAGE))
    return 1


def bounded_code(text, high=999_999):
    """Return a provider's numeric error code, or None when missing or not a plausible code."""
    text = (text or "").strip()
    if not text or len(text) > 6 or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if 0 < value <= high else None


def study_date_bounds(start):
    """Return (first, last) dates a visit of a participant starting on `start` may have."""
    return max(EARLIEST_STUDY_DATE, start - BEFORE_START), start + AFTER_START


def _has_nul(values):
    return any("\x00" in key or any("\x00" in v for v in values.getlist(key)) for key in values)


def refuse_nul():
    """Answer 400 to a staff request with a NUL byte anywhere: no field of ours holds one."""
    if not request.path.startswith("/staff"):
        return  # patient forms drop NUL from free text themselves; webhooks strip it from bodies
    if "\x00" in request.path or _has_nul(request.args) or (
            request.method == "POST" and _has_nul(request.form)):
        abort(400)


def init_app(app):
    """Register the id converter and the NUL check; call before any blueprint is registered."""
    app.url_map.converters["dbid"] = DatabaseIdConverter
    app.before_request(refuse_nul)
