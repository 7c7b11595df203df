"""The Exports page: investigators, administrators and monitors download study data; each download is audited."""

import tempfile
from datetime import date
from pathlib import Path

from flask import Blueprint, Response, render_template, request, stream_with_context
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from pro_app.audit.models import AuditEvent
from pro_app.audit.operations import Actor
from pro_app.clock import utcnow
from pro_app.db import db
from pro_app.exports import datasets as ds
from pro_app.exports.filters import Filters
from pro_app.exports.operations import app_context, audited_download, record_export
from pro_app.exports.wide import write_wide
from pro_app.participants.models import Participant
from pro_app.protocol import current_protocol
from pro_app.security import render_error
from pro_app.staff.auth import staff_required
from pro_app.staff.models import StaffRole

bp = Blueprint("exports", __name__, url_prefix="/staff/exports")
#: Who reads study data out: nurses triage and change data but do not take it off site.
EXPORT_ROLES = (StaffRole.INVESTIGATOR, StaffRole.ADMIN, StaffRole.MONITOR)
DESCRIPTIONS = {
    "responses": _l("Answers: one row per answered question (long), with respondent, time point and times."),
    "scores": _l("Scores of every submitted questionnaire."),
    "visits": _l("Visits: planned and scheduled dates, status and how often each was moved."),
    "messages": _l("Text messages: kind, step, delivery states and times (never their wording or number)."),
    "alerts": _l("Alerts with their triage, for safety reporting."),
    "audit": _l("The audit log (names and phone numbers taken out)."),
    "compliance": _l("Questionnaire compliance per questionnaire and time point: expected, received, missed."),
    "codebook": _l("Codebook: every question of every questionnaire version, in Chinese and English."),
    "contacts": _l("Contacts with names and phone numbers (administrators only)."),
}
FORMAT_LABELS = {"csv": _l("CSV (spreadsheet)"),
                 "wide": _l("Answers as wide CSV tables, one per questionnaire version (zip)"),
                 "json": _l("JSON"), "fhir": _l("FHIR R4 (NDJSON)"), "odm": _l("CDISC ODM 1.3.2 (XML)")}
#: The wide tables are several files: they come as one zip, and only for the answers.
WIDE = "wide"
RECENT = 15


def _datasets():
    return [d for d in ds.DATASETS.values() if not d.admin_only or current_user.role == StaffRole.ADMIN]


def _recent():
    stmt = (select(AuditEvent).where(AuditEvent.action == "export.downloaded")
            .order_by(AuditEvent.id.desc()).limit(RECENT))
    return db.session.scalars(stmt).all()


def _page(values, errors, status=200):
    return render_template("exports/index.html", datasets=_datasets(), descriptions=DESCRIPTIONS,
                           formats=FORMAT_LABELS, values=values, errors=errors, recent=_recent()), status


@bp.get("/")
@staff_required(*EXPORT_ROLES)
def index():
    return _page({"dataset": "responses", "format": "csv"}, {})


def parse(form, is_admin):
    """Read the export form: (dataset, format, options, errors); errors name the field."""
    errors = {}
    dataset = ds.DATASETS.get(form.get("dataset", ""))
    if dataset is None:
        errors["dataset"] = _("Choose what to export.")
    elif dataset.admin_only and not is_admin:
        return dataset, None, {}, {"forbidden": True}
    fmt = form.get("format", "csv")
    formats = () if dataset is None else dataset.formats + ((WIDE,) if dataset.name == "responses" else ())
    if fmt not in ds.FORMATS + (WIDE,):
        errors["format"] = _("Choose a format.")
    elif dataset is not None and fmt not in formats:
        errors["format"] = _("This data has no %(format)s format: choose %(formats)s.", format=fmt.upper(),
                             formats=", ".join(f.upper() for f in formats))
    since = None
    if form.get("since", "").strip():
        try:
            since = date.fromisoformat(form["since"].strip())
        except ValueError:
            since = None
        if since is None or not date(2000, 1, 1) <= since <= date(2100, 1, 1):
            errors["since"] = _("Enter a date like 2026-03-01.")
    participant = form.get("participant", "").strip()[:40] or None
    if participant and not db.session.scalar(select(Participant.id).where(Participant.study_id == participant)):
        errors["participant"] = _("No participant has this study ID.")
    options = {"since": since, "participant": participant, "excel": form.get("excel") == "1",
               "unfinished": form.get("unfinished") == "1", "bundle": form.get("bundle") == "1"}
    return dataset, fmt, options, errors


# A GET: a download reads study data and changes none (monitors may take it); the audit event
# that records it is written once the file has gone out.
@bp.get("/download")
@staff_required(*EXPORT_ROLES)
def download():
    dataset, fmt, options, errors = parse(request.args, current_user.role == StaffRole.ADMIN)
    if errors.get("forbidden"):
        return render_error(403)
    if errors:
        values = {"dataset": dataset.name if dataset else "", "format": fmt, **{k: request.args.get(k, "")
                                                                                  for k in ("since", "participant")}}
        return _page(values, errors, 400)
    protocol = current_protocol()
    filters = Filters(since=options["since"], participant=options["participant"],
                      unfinished=options["unfinished"] and dataset.name == "responses", timezone=protocol.timezone)
    now = utcnow()
    actor = Actor.staff(current_user)
    context = app_context(now)
    bundle = options["bundle"] and fmt == "fhir"
    excel = options["excel"] and fmt in ("csv", WIDE)
    kind = "fhir-bundle" if bundle else "csv-wide" if fmt == WIDE else fmt
    name = f"{ds.safe_oid(protocol.name)}-{dataset.name}-{now:%Y%m%d-%H%M}.{ds.EXTENSIONS[kind]}"

    wide = {}  # the wide tables' row count, known before the zip goes out

    def pieces():
        if fmt == WIDE:
            return (yield from _wide_zip(filters, excel, wide))
        out = ds.Chunks()
        return (yield from ds.chunks(ds.export(dataset.name, fmt, out, db.session, filters, context, excel=excel,
                                               bundle=bundle), out))

    def audit(count, complete):
        record_export(db.session, actor=actor, dataset=dataset.name, fmt=kind, filters=filters.describe(),
                      count=wide.get("count", count), now=now, complete=complete,
                      extra={"via": "exports page", "excel": excel})

    media = ds.MEDIA_TYPES[kind] + ("; charset=utf-8" if kind in ("csv", "json") else "")
    return Response(stream_with_context(audited_download(pieces(), audit)), content_type=media, headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff"})


def _wide_zip(filters, excel, state, size=64 * 1024):
    """Write the wide tables into a zip in a temporary folder, then send it in pieces."""
    with tempfile.TemporaryDirectory(prefix="pro-export-") as folder:
        path = Path(folder) / "wide.zip"
        state["count"] = write_wide(path, db.session, filters, excel=excel)
        with open(path, "rb") as handle:
            while piece := handle.read(size):
                yield piece
    return state["count"]
