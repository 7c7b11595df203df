"""Staff pages to move, add, cancel and complete visits."""

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from pro_app.audit.models import AuditEvent
from pro_app.audit.operations import Actor
from pro_app.clock import utcnow
from pro_app.db import db
from pro_app.participants.operations import get_participant_or_404
from pro_app.protocol import current_protocol
from pro_app.questionnaires import current_instruments
from pro_app.staff.auth import staff_required
from pro_app.staff.models import WRITE_ROLES
from pro_app.visits.forms import AddVisitForm, MoveForm, StatusForm
from pro_app.visits.models import Visit, VisitKind, VisitStatus
from pro_app.visits.operations import VisitChangeError, add_visit, move_visit, set_visit_status

bp = Blueprint("visits", __name__, url_prefix="/staff")


def _visit_or_404(visit_id):
    visit = db.session.get(Visit, visit_id)
    if visit is None:
        abort(404)
    return visit


def _say_who_was_told(told):
    """Tell staff whether the family hears of the change they just saved."""
    if told:
        flash(_("The family gets one text about this change (held until their quiet hours end)."))
    else:
        flash(_("The family was not texted about this change."))


def _render_edit(visit, move=None, status=None, code=200):
    local = visit.local_start
    move = move or MoveForm(new_date=local.date(), new_time=local.time().replace(second=0))
    history = db.session.scalars(
        select(AuditEvent).where(AuditEvent.entity == "visit", AuditEvent.entity_id == visit.id)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    ).all()
    return render_template("visits/edit.html", visit=visit, p=visit.participant, move=move,
                           status=status or StatusForm(), history=history), code


@bp.get("/visits/<dbid:visit_id>")
@staff_required()
def edit(visit_id):
    return _render_edit(_visit_or_404(visit_id))


@bp.post("/visits/<dbid:visit_id>/move")
@staff_required(*WRITE_ROLES)
def move(visit_id):
    visit = _visit_or_404(visit_id)
    form = MoveForm()
    if form.validate_on_submit():
        try:
            move_visit(db.session, visit, form.new_date.data, form.new_time.data,
                       shift_later=form.shift_later.data, shift_other_kinds=form.shift_other_kinds.data,
                       reason=form.reason.data, actor=Actor.staff(current_user), now=utcnow(),
                       protocol=current_protocol(), instruments=current_instruments(),
                       tell_family=form.tell_family.data)
        except VisitChangeError as exc:
            db.session.rollback()
            form.new_date.errors = [*form.new_date.errors, str(exc.args[0])]
        else:
            db.session.commit()
            _say_who_was_told(form.tell_family.data)
            return redirect(url_for("participants.show", study_id=visit.participant.study_id), code=303)
    return _render_edit(visit, move=form, code=400)


@bp.post("/visits/<dbid:visit_id>/status")
@staff_required(*WRITE_ROLES)
def status(visit_id):
    visit = _visit_or_404(visit_id)
    form = StatusForm()
    if form.validate_on_submit():
        try:
            set_visit_status(db.session, visit, VisitStatus(form.status.data), reason=form.reason.data,
                             actor=Actor.staff(current_user), now=utcnow(), protocol=current_protocol(),
                             instruments=current_instruments(), tell_family=form.tell_family.data)
        except VisitChangeError as exc:
            db.session.rollback()
            form.status.errors = [*form.status.errors, str(exc.args[0])]
        else:
            db.session.commit()
            if form.status.data == VisitStatus.CANCELLED.value:
                _say_who_was_told(form.tell_family.data)
            return redirect(url_for("participants.show", study_id=visit.participant.study_id), code=303)
    return _render_edit(visit, status=form, code=400)


@bp.route("/participants/<study_id>/visits/new", methods=["GET", "POST"])
@staff_required(*WRITE_ROLES)
def new(study_id):
    participant = get_participant_or_404(study_id)
    form = AddVisitForm()
    if form.validate_on_submit():
        try:
            add_visit(db.session, participant, kind=VisitKind(form.kind.data), on=form.on.data,
                      at=form.at.data, duration_minutes=form.duration_minutes.data,
                      label=form.label.data, window_days=form.window_days.data or 0,
                      reason=form.reason.data, actor=Actor.staff(current_user), now=utcnow(),
                       protocol=current_protocol(), instruments=current_instruments(),
                       tell_family=form.tell_family.data)
        except VisitChangeError as exc:
            db.session.rollback()
            form.reason.errors = [*form.reason.errors, str(exc.args[0])]
        else:
            db.session.commit()
            _say_who_was_told(form.tell_family.data)
            return redirect(url_for("participants.show", study_id=study_id), code=303)
    code = 400 if form.errors else 200
    return render_template("visits/new.html", form=form, p=participant), code


