"""Every export: which datasets exist, in which formats, and the streaming writers behind them."""

import csv
import json
import re
from dataclasses import dataclass

from sqlalchemy import select

from pro_app.exports import codebook as cb
from pro_app.exports import compliance as cp
from pro_app.exports import responses as rs
from pro_app.exports import tables
from pro_app.exports.csvfile import PAUSE_EVERY, write_csv
from pro_app.exports.records import Versions, response_records
from pro_app.questionnaires.models import Assignment


@dataclass(frozen=True)
class Dataset:
    name: str
    formats: tuple
    noun: str
    admin_only: bool = False

    def counted(self, fmt):
        """Name what an export in this format counts."""
        return {"fhir": "FHIR resource", "odm": "ItemData"}.get(fmt, self.noun)


DATASETS = {d.name: d for d in (
    Dataset("responses", ("csv", "json", "fhir", "odm"), "answered item"),
    Dataset("scores", ("csv", "json"), "score"),
    Dataset("visits", ("csv", "json"), "visit"),
    Dataset("messages", ("csv", "json"), "message"),
    Dataset("alerts", ("csv", "json"), "alert"),
    Dataset("audit", ("csv", "json"), "audit event"),
    Dataset("compliance", ("csv", "json"), "compliance row"),
    Dataset("codebook", ("csv", "json", "fhir", "odm"), "codebook row"),
    Dataset("contacts", ("csv", "json"), "contact", admin_only=True),
)}
FORMATS = ("csv", "json", "fhir", "odm")
MEDIA_TYPES = {"csv": "text/csv", "json": "application/json", "fhir": "application/fhir+ndjson",
               "fhir-bundle": "application/fhir+json", "odm": "application/xml", "csv-wide": "application/zip"}
EXTENSIONS = {"csv": "csv", "json": "json", "fhir": "ndjson", "fhir-bundle": "json", "odm": "xml", "csv-wide": "zip"}


@dataclass(frozen=True)
class Context:
    """What a writer needs from the running app: now, the FHIR base URL, the study's name, its instruments."""

    now: object
    fhir_base: str
    study_oid: str
    instruments: dict


def table(name, session, filters, context):
    """Return (columns, rows) of a tabular dataset; rows are streamed."""
    if name == "responses":
        versions = Versions(session)
        return rs.LONG_COLUMNS, (row for r in response_records(session, filters)
                                 for row in rs.long_rows(r, versions.get(r.version_id)))
    if name == "scores":
        versions = Versions(session)
        return rs.SCORE_COLUMNS, (row for r in response_records(session, filters) if not r.unfinished
                                  for row in rs.score_rows(r, versions.get(r.version_id)))
    if name == "codebook":
        return cb.CODEBOOK_COLUMNS, (row for i in every_version(session, context) for row in cb.codebook_rows(i))
    if name == "compliance":
        return cp.COMPLIANCE_COLUMNS, iter(cp.compliance_rows(session, filters, context.now))
    if name == "alerts":
        from pro_app.alerts.cli import COLUMNS

        return COLUMNS, tables.alert_rows(session, filters)
    columns, rows = {
        "visits": (tables.VISIT_COLUMNS, tables.visit_rows),
        "messages": (tables.MESSAGE_COLUMNS, tables.message_rows),
        "audit": (tables.AUDIT_COLUMNS, tables.audit_rows),
        "contacts": (tables.CONTACT_COLUMNS, tables.contact_rows),
    }[name]
    return columns, rows(session, filters)


def every_version(session, context):
    """Return every instrument version: those stored with responses, then the current ones not yet used."""
    stored = Versions(session).all()
    seen = {i.version for i in stored}
    return stored + [i for i in context.instruments.values() if i.version not in seen]


def write_long_csv(out, session, filters, excel=False):
    """Write the long table of answers as CSV (the largest export, so on its fast path); return the row count."""
    if excel:
        out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(rs.LONG_COLUMNS)
    versions, long_csv = Versions(session), rs.LongCsv()
    count = 0
    for n, record in enumerate(response_records(session, filters), start=1):
        text, rows = long_csv.lines(record, versions.get(record.version_id))
        out.write(text)
        count += rows
        if n % 20 == 0:
            yield
    return count


def write_json(out, rows):
    """Write the rows as one JSON array, a row at a time; return the row count."""
    count = 0
    out.write("[")
    for row in rows:
        out.write(",\n" if count else "\n")
        out.write(json.dumps(row, ensure_ascii=False, default=str))
        count += 1
        if count % PAUSE_EVERY == 0:
            yield
    out.write("\n]\n")
    return count


