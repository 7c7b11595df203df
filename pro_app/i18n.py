"""Language choice: zh-CN (the study default) and English."""

from urllib.parse import urlsplit

from babel import Locale
from babel.dates import format_datetime, format_skeleton
from flask import Blueprint, g, redirect, request, session
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from pro_app.clock import to_local
from pro_app.extensions import babel

bp = Blueprint("i18n", __name__)

#: Our language tags and the Babel locale each maps to.
LOCALES = {"zh-CN": "zh_CN", "en": "en"}
PARSED = {tag: Locale.parse(name) for tag, name in LOCALES.items()}


def select_language():
    """Return the page language: chosen here, else the staff member's, else the browser's."""
    chosen = session.get("lang")
    if chosen in LOCALES:
        return chosen
    if getattr(current_user, "is_authenticated", False) and current_user.language in LOCALES:
        return current_user.language
    if g.get("respondent_language") in LOCALES:
        return g.respondent_language
    return request.accept_languages.best_match(list(LOCALES), default="zh-CN")


def select_locale():
    # A parsed Locale: given a name, flask-babel parses it on every request (half a millisecond,
    # a tenth of a questionnaire page's time).
    return PARSED[select_language()]


def safe_next(target, fallback="/"):
    """Return a local path to go back to, never another site."""
    if not target:
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return fallback
    return target


@bp.get("/lang/<code>")
def switch(code):
    """Remember the chosen language for this browser and go back."""
    if code in LOCALES:
        session["lang"] = code
        if getattr(current_user, "is_authenticated", False) and current_user.language != code:
            from pro_app.db import db, may_write

            # The staff member's choice follows them to their next login, on any browser. A GET reads
            # in a deferred transaction; this write gets one of its own that may write (SQLite).
            db.session.commit()
            token = may_write.set(True)
            try:
                current_user.language = code
                db.session.commit()
            finally:
                may_write.reset(token)
            session["staff_lang"] = code
    return redirect(safe_next(request.args.get("next")), code=303)


def init_app(app):
    babel.init_app(app, locale_selector=select_locale, default_translation_directories="translations")
    app.register_blueprint(bp)

    @app.context_processor
    def _language():
        from pro_app.protocol import current_protocol

        lang = select_language()
        return {"page_lang": lang, "label": label, "local_dt": local_dt, "month_name": month_name,
                "duration": duration,
                "site_name": current_protocol().site_name[lang]}



LABELS = {
    # participant status
    "active": _l("active"), "paused": _l("paused"), "withdrawn": _l("withdrawn"),
    "completed": _l("completed"), "deceased": _l("deceased"),
    # visit status
    "scheduled": _l("scheduled"), "confirmed": _l("confirmed"), "done": _l("done"),
    "missed": _l("missed"), "cancelled": _l("cancelled"),
    # roles
    "nurse": _l("nurse"), "investigator": _l("investigator"), "admin": _l("admin"),
    "monitor": _l("monitor"), "patient": _l("patient"), "caregiver": _l("caregiver"),
    # texts
    "pending": _l("pending"), "sending": _l("sending"), "sent": _l("sent"), "delivered": _l("delivered"),
    "undelivered": _l("undelivered"), "failed": _l("failed"), "suppressed": _l("suppressed"),
    "unknown": _l("outcome unknown"), "welcome": _l("welcome"), "visit_reminder": _l("visit reminder"),
    "reply_help": _l("help reply"), "reply_opt_in": _l("opt-in reply"), "reply_confirmed": _l("confirmation reply"),
    "reply_reschedule": _l("reschedule reply"), "stale": _l("stale: no longer useful"),
    "reply_language": _l("language reply"), "reply_evening_time": _l("evening time reply"),
    "reply_evening_choices": _l("evening times offered"),
    "preferences changed": _l("reminder time or language changed"),
    "opted out": _l("number opted out"), "number unreachable": _l("number unreachable"),
    "participant not active": _l("participant not active"), "quiet hours": _l("waiting for the end of quiet hours"),
    "visit changed": _l("visit changed"), "retrying": _l("retrying"), "outcome unknown": _l("outcome unknown"),
    "interrupted while sending": _l("interrupted while sending"),
    "refused by the gateway": _l("refused by the gateway"),
    # replies
    "opt_out": _l("stop (opt out)"), "opt_in": _l("start (opt in)"), "help": _l("help"),
    "confirm": _l("confirm visit"), "reschedule": _l("asks for another date"), "other": _l("other"),
    "language": _l("chooses the language"), "evening_time": _l("chooses the evening reminder time"),
    # questionnaires
    "in_progress": _l("in progress"), "expired": _l("expired"), "superseded": _l("superseded"),
    "questionnaire_invite": _l("questionnaire invitation"), "questionnaire_nudge": _l("questionnaire nudge"),
    "questionnaire_invites": _l("questionnaire invitations in one text"),
    "questionnaire answered or closed": _l("questionnaire answered or closed"),
    # alerts
    "red": _l("red"), "amber": _l("amber"), "open": _l("open"), "acknowledged": _l("acknowledged"),
    "resolved": _l("resolved"), "staff_alert": _l("staff alert"),
    "called_patient": _l("called the patient"), "advised_hospital_visit": _l("advised a hospital visit"),
    "contacted_investigator": _l("contacted the investigator"), "no_action_needed": _l("no action needed"),
    # age groups
    "child": _l("child (under 7, by proxy)"), "adolescent": _l("adolescent (7-17)"), "adult": _l("adult"),
}


#: A stored reason that names the text which carried this one ("sent together with text 12").
SENT_TOGETHER = "sent together with text "


def label(value):
    """Return the translated label of a stored enum value."""
    if isinstance(value, str) and value.startswith(SENT_TOGETHER):
        return _l("sent in one text with other invitations (text %(id)s)", id=value[len(SENT_TOGETHER):])
    return LABELS.get(value, value)


def local_dt(instant, tz, pattern="yyyy-MM-dd EEE HH:mm"):
    """Format a UTC instant on a zone's wall clock, in the page language."""
    return format_datetime(to_local(instant, tz), pattern, locale=get_locale())


def month_name(local):
    """Format a month heading such as 'March 2026' or '2026年3月'."""
    return format_skeleton("yMMMM", local.date(), locale=get_locale())


def duration(delta):
    """Say how long, in the page language: '2 h 05 min', '3 d 4 h'."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return _l("%(d)d d %(h)d h", d=days, h=hours)
    if hours:
        return _l("%(h)d h %(m)s min", h=hours, m=f"{minutes:02d}")
    return _l("%(m)d min", m=minutes)

