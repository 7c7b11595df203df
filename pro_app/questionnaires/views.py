"""The respondent's pages: from the link in a text to a submitted questionnaire."""

from flask import Blueprint, abort, g, redirect, render_template, request, session, url_for
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from pro_app import alerts, ratelimits
from pro_app.alerts.models import AlertOccurrence
from pro_app.alerts.operations import assess_draft, assess_response, pending_keys_to_ids
from pro_app.alerts.rules import most_urgent
from pro_app.clock import utcnow
from pro_app.db import db
from pro_app.extensions import limiter
from pro_app.i18n import select_language
from pro_app.protocol import current_protocol
from pro_app.questionnaires import current_instruments, invitations
from pro_app.questionnaires import operations as ops
from pro_app.questionnaires.answers import missing_required, visible
from pro_app.questionnaires.models import (
    Assignment,
    AssignmentState,
    InstrumentVersion,
    QuestionnaireLink,
    Response,
    ResponseDraft,
)
from pro_app.reminders.preferences import apply_baseline_answer
from pro_app.sms.dispatch import send_now
from pro_app.sms.gateway import current_gateway

bp = Blueprint("q", __name__, url_prefix="/q")
SESSION_KEY = "q_assignment"
LINK_KEY = "q_link"
#: The list (by its link's hash) this session's questionnaire was started from, to go back to.
LIST_KEY = "q_list"


@bp.after_request
def _private(response):
    # Links carry tokens and pages carry answers: never cached, never sent to another site
    # as a referrer (same-origin still lets the browser name our own origin on form posts).
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def link_state(link, now):
    """Name what a link can do now: open, completed, expired, superseded or not_yet."""
    assignment = link.assignment
    if assignment.state == AssignmentState.COMPLETED:
        return "completed"
    if link.superseded_at is not None or assignment.state == AssignmentState.SUPERSEDED:
        return "superseded"
    if assignment.state == AssignmentState.EXPIRED or now >= assignment.closes_at:
        return "expired"
    if now < assignment.opens_at:
        return "not_yet"
    return "open"


STATE_CODES = {"unknown": 404, "superseded": 410, "expired": 410, "closed": 410, "bad_request": 400}


def _state_page(state, assignment=None):
    if assignment is not None:
        _language(assignment)
    return render_template("q/state.html", state=state, a=assignment), STATE_CODES.get(state, 200)


def _open_link(token, now):
    """Return (link, instrument) for a link that can be answered now, or (None, a page saying why)."""
    link = ops.find_link(db.session, token)
    if link is None:
        return None, _state_page("unknown")
    state = link_state(link, now)
    if state != "open":
        return None, _state_page(state, link.assignment)
    instrument = current_instruments().get(link.assignment.instrument_id)
    if instrument is None:
        abort(404)
    return link, instrument


@bp.get("/<token>")
@limiter.limit(ratelimits.per_link, key_func=ratelimits.link_token)
@limiter.limit(ratelimits.links_per_address)
def entry(token):
    """Show the start page; a GET changes nothing, so link previews cannot use a link up."""
    now = utcnow()
    links = invitations.find_list(db.session, token) if ops.find_link(db.session, token) is None else []
    if links:
        return _list_page(links, now, url_for(".start", token=token))
    link, found = _open_link(token, now)
    if link is None:
        return found
    return render_template("q/start.html", a=link.assignment, instrument=found, token=token,
                           lang=_language(link.assignment))


@bp.post("/<token>")
@limiter.limit(ratelimits.per_link, key_func=ratelimits.link_token)
@limiter.limit(ratelimits.links_per_address)
def start(token):
    """Start (or resume) answering, in a fresh session bound to this one assignment."""
    now = utcnow()
    links = invitations.find_list(db.session, token) if ops.find_link(db.session, token) is None else []
    if links:
        return _start_listed(links, now)
    link, found = _open_link(token, now)
    if link is None:
        return found
    return begin(link.assignment, link, found, now)


def begin(assignment, link, instrument, now):
    """Bind a fresh respondent session to one assignment and its link, open the draft, commit and go to it."""
    chosen = session.get("lang")
    session.clear()  # a new respondent session; nothing of an earlier one carries over
    session[SESSION_KEY] = assignment.id
    session[LINK_KEY] = link.id
    if link.list_hash:
        session[LIST_KEY] = link.list_hash
    if chosen:
        session["lang"] = chosen
    ops.open_draft(db.session, assignment, instrument, now)
    db.session.commit()
    return redirect(url_for(".answer"), code=303)


