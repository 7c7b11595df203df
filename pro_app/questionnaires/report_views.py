"""The respondent's "report a problem now" pages, on the questionnaire blueprint."""

from flask import current_app, g, render_template, url_for

from pro_app.clock import utcnow
from pro_app.db import db
from pro_app.extensions import limiter
from pro_app.questionnaires import current_instruments, report
from pro_app.questionnaires import operations as ops
from pro_app.questionnaires.views import _state_page, begin, bp


def report_url(contact):
    """Return a contact's standing "report a problem now" URL (for pages and texts)."""
    return url_for("q.report_entry", token=report.report_token(contact.id, current_app.secret_key))


def _contact(token):
    contact = report.contact_for_token(db.session, token, current_app.secret_key)
    if contact is None or not report.can_report(contact, contact.participant):
        return None
    return contact


@bp.get("/report/<token>")
@limiter.limit("30 per minute")
def report_entry(token):
    """Show what a report is; a GET creates nothing (link previews)."""
    contact = _contact(token)
    if contact is None:
        return _state_page("unknown")
    g.respondent_language = contact.language
    instrument = current_instruments()[report.report_instrument(contact.participant)]
    return render_template("q/report.html", contact=contact, instrument=instrument)


@bp.post("/report/<token>")
@limiter.limit("10 per minute")
def report_start(token):
    """Open a fresh report for this contact and start answering it."""
    contact = _contact(token)
    if contact is None:
        return _state_page("unknown")
    now = utcnow()
    assignment = report.open_report(db.session, contact, now)
    link_token = ops.new_link(db.session, assignment.id, now)
    db.session.flush()
    link = ops.find_link(db.session, link_token)
    return begin(assignment, link, current_instruments()[assignment.instrument_id], now)


def init_app(app):
    """Let every respondent page offer the standing report link."""
    app.add_template_global(report_url, "report_url")
