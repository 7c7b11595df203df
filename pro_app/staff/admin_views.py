"""The administrators' page: invite, deactivate, reset two-factor sign-in, change roles."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from pro_app.audit.operations import Actor
from pro_app.clock import utcnow
from pro_app.db import db
from pro_app.participants.validation import normalise_phone
from pro_app.staff import twofactor
from pro_app.staff.admin import AccountError, change_role, invite_staff
from pro_app.staff.auth import staff_required
from pro_app.staff.cli import deactivate_staff
from pro_app.staff.models import StaffRole, StaffUser
from pro_app.staff.signin_views import invitation_token

bp = Blueprint("staff_admin", __name__, url_prefix="/staff/admin")


def _render(status=200, **extra):
    staff = db.session.scalars(select(StaffUser).order_by(StaffUser.active.desc(), StaffUser.email)).all()
    return render_template("staff/admin.html", staff=staff, roles=[r.value for r in StaffRole], **extra), status


@bp.get("/")
@staff_required(StaffRole.ADMIN)
def index():
    return _render()


@bp.post("/invite")
@staff_required(StaffRole.ADMIN)
def invite():
    """Make an account and show its single-use invitation link for the admin to pass on."""
    email = (request.form.get("email") or "").strip()
    role = request.form.get("role") or ""
    phone = (request.form.get("phone") or "").strip() or None
    errors = []
    if "@" not in email or len(email) > 254 or " " in email:
        errors.append(_("Give the new staff member's email address."))
    if role not in [r.value for r in StaffRole]:
        errors.append(_("Choose a role."))
    if phone:
        try:
            phone = normalise_phone(phone)
        except ValueError as exc:
            errors.append(str(exc.args[0]))
    if not errors:
        try:
            user = invite_staff(db.session, email, role, phone=phone, actor=Actor.staff(current_user), now=utcnow())
        except AccountError:
            errors.append(_("A staff account for %(email)s already exists.", email=email))
    if errors:
        db.session.rollback()
        return _render(400, errors=errors)
    db.session.commit()
    link = url_for("staff.accept_invitation", token=invitation_token(user), _external=True)
    return _render(invited=user, link=link)


def _account(staff_id):
    user = db.session.get(StaffUser, staff_id)
    if user is None:
        abort(404)
    return user


@bp.post("/<dbid:staff_id>/role")
@staff_required(StaffRole.ADMIN)
def role(staff_id):
    user = _account(staff_id)
    new_role = request.form.get("role") or ""
    if new_role not in [r.value for r in StaffRole]:
        abort(400)
    try:
        change_role(db.session, user, new_role, nurse_lead=request.form.get("nurse_lead") == "1",
                    actor=Actor.staff(current_user), now=utcnow())
    except AccountError:
        abort(400, _("You cannot take away your own administrator role."))
    db.session.commit()
    flash(_("%(email)s is changed.", email=user.email))
    return redirect(url_for(".index"), code=303)


@bp.post("/<dbid:staff_id>/deactivate")
@staff_required(StaffRole.ADMIN)
def deactivate(staff_id):
    user = _account(staff_id)
    if user.id == current_user.id:
        abort(400, _("You cannot deactivate your own account."))
    deactivate_staff(db.session, user, actor=Actor.staff(current_user), now=utcnow())
    db.session.commit()
    flash(_("%(email)s can no longer sign in.", email=user.email))
    return redirect(url_for(".index"), code=303)


@bp.post("/<dbid:staff_id>/reset-two-factor")
@staff_required(StaffRole.ADMIN)
def reset_two_factor(staff_id):
    user = _account(staff_id)
    if user.id == current_user.id:
        abort(400, _("Another administrator resets your two-factor sign-in."))
    twofactor.reset_two_factor(db.session, user, actor=Actor.staff(current_user), now=utcnow(),
                               reason=(request.form.get("reason") or "").strip()[:500] or None)
    db.session.commit()
    flash(_("%(email)s sets up two-factor sign-in again at the next sign-in.", email=user.email))
    return redirect(url_for(".index"), code=303)
