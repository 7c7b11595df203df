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
from pro_app.alerts.phones import on_call_watch
from pro_app.alerts.wording import answers_behind, escalation_words, fired_items, rule_name, summary
from pro_app.audit.models import AuditEvent
from pro_app.clock import utcnow
from pro_app.db import db
from pro_app.i18n import select_language
from pro_app.inputs import page_arg
from pro_app.oncall.operations import on_call_now
from pro_app.questionnaires import current_instruments
from pro_app.questionnaires.models import Assignment, InstrumentVersion, Response
from pro_app.questionnaires.operations import version_instrument
from pro_app.sms.models import InboundMessage, Message, MessageState
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
    # No action is chosen for the nurse: a pre-selected "called" invites a record of a call never made.
    action = SelectField(_l("Action taken"),
                         choices=[SelectChoice("", _l("Choose what was done"))]
                         + [SelectChoice(a, ACTION_LABELS[a]) for a in ACTIONS],
                         validators=[DataRequired(message=_l("Choose what was done."))])
    note = TextAreaField(_l("Note"), validators=[DataRequired(message=_l("Write what was done.")), Length(max=2000)])


PAGE_SIZE = 100

PHONE_REASONS = {
    "no phone": _l("no phone number"),
    "opted out": _l("the number opted out of texts"),
    "unreachable": _l("the number cannot receive texts"),
    "undelivered": _l("the last text to the number was not delivered"),
}


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
                           page=page, pages=max(1, -(-total // PAGE_SIZE)), fired=fired_rules([*alerts, *resolved]),
                           watch=on_call_watch(db.session, on_call_now(db.session, utcnow())),
                           phone_reasons=PHONE_REASONS,
                           escalation_words=escalation_words)


def fired_rules(alerts):
    """Return {alert id: {"rules": [rule names, first fired first], "unfinished": bool}} in one query."""
    lang, instruments = select_language(), current_instruments()
    fired = {a.id: {"rules": [], "said": [], "unfinished": False} for a in alerts}
    rows = db.session.execute(
        select(AlertOccurrence.alert_id, AlertOccurrence.rule, AlertOccurrence.label, AlertOccurrence.assignment_id,
               AlertOccurrence.response_id, AlertOccurrence.detail)
        .where(AlertOccurrence.alert_id.in_(list(fired))).order_by(AlertOccurrence.at, AlertOccurrence.id)).all()
    for alert_id, rule, label, assignment_id, response_id, detail in rows:
        entry = fired[alert_id]
        name = rule_name(rule, label, lang)
        if name not in entry["rules"]:
            entry["rules"].append(name)
            instrument = instruments.get(rule.partition(":")[0]) if ":" in rule else None
            said = summary(answers_behind(detail, instrument, lang))
            entry["said"].append(f"{name}: {said}" if said and said != name else name)
        entry["unfinished"] |= assignment_id is not None and response_id is None
    return fired


def open_alerts_of(participant):
    """Return a participant's active alerts, red first, for the header of their pages."""
    return db.session.scalars(worklist_query().where(Alert.participant_id == participant.id)).all()


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
                                     .order_by(AlertOccurrence.at, AlertOccurrence.id)).all()
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.entity == "alert",
                                                         AuditEvent.entity_id == alert.id)
                                .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())).all()
    return render_template("alerts/show.html", alert=alert, fired=_fired_rows(occurrences), events=events,
                           form=form or ResolveForm(), now=utcnow(), action_labels=ACTION_LABELS,
                           escalation_words=escalation_words, **_contact_block(alert.participant),
                           behind=_answers_behind(occurrences)), code


def _contact_block(participant):
    """The family to call: contacts, and the last few texts each way."""
    sent = db.session.scalars(select(Message).where(Message.participant_id == participant.id,
                                                    Message.state != MessageState.PENDING)
                              .order_by(Message.updated_at.desc(), Message.id.desc()).limit(3)).all()
    received = db.session.scalars(select(InboundMessage).where(InboundMessage.participant_id == participant.id)
                                  .order_by(InboundMessage.received_at.desc()).limit(3)).all()
    return {"contacts": participant.contacts, "last_sent": sent, "last_received": received}


def _answers_behind(occurrences):
    """Each response behind the episode with its instrument and the items that fired, for marking."""
    marked = fired_items(o.detail for o in occurrences)
    ids = sorted({o.response_id for o in occurrences if o.response_id})
    out = []
    for response in db.session.scalars(select(Response).where(Response.id.in_(ids)).order_by(Response.id).options(
            joinedload(Response.version).defer(InstrumentVersion.definition))):
        out.append((response, version_instrument(response.version), marked))
    return out


def _fired_rows(occurrences):
    """Each fired rule of an episode with its name, the answers behind it and its questionnaire."""
    lang, instruments = select_language(), current_instruments()
    ids = {o.assignment_id for o in occurrences if o.assignment_id}
    assignments = {a.id: a for a in db.session.scalars(select(Assignment).where(Assignment.id.in_(ids)))}
    rows = []
    for o in occurrences:
        assignment = assignments.get(o.assignment_id)
        instrument_id = o.rule.partition(":")[0] if ":" in o.rule else None
        rows.append({
            "o": o, "name": rule_name(o.rule, o.label, lang), "assignment": assignment,
            "answers": answers_behind(o.detail, instruments.get(instrument_id) if instrument_id else None, lang,
                                      assignment.respondent if assignment is not None else "self"),
        })
    return rows


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
