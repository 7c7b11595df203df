"""/cal/<token>.ics: a family's visit calendar to subscribe to."""

from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app
from icalendar import Calendar, Event
from sqlalchemy import select

from pro_app import ratelimits
from pro_app.db import db
from pro_app.extensions import limiter
from pro_app.participants.models import Contact
from pro_app.reminders.operations import hash_token
from pro_app.visits.models import VisitStatus

bp = Blueprint("calendar", __name__)

TITLES = {"zh-CN": ("研究访视", "研究访视日历"), "en": ("Study visit", "Study visits")}
SHOWN = (VisitStatus.SCHEDULED, VisitStatus.CONFIRMED, VisitStatus.CANCELLED)


def build_calendar(contact, host):
    """Return the iCalendar bytes of a contact's study visits (neutral titles only)."""
    title, name = TITLES[contact.language]
    cal = Calendar()
    cal.add("prodid", "-//pro_app//study visits//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", contact.participant.timezone)
    for visit in contact.participant.visits:
        if visit.status not in SHOWN:
            continue
        event = Event()
        event.add("uid", f"visit-{visit.id}@{host}")
        event.add("sequence", visit.revision)
        event.add("summary", title)
        event.add("dtstart", visit.starts_at)
        event.add("dtend", visit.starts_at + timedelta(minutes=visit.duration_minutes))
        event.add("dtstamp", visit.updated_at)
        event.add("status", "CANCELLED" if visit.status == VisitStatus.CANCELLED else "CONFIRMED")
        cal.add_component(event)
    return cal.to_ical()


@bp.get("/cal/<token>.ics")
@limiter.limit(ratelimits.per_link, key_func=ratelimits.link_token)
@limiter.limit(ratelimits.links_per_address)
def ics(token):
    if len(token) > 64:
        abort(404)
    contact = db.session.scalar(select(Contact).where(Contact.calendar_token_hash == hash_token(token)))
    if contact is None:
        abort(404)
    host = urlsplit(current_app.config["PUBLIC_URL"]).hostname or "localhost"
    return Response(build_calendar(contact, host), mimetype="text/calendar",
                    headers={"Cache-Control": "private, max-age=300", "Referrer-Policy": "no-referrer",
                             "Content-Disposition": "inline; filename=visits.ics"})
