"""The consent page of a participant: what each person agreed to, withdrawals, re-consent at 14 and 18."""

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from pro_app.audit.operations import Actor, record
from pro_app.clock import to_local, utcnow
from pro_app.consent.birthdays import RECONSENT_AGES, reconsent_tasks
from pro_app.consent.operations import SCOPES, consents_of, give, withdraw
from pro_app.db import db
from pro_app.participants.operations import get_participant_or_404
from pro_app.staff.auth import staff_required
from pro_app.staff.models import WRITE_ROLES

bp = Blueprint("consent", __name__, url_prefix="/staff/participants")


@bp.app_context_processor
def _consent_tasks():
    # Re-consent tasks belong on the worklist only.
    if request.endpoint != "alerts.index" or not getattr(current_user, "is_authenticated", False):
        return {}
    try:
        today = to_local(utcnow(), current_app.config["TIMEZONE"]).date()
        return {"consent_tasks": reconsent_tasks(db.session, today)}
    except SQLAlchemyError:
        db.session.rollback()
        return {}


def _render(participant, status=200, errors=()):
    contacts = {c.id: c for c in participant.contacts}
    return render_template("consent/show.html", p=participant, consents=consents_of(db.session, participant),
                           contacts=contacts, scopes=SCOPES, ages=RECONSENT_AGES, errors=errors), status


@bp.get("/<study_id>/consent")
@staff_required()
def show(study_id):
    return _render(get_participant_or_404(study_id))


@bp.post("/<study_id>/consent/withdraw")
@staff_required(*WRITE_ROLES)
def withdraw_view(study_id):
    """Withdraw texts, questionnaires or the study, for one contact or everyone, at once."""
    participant = get_participant_or_404(study_id)
    scope = request.form.get("scope") or ""
    reason = (request.form.get("reason") or "").strip()[:500]
    contact = None
    contact_id = request.form.get("contact_id") or ""
    if contact_id:
        contact = next((c for c in participant.contacts if str(c.id) == contact_id), None)
        if contact is None:
            abort(400)
    if scope not in SCOPES:
        abort(400)
    if not reason:
        return _render(participant, 400, [_("Give the reason for the withdrawal.")])
    effect = withdraw(db.session, participant, scope, contact=None if scope == "study" else contact, reason=reason,
                      actor=Actor.staff(current_user), now=utcnow())
    db.session.commit()
    flash(_("Withdrawal recorded: %(texts)d pending texts cancelled, %(windows)d open questionnaires closed.",
            texts=effect.get("texts_cancelled", 0), windows=effect.get("windows_closed", 0)))
    return redirect(url_for(".show", study_id=participant.study_id), code=303)


@bp.post("/<study_id>/consent/reconsent")
@staff_required(*WRITE_ROLES)
def reconsent(study_id):
    """Record the consent taken again at 14 or 18, which closes the worklist task."""
    participant = get_participant_or_404(study_id)
    age = request.form.get("age") or ""
    version = (request.form.get("version") or "").strip()[:40] or current_app.config["CONSENT_DOCUMENT_VERSION"]
    if age not in [str(a) for a in RECONSENT_AGES]:
        abort(400)
    now = utcnow()
    consent = give(db.session, participant, f"reconsent_{age}", version=version, language=participant.language,
                   actor=Actor.staff(current_user), now=now)
    db.session.flush()
    record(db.session, actor=Actor.staff(current_user), action="consent.reconsent", entity="consent",
           entity_id=consent.id, participant_id=participant.id, now=now, after={"age": int(age), "version": version})
    db.session.commit()
    flash(_("Consent at %(age)s recorded.", age=age))
    return redirect(url_for(".show", study_id=participant.study_id), code=303)