def _list_page(links, now, action):
    """Show the questionnaires a text named together, each with its state; or why none can be answered."""
    items = [{"link": link, "a": link.assignment, "state": link_state(link, now),
              "instrument": current_instruments().get(link.assignment.instrument_id)} for link in links]
    items = [item for item in items if item["instrument"] is not None]
    if not any(item["state"] == "open" for item in items):
        return _finished_list(links, now)
    assignment = items[0]["a"]
    return render_template("q/list.html", items=items, action=action, contact=assignment.contact,
                           open_count=sum(1 for item in items if item["state"] == "open"),
                           lang=_language(assignment))


FINISHED_ORDER = {"not_yet": 0, "expired": 1, "superseded": 2}


def _finished_list(links, now):
    """Say why nothing on a list can be answered: the page a single link shows in that state."""
    states = [(link_state(link, now), link.assignment) for link in links]
    # One still to open says when; then a closed window outweighs a replaced link.
    waiting = sorted(((state, a) for state, a in states if state != "completed"),
                     key=lambda found: FINISHED_ORDER.get(found[0], len(FINISHED_ORDER)))
    return _state_page(*(waiting or states)[0])


def _start_listed(links, now):
    """Start the questionnaire chosen on a list, through its own link."""
    chosen = request.form.get("a", type=int)
    link = next((link for link in links if link.assignment_id == chosen), None)
    if link is None:
        if not any(link_state(other, now) == "open" for other in links):
            return _finished_list(links, now)
        return _state_page("bad_request", links[0].assignment)
    state = link_state(link, now)
    if state != "open":
        return _state_page(state, link.assignment)
    instrument = current_instruments().get(link.assignment.instrument_id)
    if instrument is None:
        abort(404)
    return begin(link.assignment, link, instrument, now)


def _session_list():
    list_hash = session.get(LIST_KEY)
    return invitations.listed(db.session, list_hash) if isinstance(list_hash, str) else []


@bp.get("/list")
def listed():
    """Show the list this session's questionnaire was started from again, without its link."""
    links = _session_list()
    if not links:
        return _state_page("no_session")
    return _list_page(links, utcnow(), url_for(".start_listed"))


@bp.post("/list")
def start_listed():
    """Start another questionnaire of this session's list."""
    links = _session_list()
    if not links:
        return _state_page("no_session")
    return _start_listed(links, utcnow())


def _language(assignment):
    """Use the respondent's language unless they chose another on the page."""
    g.respondent_language = assignment.contact.language
    return select_language()


def _current():
    """Return (assignment, draft, instrument) of this session, or a page explaining why not."""
    assignment_id = session.get(SESSION_KEY)
    # Each page needs the respondent's contact (for the language) and the draft's version (for
    # its hash): loaded in the same statements, and the version's long definition not at all.
    assignment = (db.session.get(Assignment, assignment_id, options=[joinedload(Assignment.contact)])
                  if isinstance(assignment_id, int) else None)
    if assignment is None:
        return None, _state_page("no_session")
    if assignment.state == AssignmentState.COMPLETED:
        return None, redirect(url_for(".done"), code=303)
    if not assignment.is_open_at(utcnow()):
        return None, _state_page("closed", assignment)
    link = db.session.get(QuestionnaireLink, session.get(LINK_KEY) or 0)
    if link is None or link.superseded_at is not None:
        # The study team sent a new link: the old one's session ends with it.
        return None, _state_page("superseded", assignment)
    draft = db.session.get(ResponseDraft, assignment.id, options=[
        joinedload(ResponseDraft.version).defer(InstrumentVersion.definition)])
    if draft is None:
        return None, _state_page("no_session")
    return (assignment, draft, ops.draft_instrument(draft)), None


def _section_page(assignment, draft, instrument, index, errors=None, form=None, code=200):
    section = instrument.sections[index]
    shown = [item for item in section.items
             if visible(item, draft.answers) or item.show_if.item in {i.id for i in section.items}]
    return render_template(
        "q/section.html", a=assignment, instrument=instrument, section=section, index=index, items=shown,
        answers=draft.answers, errors=errors or {}, form=form, total=len(instrument.sections),
        reached=draft.section, lang=_language(assignment),
    ), code


@bp.get("/answer")
def answer():
    found, page = _current()
    if page is not None:
        return page
    assignment, draft, instrument = found
    index = request.args.get("s", type=int)
    if index is None:
        index = draft.section
    if index >= len(instrument.sections):
        return redirect(url_for(".review"), code=303)
    index = max(0, min(index, draft.section))
    return _section_page(assignment, draft, instrument, index)


