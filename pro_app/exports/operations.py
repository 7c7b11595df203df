"""Auditing exports and reading what they need from the running app."""

from flask import current_app

from pro_app.audit.operations import record
from pro_app.db import db, may_write
from pro_app.exports.datasets import Context
from pro_app.protocol import current_protocol
from pro_app.questionnaires import current_instruments


def app_context(now):
    """Return what the writers need from the running app as of now."""
    protocol = current_protocol()
    return Context(now=now, fhir_base=current_app.config["PUBLIC_URL"].rstrip("/") + "/fhir",
                   study_oid=protocol.name, instruments=current_instruments())


def record_export(session, *, actor, dataset, fmt, filters, count, now, complete=True, extra=None):
    """Append the audit event of one export: who, what, which filters (plain data), how many rows; flush."""
    after = {"dataset": dataset, "format": fmt, "filters": filters, "rows": count, **(extra or {})}
    if not complete:
        after["complete"] = False  # the download stopped part way (the browser went away)
    event = record(session, actor=actor, action="export.downloaded", entity="export", now=now, after=after,
                   participant_id=None)
    session.flush()
    return event


def audited_download(pieces, audit):
    """Yield a download's pieces, then write its audit event: audit(count, complete) is called and committed.

    `pieces` returns the count it wrote. It reads in its own transaction and without the SQLite
    write lock, however long it takes; the audit event is written (as a write, though the request
    is a GET) once the file has gone out, or the browser went away.
    """
    db.session.rollback()  # the login check's transaction; the download reads in its own
    token = may_write.set(False)
    count, complete = 0, False
    try:
        count = yield from pieces
        complete = True
    finally:
        db.session.rollback()
        may_write.reset(token)
        writing = may_write.set(True)
        try:
            audit(count, complete)
            db.session.commit()
        finally:
            may_write.reset(writing)
