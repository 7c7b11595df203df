"""/cal/<token>.ics: a family's visit calendar to subscribe to (webcal://), or a page offering it."""

from datetime import time, timedelta
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app, g, render_template, request
from icalendar import Alarm, Calendar, Event
from sqlalchemy import select

from pro_app import ratelimits
from pro_app.clock import local_to_utc
from pro_app.db import db
from pro_app.extensions import limiter
from pro_app.participants.models import Contact
from pro_app.protocol import current_protocol
from pro_app.protocol.hotline import hotline
from pro_app.reminders.operations import preparation_key
from pro_app.reminders.texts import PREPARATION
from pro_app.tokens import lookup_hash
from pro_app.visits.models import VisitStatus

bp = Blueprint("calendar", __name__)

CALENDAR_NAMES = {"zh-CN": "研究访视日历", "en": "Study visits"}
#: Each visit type as the calendar names it: what to expect, never the drug or the illness.
SUMMARIES = {
    ("infusion", "zh-CN"): "输注日（研究访视）", ("infusion", "en"): "Infusion day (study visit)",
    ("marrow", "zh-CN"): "骨髓穿刺（研究访视）", ("marrow", "en"): "Marrow aspirate (study visit)",
    ("other", "zh-CN"): "研究访视", ("other", "en"): "Study visit",
}
CHANGE_NOTE = {"zh-CN": "需要改期请回复短信或致电 {phone}。", "en": "To change it, reply to our text or call {phone}."}
ALARM_NOTE = {"zh-CN": "明天：{summary}", "en": "Tomorrow: {summary}"}
#: The alarm goes the evening before, local to the contact, like the "tomorrow" text.
ALARM_AT = time(19, 0)
#: Subscribed calendars look again this often, so a moved visit shows within the hour.
REFRESH = timedelta(hours=1)
SHOWN = (VisitStatus.SCHEDULED, VisitStatus.CONFIRMED, VisitStatus.CANCELLED)


def build_calendar(contact, host, protocol):
    """Return the iCalendar bytes of a contact's study visits: type, place, an alarm the evening before."""
    lang = contact.language
    phone = hotline(protocol.site_phone).display
    cal = Calendar()
    cal.add("prodid", "-//pro_app//study visits//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", CALENDAR_NAMES[lang])
    cal.add("x-wr-timezone", contact.participant.timezone)
    cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", REFRESH)
    for visit in contact.participant.visits:
        if visit.status not in SHOWN:
            continue
        kind = visit.kind.value
        summary = SUMMARIES[(kind, lang)]
        event = Event()
        # A stable UID and a growing SEQUENCE let a subscribed calendar move or cancel the event.
        event.add("uid", f"visit-{visit.id}@{host}")
        event.add("sequence", visit.revision)
        event.add("summary", summary)
        event.add("location", protocol.place(kind, lang))
        event.add("description", PREPARATION[(preparation_key(visit), lang)] + CHANGE_NOTE[lang].format(phone=phone))
        event.add("dtstart", visit.starts_at)
        event.add("dtend", visit.starts_at + timedelta(minutes=visit.duration_minutes))
        event.add("dtstamp", visit.updated_at)
        event.add("status", "CANCELLED" if visit.status == VisitStatus.CANCELLED else "CONFIRMED")
        evening = local_to_utc(visit.local_start.date() - timedelta(days=1), ALARM_AT, contact.timezone)
        if visit.status != VisitStatus.CANCELLED and evening < visit.starts_at:
            alarm = Alarm()
            alarm.add("action", "DISPLAY")
            alarm.add("description", ALARM_NOTE[lang].format(summary=summary))
            alarm.add("trigger", evening)
            event.add_component(alarm)
        cal.add_component(event)
    return cal.to_ical()


def _wants_page():
    """Tell a person tapping the link in a browser from a calendar app fetching the feed."""
    accept = request.accept_mimetypes
    return accept["text/html"] > accept["text/calendar"]


@bp.get("/cal/<token>.ics")
@limiter.limit(ratelimits.per_link, key_func=ratelimits.link_token)
@limiter.limit(ratelimits.links_per_address)
def ics(token):
    token_hash = lookup_hash(token)
    contact = token_hash and db.session.scalar(select(Contact).where(Contact.calendar_token_hash == token_hash))
    if contact is None:
        abort(404)
    host = urlsplit(current_app.config["PUBLIC_URL"]).hostname or "localhost"
    if _wants_page() and request.args.get("download") != "1":
        # A phone imports an https .ics once; webcal:// subscribes, so later moves show up.
        g.respondent_language = contact.language
        https = request.base_url
        webcal = "webcal://" + https.split("://", 1)[1]
        return render_template("calendar/subscribe.html", webcal=webcal, download=https + "?download=1",
                               hotline=hotline(current_protocol().site_phone), contact=None), 200, {
            "Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"}
    return Response(build_calendar(contact, host, current_protocol()), mimetype="text/calendar",
                    headers={"Cache-Control": "private, max-age=300", "Referrer-Policy": "no-referrer",
                             "Content-Disposition": "inline; filename=visits.ics"})
