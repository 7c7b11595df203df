"""The study audit log for staff: filter by who, what, participant and dates; pages; CSV."""

from datetime import date

from flask import Blueprint, Response, abort, render_template, request, stream_with_context
from flask_login import current_user
from sqlalchemy import select

from pro_app.audit.operations import Actor
from pro_app.audit.queries import FAMILIES, AuditFilter, all_events, find_events
from pro_app.audit.wording import ACTIONS, FAMILY_LABELS
from pro_app.clock import to_local, utcnow
from pro_app.db import db
from pro_app.exports.csvfile import write_csv
from pro_app.exports.datasets import Chunks, chunks
from pro_app.exports.operations import audited_download, record_export
from pro_app.exports.tables import snapshot_json
from pro_app.inputs import page_arg
from pro_app.participants.models import Participant
from pro_app.protocol import current_protocol
from pro_app.staff.auth import staff_required

bp = Blueprint("audit", __name__, url_prefix="/staff/audit")
PAGE_SIZE = 50
CSV_COLUMNS = ["at_utc", "at_local", "actor", "action", "entity", "entity_id", "study_id", "before", "after",
               "reason"]


def _day(name):
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        abort(400, description="dates are YYYY-MM-DD")
    if not date(2000, 1, 1) <= day <= date(2099, 12, 31):
        abort(400, description="dates are from 2000 to 2099")
    return day


def filter_from_request():
    """Read the filter from the query string; an unknown participant is a 404, a bad date a 400."""
    study_id = request.args.get("participant", "").strip()[:32]
    participant_id = None
    if study_id:
        participant_id = db.session.scalar(select(Participant.id).where(Participant.study_id == study_id))
        if participant_id is None:
            abort(404)
    what = request.args.get("what", "").strip()
    if what and what not in FAMILIES and what not in ACTIONS:
        abort(400, description="unknown kind of change")
    return AuditFilter(who=request.args.get("who", "").strip()[:160], what=what, participant_id=participant_id,
                       since=_day("since"), until=_day("until"), timezone=current_protocol().timezone), study_id


@bp.get("/")
@staff_required()
def index():
    audit_filter, study_id = filter_from_request()
    if request.args.get("format") == "csv":
        return _csv(audit_filter)
    page = page_arg()
    events, total = find_events(db.session, audit_filter, page=page, size=PAGE_SIZE)
    args = {k: v for k, v in request.args.items() if k in ("who", "what", "participant", "since", "until") and v}
    return render_template("audit/list.html", events=events, p=None, total=total, page=page,
                           pages=max(1, -(-total // PAGE_SIZE)), args=args, families=FAMILIES,
                           family_labels=FAMILY_LABELS, study_id=study_id, audit_filter=audit_filter)


def _csv(audit_filter):
    """The filtered log as CSV, streamed through the formula-safe writer; the download itself is audited."""
    zone = current_protocol().timezone
    rows = ({"at_utc": e.at.isoformat(), "at_local": to_local(e.at, zone).isoformat(), "actor": e.actor,
             "action": e.action, "entity": e.entity, "entity_id": e.entity_id, "study_id": sid,
             "before": snapshot_json(e.before), "after": snapshot_json(e.after),
             "reason": e.reason} for e, sid in all_events(db.session, audit_filter))
    actor, now = Actor.staff(current_user), utcnow()
    filters = {k: v for k, v in request.args.items() if k != "format" and v}

    def audit(count, complete):
        record_export(db.session, actor=actor, dataset="audit", fmt="csv", filters=filters, count=count, now=now,
                      complete=complete)

    out = Chunks()
    pieces = chunks(write_csv(out, CSV_COLUMNS, rows), out)
    return Response(stream_with_context(audited_download(pieces, audit)), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=audit.csv"})
