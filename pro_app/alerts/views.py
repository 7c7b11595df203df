"""The nurses' worklist: red first, then amber, oldest first; claim, acknowledge, resolve."""

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import case, func, select
from sqlalchemy.orm import joinedload
from wtforms import SelectChoice, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length

from pro_app.alerts.models import ACTIONS, ACTIVE, Alert, AlertOccurrence, AlertState
from pro_app.alerts.operations import AlertChangeError, acknowledge, claim, resolve
from pro_app.audit.models import AuditEvent
from pro_app.clock import utcnow
from pro_app.db import db
from pro_app.inputs import page_arg
from pro_app.staff.auth import staff_required
from pro_app.staff.models import WRITE_ROLES

bp = Blueprint("alerts", __name__, url_prefix="/staff/alerts")

ACTION_LABELS = {
    "called_patient": _l("Called the patient or family"),
    "advised_hospital_visit": _l("Advised a hospital visit"),
    "contacted_investigator": _l("Contacted the investigator"),
    "no_action_needed": _l("No action needed"),
    "other": _l("Other (see note)"),
}


class ResolveForm(FlaskForm):
    action = SelectField(_l("Action taken"), choices=[SelectChoice(a, ACTION_LABELS[a]) for a in ACTIONS])
    note = TextAreaField(_l("Note"), validators=[DataRequired(message=_l("Write what was done.")), Length(max=2000)])


PAGE_SIZE = 100


def worklist_query():
    """Active alerts, red first, then amber, oldest first, with what each row shows."""
    return (
        select(Alert).where(Alert.state.in_(ACTIVE))
        .options(joinedload(Alert.participant), joinedload(Alert.owner))
        .order_by(case((Alert.severity == "red", 0), else_=1), Alert.opened_at, Alert.id)
    )


@bp.get("/")
@staff_required()
def index():
    page = page_arg()
    total = db.session.scalar(select(func.count()).select_from(Alert).where(Alert.state.in_(ACTIVE)))
    alerts = db.session.scalars(worklist_query().limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    resolved = db.session.scalars(select(Alert).where(Alert.state == AlertState.RESOLVED)
                                  .options(joinedload(Alert.participant))
                                  .order_by(Alert.resolved_at.desc()).limit(20)).all()
    return render_template("alerts/index.html", alerts=alerts, resolved=resolved, now=utcnow(), total=total,
                           page=page, pages=max(1, -(-total // PAGE_SIZE)))


def _alert_or_404(alert_id):
    alert = db.session.get(Alert, alert_id)
    if alert is None:
        abort(404)
    return alert


@bp.get("/<dbid:alert_id>")
@staff_required()
def show(alert_id, form=None, code=200):
    alert = _alert_or_404(alert_id)
    occurrences = db.session.scalars(select(AlertOccurrence).where(AlertOccurrence.alert_id == alert.id)
                                     .order_by(AlertOccurrence.at.desc())).all()
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.entity == "alert",
                                                         AuditEvent.entity_id == alert.id)
                                .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())).all()
    return render_template("alerts/show.html", alert=alert, occurrences=occurrences, events=events,
                           form=form or ResolveForm(), now=utcnow(), action_labels=ACTION_LABELS), code


@bp.post("/<dbid:alert_id>/<step>")
@staff_required(*WRITE_ROLES)
def change(alert_id, step):
    alert = _alert_or_404(alert_id)
    now = utcnow()
    try:
        if step == "claim":
            claim(db.session, alert, current_user, now)
        elif step == "acknowledge":
            acknowledge(db.session, alert, current_user, now)
        elif step == "resolve":
            form = ResolveForm()
            if not form.validate_on_submit():
                return show(alert_id, form=form, code=400)
            resolve(db.session, alert, current_user, now, action=form.action.data, note=form.note.data.strip())
        else:
            abort(404)
    except AlertChangeError:
        db.session.rollback()
        return redirect(url_for(".show", alert_id=alert_id), code=303)
    db.session.commit()
    target = request.form.get("back") == "list"
    return redirect(url_for(".index") if target else url_for(".show", alert_id=alert_id), code=303)
