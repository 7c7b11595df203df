"""pro-app export DATASET: study data out, streamed, each export audited."""

import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from pro_app.audit.operations import Actor
from pro_app.clock import utcnow
from pro_app.db import db, may_write
from pro_app.exports import datasets as ds
from pro_app.exports.filters import Filters
from pro_app.exports.operations import app_context, record_export
from pro_app.exports.wide import write_wide
from pro_app.protocol import current_protocol
from pro_app.staff.auth import staff_by_email
from pro_app.staff.models import StaffRole


@click.group("export", cls=AppGroup)
def export_cli():
    """Export study data (no names or phone numbers, except `export contacts` for an administrator)."""


def _actor(email, dataset):
    if not email:
        if dataset.admin_only:
            raise click.UsageError(f"export {dataset.name} holds names and phone numbers: give --as with an "
                                   "administrator's email")
        return Actor.command_line()
    user = staff_by_email(db.session, email)
    if user is None or not user.active:
        raise click.UsageError(f"--as: no active staff account {email!r}")
    if dataset.admin_only and user.role != StaffRole.ADMIN:
        raise click.UsageError(f"export {dataset.name} is for administrators only")
    return Actor.staff(user)


def _filters(since, participant, unfinished):
    return Filters(since=since.date() if since else None, participant=participant or None, unfinished=unfinished,
                   timezone=current_protocol().timezone)


def _run(dataset, fmt, out, filters, *, excel, bundle, wide, actor):
    now = utcnow()
    context = app_context(now)
    token = may_write.set(False)  # read without the SQLite write lock; the audit event comes after
    try:
        if wide:
            count = write_wide(Path(out), db.session, filters, excel=excel)
        else:
            handle = open(out, "w", newline="", encoding="utf-8") if out else sys.stdout  # noqa: SIM115
            try:
                count = ds.run(ds.export(dataset.name, fmt, handle, db.session, filters, context, excel=excel,
                                         bundle=bundle))
            finally:
                if out:
                    handle.close()
    finally:
        db.session.rollback()
        may_write.reset(token)
    record_export(db.session, actor=actor, dataset=dataset.name, fmt="csv-wide" if wide else fmt,
                  filters=filters.describe(), count=count, now=now, extra={"via": "command line", "excel": excel})
    db.session.commit()
    if out:
        noun = "response" if wide else dataset.counted(fmt)
        click.echo(f"wrote {count} {noun}(s) to {out}", err=True)


def _command(dataset):
    formats = dataset.formats

    @click.option("--format", "fmt", type=click.Choice(formats), default="csv", show_default=True)
    @click.option("--out", type=click.Path(writable=True),
                  help="File to write (default: stdout). With --wide: a folder, or a file ending in .zip.")
    @click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]),
                  help="Only what happened on or after this date (study time zone).")
    @click.option("--participant", metavar="STUDY_ID", help="Only this participant.")
    @click.option("--excel", is_flag=True, help="CSV with a UTF-8 byte-order mark, for Excel and WPS.")
    @click.option("--as", "as_email", metavar="EMAIL", help="The staff account the export is audited under.")
    def command(fmt, out, since, participant, excel, as_email, unfinished=False, bundle=False, wide=False):
        if wide and not out:
            raise click.UsageError("--wide writes one file per instrument version: give --out FOLDER or FILE.zip")
        if wide and fmt != "csv":
            raise click.UsageError("--wide writes CSV")
        actor = _actor(as_email, dataset)
        _run(dataset, fmt, out, _filters(since, participant, unfinished), excel=excel, bundle=bundle, wide=wide,
             actor=actor)

    if dataset.name == "responses":
        command = click.option("--unfinished", is_flag=True,
                               help="Add answers saved in questionnaires never submitted (flagged).")(command)
        command = click.option("--wide", is_flag=True,
                               help="One CSV per instrument version, a row per response.")(command)
    if "fhir" in formats:
        command = click.option("--bundle", is_flag=True, help="FHIR as one Bundle instead of NDJSON.")(command)
    doc = {
        "responses": "Export every answered item (long), or a table per instrument version (--wide).",
        "scores": "Export every score of every submitted response.",
        "visits": "Export the visits: planned, scheduled, status and moves.",
        "messages": "Export the texts: kind, step, states and times (never their wording or number).",
        "alerts": "Export every alert with its triage for safety reporting.",
        "audit": "Export the audit log (names and phone numbers taken out).",
        "compliance": "Export questionnaire compliance per instrument and time point.",
        "codebook": "Export the codebook of every instrument version.",
        "contacts": "Export contacts with names and phone numbers (administrators only: --as).",
    }[dataset.name]
    return export_cli.command(dataset.name, help=doc)(command)


for _dataset in ds.DATASETS.values():
    _command(_dataset)
