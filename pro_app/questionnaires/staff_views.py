"""Staff pages: each participant's questionnaires and responses, and completion across the study."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import case, func, select
from sqlalchemy.orm import joinedload

from pro_app.audit.operations import Actor, record
from pro_app.clock import utcnow
from pro_app.db import db
from pro_app.participants.models import Participant
from pro_app.participants.operations import get_participant_or_404
from pro_app.protocol import current_protocol
from pro_app.questionnaires import current_instruments
from pro_app.questionnaires import operations as ops
from pro_app.questionnaires.models import Assignment, AssignmentState, InstrumentVersion, Response
from pro_app.staff.auth import staff_required
from pro_app.staff.models import WRITE_ROLES

bp = Blueprint("questionnaires", __name__, url_prefix="/staff")

_completed = func.sum(case((Assignment.state == AssignmentState.COMPLETED, 1), else_=0))
_expired = func.sum(case((Assignment.state == AssignmentState.EXPIRED, 1), else_=0))


def completion(completed, expired):
    """Return the share of closed windows that were answered, or None before any closed."""
    closed = (completed or 0) + (expired or 0)
    return round(100 * (completed or 0) / closed) if closed else None


@bp.get("/participants/<study_id>/questionnaires")
@staff_required()
def participant(study_id):
    p = get_participant_or_404(study_id)
    now = utcnow()
    assignments = db.session.scalars(
        select(Assignment).where(Assignment.participant_id == p.id, Assignment.opens_at <= now)
        .order_by(Assignment.opens_at.desc(), Assignment.id.desc())
    ).all()
    upcoming = db.session.scalars(
        select(Assignment).where(Assignment.participant_id == p.id, Assignment.opens_at > now)
        .order_by(Assignment.opens_at).limit(10)
    ).all()
    responses = {r.assignment_id: r for r in db.session.scalars(
        select(Response).where(Response.participant_id == p.id))}
    # Only closed windows count: an early answer to a window still open would read as 100% of nothing.
    done = sum(1 for a in assignments if a.state == AssignmentState.COMPLETED and a.closes_at <= now)
    missed = sum(1 for a in assignments if a.state == AssignmentState.EXPIRED)
    return render_template("questionnaires/participant.html", p=p, assignments=assignments, upcoming=upcoming,
                           responses=responses, rate=completion(done, missed), now=now,
                           instruments=current_instruments())


@bp.post("/assignments/<dbid:assignment_id>/resend")
@staff_required(*WRITE_ROLES)
def resend(assignment_id):
    assignment = db.session.get(Assignment, assignment_id)
    if assignment is None:
        abort(404)
    now = utcnow()
    reason = request.form.get("reason", "").strip()[:500]
    if not assignment.is_open_at(now):
        flash(_("Only a questionnaire whose window is open can be sent again."))
    elif not reason:
        # A second link invalidates the first: the log should say why the family got another.
        flash(_("Say why the link goes again; nothing was sent."))
    else:
        ops.resend(db.session, assignment, current_protocol(), current_instruments(), now=now)
        record(db.session, actor=Actor.staff(current_user), action="questionnaire.link_resent",
               entity="assignment", entity_id=assignment.id, participant_id=assignment.participant_id, now=now,
               reason=reason)
        db.session.commit()
        flash(_("A new link is on its way; the old one no longer works."))
    return redirect(url_for(".participant", study_id=assignment.participant.study_id), code=303)


@bp.get("/responses/<dbid:response_id>")
@staff_required()
def response(response_id):
    r = db.session.get(Response, response_id, options=[
        joinedload(Response.version).defer(InstrumentVersion.definition)])
    if r is None:
        abort(404)
    instrument = ops.version_instrument(r.version)
    return render_template("questionnaires/response.html", r=r, instrument=instrument,
                           p=r.assignment.participant)


@bp.get("/questionnaires")
@staff_required()
def overview():
    by_instrument = db.session.execute(
        select(Assignment.instrument_id, _completed, _expired)
        .group_by(Assignment.instrument_id).order_by(Assignment.instrument_id)
    ).all()
    by_participant = db.session.execute(
        select(Participant.study_id, _completed, _expired)
        .join(Assignment, Assignment.participant_id == Participant.id)
        .group_by(Participant.study_id).order_by(Participant.study_id)
    ).all()
    totals = (sum(r[1] or 0 for r in by_instrument), sum(r[2] or 0 for r in by_instrument))
    return render_template("questionnaires/overview.html", by_instrument=by_instrument,
                           by_participant=by_participant, totals=totals, completion=completion,
                           instruments=current_instruments())
