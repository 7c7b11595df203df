"""Auditing exports and reading what they need from the running app."""

from flask import current_app

from pro_app.audit.operations import record
from pro_app.exports.datasets import Context
from pro_app.protocol import current_protocol
from pro_app.questionnaires import current_instruments


def app_context(now):
    """Return what the writers need from the running app as of now."""
    protocol = current_protocol()
    return Context(now=now, fhir_base=current_app.config["PUBLIC_URL"].rstrip("/") + "/fhir",
                   study_oid=protocol.name, instruments=current_instruments())


def record_export(session, *, actor, dataset, fmt, filters, count, now, complete=True, extra=None):
    """Append the audit event of one export: who, what, which filters, how many rows; flush."""
    after = {"dataset": dataset, "format": fmt, "filters": filters.describe(), "rows": count, **(extra or {})}
    if not complete:
        after["complete"] = False  # the download stopped part way (the browser went away)
    event = record(session, actor=actor, action="export.downloaded", entity="export", now=now, after=after,
                   participant_id=None)
    session.flush()
    return event
