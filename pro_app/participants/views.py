"""Staff pages for participants: list, enrol, participant page with its visit calendar."""

from itertools import groupby

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from pro_app.audit.models import AuditEvent
from pro_app.audit.operations import Actor
from pro_app.clock import common_zones, utcnow
from pro_app.db import db
from pro_app.inputs import page_arg
from pro_app.participants.forms import EnrolForm, StatusForm
from pro_app.participants.models import Participant, ParticipantStatus
from pro_app.participants.operations import (
    DuplicateStudyId,
    enrol,
    get_participant_or_404,
    just_enrolled_by,
    set_participant_status,
)
from pro_app.participants.validation import check_enrolment
from pro_app.protocol import current_protocol
from pro_app.questionnaires import current_instruments
from pro_app.questionnaires.models import Response
from pro_app.reminders.preferences import choices_for, evening_time_of, parse_form, set_preferences
from pro_app.sms.operations import phone_statuses
from pro_app.staff.auth import staff_required
from pro_app.staff.models import WRITE_ROLES
from pro_app.visits.models import OPEN_STATUSES, Visit

bp = Blueprint("participants", __name__, url_prefix="/staff/participants")
PAGE_SIZE = 50


@bp.get("/")
@staff_required()
def index():
    now = utcnow()
    query = (request.args.get("q") or "").strip()[:32]
    status = request.args.get("status") or ""
    page = page_arg()
    next_visit = (
        select(Visit.participant_id, func.min(Visit.starts_at).label("next_at"))
        .where(Visit.status.in_(OPEN_STATUSES), Visit.starts_at >= now)
        .group_by(Visit.participant_id)
        .subquery()
    )
    stmt = select(Participant, next_visit.c.next_at).outerjoin(
        next_visit, next_visit.c.participant_id == Participant.id
    )
    if query:
        stmt = stmt.where(Participant.study_id.ilike(f"%{query}%"))
    if status in {s.value for s in ParticipantStatus}:
        stmt = stmt.where(Participant.status == ParticipantStatus(status))
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = db.session.execute(
        stmt.order_by(Participant.study_id).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    ).all()
    return render_template(
        "participants/index.html", rows=rows, q=query, status=status, page=page,
        pages=max(1, -(-total // PAGE_SIZE)), total=total, statuses=list(ParticipantStatus),
    )


@bp.route("/new", methods=["GET", "POST"])
@staff_required(*WRITE_ROLES)
def new():
    form = EnrolForm()
    if form.validate_on_submit():
        enrolment, errors = check_enrolment(form.raw(), current_app.config["CONSENT_DOCUMENT_VERSION"])
        if enrolment is not None:
            try:
                participant = enrol(db.session, enrolment, current_protocol(), current_instruments(),
                                    actor=Actor.staff(current_user), now=utcnow(),
                                    public_url=current_app.config["PUBLIC_URL"])
            except DuplicateStudyId:
                db.session.rollback()
                earlier = just_enrolled_by(db.session, enrolment.study_id, current_user.id, utcnow())
                if earlier is not None:
                    flash(_("%(id)s was enrolled a moment ago (a second tap or another tab); this is its page.",
                            id=earlier.study_id))
                    return redirect(url_for(".show", study_id=earlier.study_id), code=303)
                errors = {"study_id": _("%(id)s is already enrolled.", id=enrolment.study_id)}
            else:
                db.session.commit()
                return redirect(url_for(".show", study_id=participant.study_id), code=303)
        form.show_errors(errors)
    status = 400 if request.method == "POST" else 200
    return render_template("participants/new.html", form=form, zones=common_zones()), status


@bp.get("/<study_id>")
@staff_required()
def show(study_id, status_form=None, code=200, preference_errors=None):
    participant = get_participant_or_404(study_id)
    now = utcnow()
    months = [
        (month, list(visits))
        for month, visits in groupby(participant.visits, key=lambda v: v.local_start.strftime("%Y-%m"))
    ]
    status_form = status_form or StatusForm(status=participant.status.value)
    # Allergies as told at baseline (by the patient and/or a caregiver): a nurse triaging an
    # infusion reaction needs them on this page, not three clicks away.
    allergies = db.session.scalars(select(Response).where(
        Response.participant_id == participant.id, Response.instrument_id == "baseline")
        .order_by(Response.submitted_at)).all()
    protocol = current_protocol()
    preferences = {c.id: (choices_for(c, protocol), evening_time_of(c, protocol)) for c in participant.contacts}
    return render_template("participants/show.html", p=participant, months=months, now=now,
                           statuses=phone_statuses(db.session, [c.phone for c in participant.contacts]),
                           status_form=status_form, allergies=allergies, preferences=preferences,
                           preference_errors=preference_errors or {}), code


@bp.post("/<study_id>/status")
@staff_required(*WRITE_ROLES)
def change_status(study_id):
    participant = get_participant_or_404(study_id)
    form = StatusForm()
    if not form.validate_on_submit():
        return show(study_id, status_form=form, code=400)
    set_participant_status(db.session, participant, ParticipantStatus(form.status.data), reason=form.reason.data,
                           actor=Actor.staff(current_user), now=utcnow())
    db.session.commit()
    return redirect(url_for(".show", study_id=study_id), code=303)


@bp.post("/<study_id>/contacts/<int:contact_id>/preferences")
@staff_required(*WRITE_ROLES)
def contact_preferences(study_id, contact_id):
    participant = get_participant_or_404(study_id)
    contact = next((c for c in participant.contacts if c.id == contact_id), None)
    if contact is None:
        abort(404)
    protocol = current_protocol()
    values, errors = parse_form(request.form, choices_for(contact, protocol))
    if errors:
        return show(study_id, code=400, preference_errors={contact.id: errors})
    changed = set_preferences(db.session, contact, protocol, actor=Actor.staff(current_user), now=utcnow(),
                              reason="set by staff", **values)
    db.session.commit()
    flash(_("Reminder time and language saved; pending texts follow.") if changed else _("Nothing was changed."))
    return redirect(url_for(".show", study_id=study_id), code=303)


@bp.get("/<study_id>/audit")
@staff_required()
def audit(study_id):
    participant = get_participant_or_404(study_id)
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.participant_id == participant.id)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(500)
    ).all()
    return render_template("audit/list.html", events=events, p=participant)