@bp.post("/answer")
def save():
    found, page = _current()
    if page is not None:
        return page
    assignment, draft, instrument = found
    index = request.form.get("s", type=int)
    if index is None or not 0 <= index < len(instrument.sections) or index > draft.section:
        return _state_page("bad_request", assignment)
    now = utcnow()
    errors = ops.save_section(db.session, draft, instrument, index, request.form, now)
    if errors:
        db.session.rollback()
        return _section_page(assignment, draft, instrument, index, errors=errors, form=request.form, code=400)
    # Every saved page is assessed: a red answer alerts even if the questionnaire is never submitted.
    context = alerts.context()
    new, keys = assess_draft(db.session, assignment, draft, instrument, now=now, **context)
    db.session.commit()
    if keys:
        send_now(db.session, current_gateway(), pending_keys_to_ids(db.session, keys), now=now,
                 public_url=context["public_url"])
    if any(f.severity == "red" for f in new):
        return redirect(url_for(".advice"), code=303)
    if index + 1 >= len(instrument.sections):
        return redirect(url_for(".review"), code=303)
    return redirect(url_for(".answer", s=index + 1), code=303)


@bp.get("/advice")
def advice():
    """Show the emergency advice the moment a red answer is saved; the respondent may go on afterwards."""
    found, page = _current()
    if page is not None:
        return page
    assignment, _draft, _instrument = found
    red = db.session.scalar(select(AlertOccurrence.id).where(AlertOccurrence.assignment_id == assignment.id,
                                                             AlertOccurrence.severity == "red").limit(1))
    if red is None:
        return redirect(url_for(".answer"), code=303)
    return render_template("q/advice.html", a=assignment, severity="red", lang=_language(assignment))


@bp.get("/review")
def review():
    found, page = _current()
    if page is not None:
        return page
    assignment, draft, instrument = found
    if draft.section < len(instrument.sections):
        return redirect(url_for(".answer"), code=303)
    return render_template("q/review.html", a=assignment, instrument=instrument, answers=draft.answers,
                           missing=missing_required(instrument, draft.answers), draft=draft,
                           lang=_language(assignment))


def _submitted(assignment_id):
    return db.session.scalar(select(Response.id).where(Response.assignment_id == assignment_id)) is not None


@bp.post("/submit")
def submit():
    assignment_id = session.get(SESSION_KEY)
    key = request.form.get("submit_key", "")
    if not isinstance(assignment_id, int) or not key:
        return _state_page("no_session")
    found, page = _current()
    if page is not None:
        # A double tap or a resubmitted form (the answers are already stored, once, and the draft
        # is gone): go where the first one went.
        return redirect(url_for(".done"), code=303) if _submitted(assignment_id) else page
    assignment, draft, instrument = found
    if missing_required(instrument, draft.answers):
        return redirect(url_for(".review"), code=303)
    now = utcnow()
    try:
        response = ops.submit(db.session, assignment, draft, instrument, key, now)
    except ops.SubmittedMeanwhile:
        # The other tap stored it (and its alerts): show what that one shows.
        db.session.rollback()
        return redirect(url_for(".done"), code=303)
    except ops.AlreadySubmitted:
        db.session.rollback()
        return _state_page("bad_request", assignment)
    # Alerts and their texts are written in the same transaction as the response.
    context = alerts.context()
    _findings, keys = assess_response(db.session, response, instrument, now=now, **context)
    # The baseline asks the evening reminder time: the answer sets it (the same transaction).
    apply_baseline_answer(db.session, response, current_protocol(), now=now)
    db.session.commit()
    if keys:
        # Red: try to reach the nurse now rather than at the next tick.
        send_now(db.session, current_gateway(), pending_keys_to_ids(db.session, keys), now=now,
                 public_url=context["public_url"])
    return redirect(url_for(".done"), code=303)


@bp.get("/done")
def done():
    assignment_id = session.get(SESSION_KEY)
    response = (db.session.scalar(select(Response).where(Response.assignment_id == assignment_id).options(
        joinedload(Response.assignment).joinedload(Assignment.contact))) if isinstance(assignment_id, int) else None)
    if response is None:
        return _state_page("no_session")
    now = utcnow()
    still_open = sum(1 for link in _session_list() if link_state(link, now) == "open")
    return render_template("q/done.html", a=response.assignment, response=response, still_open=still_open,
                           severity=response_severity(db.session, response), lang=_language(response.assignment))


def response_severity(session, response):
    """Return the most urgent severity the alerts raised from a response: "red", "amber" or None."""
    return most_urgent(session.scalars(select(AlertOccurrence.severity)
                                       .where(AlertOccurrence.response_id == response.id)))
