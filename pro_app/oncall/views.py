"""The rota page: who is on call when (shown on the study zone's clock), and the gap warning."""

from datetime import timedelta

import click
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from pro_app.audit.operations import Actor
from pro_app.clock import to_local, utcnow
from pro_app.db import db
from pro_app.oncall.cli import parse_instant
from pro_app.oncall.models import Shift
from pro_app.oncall.operations import ShiftError, add_shift, next_gap, on_call_at, remove_shift, shifts_between
from pro_app.staff.auth import staff_required
from pro_app.staff.models import WRITE_ROLES, StaffUser

bp = Blueprint("oncall", __name__, url_prefix="/staff/oncall")
DAYS_SHOWN = 14


@bp.app_context_processor
def _rota_gap():
    # The warning belongs on the worklist; other pages are spared the query.
    if request.endpoint not in ("alerts.index", "oncall.index") or not getattr(current_user, "is_authenticated", False):
        return {}
    try:
        now = utcnow()
        gap = next_gap(db.session, now)
    except SQLAlchemyError:
        db.session.rollback()
        return {}
    if gap is None:
        return {}
    return {"rota_gap": {"from": max(gap[0] or now, now), "to": gap[1], "zone": current_app.config["TIMEZONE"]}}


def _render(status=200, errors=()):
    now = utcnow()
    zone = current_app.config["TIMEZONE"]
    nurses = db.session.scalars(select(StaffUser).where(StaffUser.active.is_(True), StaffUser.phone.is_not(None))
                                .order_by(StaffUser.email)).all()
    return render_template(
        "oncall/index.html", shifts=shifts_between(db.session, now, now + timedelta(days=DAYS_SHOWN)),
        on_call=on_call_at(db.session, now), nurses=nurses, zone=zone, errors=errors, now_local=to_local(now, zone),
    ), status


@bp.get("/")
@staff_required()
def index():
    return _render()


@bp.post("/")
@staff_required(*WRITE_ROLES)
def add():
    zone = current_app.config["TIMEZONE"]
    errors = []
    user = None
    staff_id = request.form.get("staff_id", "")
    if staff_id.isdigit() and len(staff_id) < 10:
        user = db.session.get(StaffUser, int(staff_id))
    if user is None:
        errors.append(_("Choose a nurse."))
    try:
        start = parse_instant(request.form.get("start") or "", zone)
        end = parse_instant(request.form.get("end") or "", zone)
    except click.BadParameter:  # its message is in English: say it plainly here
        errors.append(_("Give the start and end as a date and a time."))
    if not errors:
        try:
            add_shift(db.session, user, start, end, actor=Actor.staff(current_user), now=utcnow())
        except ShiftError:
            errors.append(_("The shift must end after it starts, for an active nurse with a mobile number."))
    if errors:
        db.session.rollback()
        return _render(400, errors)
    db.session.commit()
    flash(_("The shift is on the rota."))
    return redirect(url_for(".index"), code=303)


@bp.post("/<dbid:shift_id>/remove")
@staff_required(*WRITE_ROLES)
def remove(shift_id):
    shift = db.session.get(Shift, shift_id)
    if shift is None:
        abort(404)
    remove_shift(db.session, shift, actor=Actor.staff(current_user), now=utcnow())
    db.session.commit()
    flash(_("The shift is taken off the rota."))
    return redirect(url_for(".index"), code=303)
