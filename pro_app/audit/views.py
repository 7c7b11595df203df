"""The study audit log for staff."""

from flask import Blueprint, render_template
from sqlalchemy import select

from pro_app.audit.models import AuditEvent
from pro_app.db import db
from pro_app.inputs import int_arg
from pro_app.staff.auth import staff_required

bp = Blueprint("audit", __name__, url_prefix="/staff/audit")
PAGE_SIZE = 100


@bp.get("/")
@staff_required()
def index():
    before = int_arg("before")
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(PAGE_SIZE)
    if before:
        stmt = stmt.where(AuditEvent.id < before)
    events = db.session.scalars(stmt).all()
    older = events[-1].id if len(events) == PAGE_SIZE else None
    return render_template("audit/list.html", events=events, p=None, older=older)