def fhir_resources(name, session, filters, context):
    """Yield the FHIR resources of a dataset: Questionnaires, then QuestionnaireResponses."""
    # Imported here: the FHIR models take ~30 MB that web workers need only while exporting.
    from pro_app.exports import fhir

    if name == "codebook":
        for instrument in every_version(session, context):
            yield fhir.questionnaire(instrument, context.fhir_base)
        return
    versions = Versions(session)
    for instrument in versions.all():
        yield fhir.questionnaire(instrument, context.fhir_base)
    shapes = fhir.Shapes()
    for record in response_records(session, filters):
        yield fhir.questionnaire_response(record, versions.get(record.version_id), context.fhir_base, shapes)


def write_fhir(out, resources, context, bundle=False):
    """Write resources as NDJSON, or as one Bundle of type collection; return the resource count."""
    count = 0
    if bundle:
        stamp = json.dumps(context.now.isoformat())
        out.write(f'{{"resourceType":"Bundle","type":"collection","timestamp":{stamp},"entry":[')
    for resource in resources:
        text = json.dumps(resource, ensure_ascii=False, separators=(",", ":"))
        if bundle:
            url = f"{context.fhir_base}/{resource['resourceType']}/{resource['id']}"
            out.write(("," if count else "") + f'\n{{"fullUrl":{json.dumps(url)},"resource":{text}}}')
        else:
            out.write(text + "\n")
        count += 1
        if count % PAUSE_EVERY == 0:
            yield
    if bundle:
        out.write("\n]}\n")
    return count


def odm_events(session):
    """Return {time point: {instrument id}} of the study's questionnaire windows."""
    from pro_app.exports import odm

    stmt = select(Assignment.occasion, Assignment.instrument_id).distinct()
    events = {}
    for occasion, instrument_id in session.execute(stmt):
        events.setdefault(odm.occasion_event(occasion), set()).add(instrument_id)
    return events


def write_odm(name, out, session, filters, context):
    """Write the ODM file of a dataset (the codebook: metadata only); return the ItemData count."""
    from pro_app.exports import odm

    versions = Versions(session)
    instruments = every_version(session, context) if name == "codebook" else versions.all()
    metadata = odm.Metadata(safe_oid(context.study_oid), instruments, odm_events(session))
    records = () if name == "codebook" else response_records(session, filters, by_subject=True)
    return (yield from odm.write_odm(out, metadata, records, versions, now=context.now))


def safe_oid(text):
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text) or "STUDY"


def export(name, fmt, out, session, filters, context, *, excel=False, bundle=False):
    """Write one dataset in one format to a text handle; return the count of rows (or resources, or ItemData).

    A generator: it pauses now and then (yielding None) so a caller can pass on what was written.
    """
    dataset = DATASETS[name]
    if fmt not in dataset.formats:
        raise ValueError(f"{name} has no {fmt} format (use one of {', '.join(dataset.formats)})")
    if fmt == "fhir":
        return (yield from write_fhir(out, fhir_resources(name, session, filters, context), context, bundle=bundle))
    if fmt == "odm":
        return (yield from write_odm(name, out, session, filters, context))
    if name == "responses" and fmt == "csv":
        return (yield from write_long_csv(out, session, filters, excel=excel))
    columns, rows = table(name, session, filters, context)
    if fmt == "json":
        return (yield from write_json(out, rows))
    return (yield from write_csv(out, columns, rows, excel=excel))


def run(export_steps):
    """Run an export to the end (writing to a file); return its count."""
    while True:
        try:
            next(export_steps)
        except StopIteration as stop:
            return stop.value


class Chunks:
    """A text handle that keeps what is written until it is taken (for a streamed web response)."""

    def __init__(self):
        self.parts, self.size = [], 0

    def write(self, text):
        self.parts.append(text)
        self.size += len(text)

    def take(self):
        text = "".join(self.parts)
        self.parts, self.size = [], 0
        return text


def chunks(export_steps, out, size=64 * 1024):
    """Yield what an export writes to `out` (a Chunks) as UTF-8, in pieces of about `size`; return its count."""
    while True:
        try:
            next(export_steps)
        except StopIteration as stop:
            rest = out.take()
            if rest:
                yield rest.encode("utf-8")
            return stop.value
        if out.size >= size:
            yield out.take().encode("utf-8")
