"""Stopped provider routes: a banner on every staff page, and a page where an admin restarts one."""

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from pro_app.audit.operations import Actor
from pro_app.clock import utcnow
from pro_app.db import db
from pro_app.sms.routing import restart_route, stopped_routes
from pro_app.staff.auth import staff_required
from pro_app.staff.models import StaffRole

bp = Blueprint("sms_routes", __name__, url_prefix="/staff/sms/routes")


@bp.app_context_processor
def _stopped_routes():
    # Only staff see the banner; patient pages never query it.
    if not getattr(current_user, "is_authenticated", False):
        return {}
    try:
        return {"stopped_routes": stopped_routes(db.session)}
    except SQLAlchemyError:
        db.session.rollback()
        return {}  # an error page (database down) still renders, without the banner


@bp.get("")
@staff_required()
def index():
    return render_template("sms/routes.html", routes=stopped_routes(db.session))


@bp.post("/<name>/restart")
@staff_required(StaffRole.ADMIN)
def restart(name):
    if not restart_route(db.session, name, actor=Actor.staff(current_user), now=utcnow()):
        abort(404)
    db.session.commit()
    flash(_("Texts flow again on route %(route)s.", route=name))
    return redirect(url_for(".index"))
