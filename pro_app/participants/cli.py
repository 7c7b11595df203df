"""pro-app participant ...: enrol from the command line or a CSV file."""

import csv

import click
from flask import current_app
from flask.cli import AppGroup
from flask_babel import force_locale

from pro_app.audit.operations import Actor
from pro_app.clock import utcnow
from pro_app.db import db
from pro_app.participants.operations import DuplicateStudyId, enrol, study_id_taken
from pro_app.participants.validation import check_enrolment
from pro_app.protocol import current_protocol
from pro_app.questionnaires import current_instruments

CSV_COLUMNS = ("study_id", "start", "tz", "lang", "age", "phone",
               "caregiver_phone", "caregiver_lang", "caregiver_name", "caregiver_tz")
#: Optional columns: left out or empty, a consent counts as given (recorded by whoever imports)
#: and the document version is --consent-version's.
CONSENT_COLUMNS = ("birth_date", "consent_version", "texts", "questionnaires", "health_data", "guardian", "assent",
                   "caregiver_texts", "caregiver_questionnaires")
#: A caregiver_* column belongs to the row's caregiver; every other one to the participant.
CAREGIVER_COLUMNS = tuple(c for c in CSV_COLUMNS + CONSENT_COLUMNS if c.startswith("caregiver_"))
PARTICIPANT_COLUMNS = tuple(c for c in CSV_COLUMNS + CONSENT_COLUMNS if c not in CAREGIVER_COLUMNS)
OPTION_NAMES = {"study_id": "STUDY_ID", "start": "--start", "tz": "--tz", "lang": "--lang",
                "age": "--age", "phone": "--phone", "caregivers": "--caregiver-phone", "birth_date": "--birth-date",
                "consent_version": "--consent-version", "texts": "--no-texts", "questionnaires": "--no-questionnaires",
                "guardian": "--caregiver-phone", "assent": "--age"}


@click.group("participant", cls=AppGroup)
def participant_cli():
    """Enrol participants."""


CAREGIVER_OPTIONS = {"--caregiver-phone": "phone", "--caregiver-lang": "lang", "--caregiver-name": "name",
                     "--caregiver-tz": "tz", "--caregiver-texts": "texts",
                     "--caregiver-questionnaires": "questionnaires"}


def split_caregivers(args):
    """Take the caregiver options out of argv, one group per caregiver, in typed order.

    A group ends when an option it already has comes again, so
    `--caregiver-phone A --caregiver-lang en --caregiver-phone B` gives A (en) and B.
    """
    groups, current, rest = [], {}, []
    items = iter(args)
    for arg in items:
        name, eq, value = arg.partition("=")
        if name not in CAREGIVER_OPTIONS:
            rest.append(arg)
            continue
        if not eq:
            value = next(items, None)
            if value is None:
                raise click.UsageError(f"{name} needs a value")
        key = CAREGIVER_OPTIONS[name]
        if key in current:
            groups.append(current)
            current = {}
        current[key] = value
    if current:
        groups.append(current)
    for group in groups:
        if "phone" not in group:
            raise click.UsageError("each --caregiver-lang/-name/-tz/-texts/-questionnaires needs its --caregiver-phone")
    return groups, rest


class EnrolCommand(click.Command):
    """A command whose repeated caregiver options are grouped per caregiver."""

    def parse_args(self, ctx, args):
        ctx.meta["caregivers"], args = split_caregivers(args)
        return super().parse_args(ctx, args)


def _option_name(key):
    if key.startswith("caregivers-"):
        _, index, name = key.split("-")
        return f"--caregiver-{name} #{int(index) + 1}"
    return OPTION_NAMES.get(key, key)


@participant_cli.command("add", cls=EnrolCommand)
@click.argument("study_id")
@click.option("--start", required=True, help="Day 1 (first infusion), YYYY-MM-DD.")
@click.option("--tz", required=True, help="IANA time zone, e.g. Asia/Shanghai.")
@click.option("--lang", required=True, help="zh-CN or en.")
@click.option("--age", help="Age in years; none means adult.")
@click.option("--phone", help="Patient's mobile, E.164 (+8613...).")
@click.option("--caregiver-phone", multiple=True, help="A caregiver's mobile; repeat per caregiver.")
@click.option("--caregiver-lang", multiple=True, help="That caregiver's language (default: --lang).")
@click.option("--caregiver-name", multiple=True, help="That caregiver's name or relation.")
@click.option("--caregiver-tz", multiple=True, help="That caregiver's time zone (default: --tz).")
@click.option("--caregiver-texts", multiple=True, help="yes/no: that caregiver agreed to study texts (default yes).")
@click.option("--caregiver-questionnaires", multiple=True, help="yes/no: that caregiver agreed to questionnaires.")
@click.option("--birth-date", help="Date of birth, YYYY-MM-DD (gives the age; raises re-consent tasks at 14 and 18).")
@click.option("--consent-version", help="Version of the signed consent document (default: the site's).")
@click.option("--no-texts", is_flag=True, help="The patient did not agree to study texts.")
@click.option("--no-questionnaires", is_flag=True, help="The patient did not agree to questionnaires.")
def add_command(study_id, start, tz, lang, age, phone, birth_date, consent_version, no_texts, no_questionnaires,
                **_caregiver_options):
    """Enrol one participant and plan their visits; the consents signed are recorded as taken by you."""
    caregivers = click.get_current_context().meta["caregivers"]
    raw = {"study_id": study_id, "start": start, "tz": tz, "lang": lang, "age": age,
           "phone": phone, "caregivers": caregivers, "birth_date": birth_date, "consent_version": consent_version,
           "texts": "no" if no_texts else "", "questionnaires": "no" if no_questionnaires else ""}
    with force_locale("en"):
        enrolment, errors = check_enrolment(raw, current_app.config["CONSENT_DOCUMENT_VERSION"])
        if errors:
            key, message = next(iter(errors.items()))
            raise click.ClickException(f"{_option_name(key)}: {message}")
    try:
        participant = enrol(db.session, enrolment, current_protocol(), current_instruments(),
                            actor=Actor.command_line(),
                            now=utcnow(), public_url=current_app.config["PUBLIC_URL"])
    except DuplicateStudyId:
        raise click.ClickException(f"STUDY_ID: {study_id} is already enrolled") from None
    db.session.commit()
    click.echo(f"enrolled {participant.study_id}: {len(participant.visits)} visits, "
               f"{len(participant.contacts)} contact{'' if len(participant.contacts) == 1 else 's'}")


def read_enrolments(path, rows, default_version="1.0"):
    """Group CSV rows by study ID and check them all; return (enrolments, errors)."""
    errors = []
    grouped = {}
    for line, row in rows:
        if None in row or any(v is None for v in row.values()):
            errors.append(f"{path}:{line}: wrong number of columns")
            continue
        sid = (row.get("study_id") or "").strip()
        caregiver = {c.removeprefix("caregiver_"): row.get(c) for c in CAREGIVER_COLUMNS}
        if sid in grouped:
            first_line, raw, lines = grouped[sid]
            for col in ("start", "tz", "lang", "age", "phone"):
                if (row.get(col) or "").strip() and (row[col] or "").strip() != (raw[col] or "").strip():
                    errors.append(f"{path}:{line}: {col} differs from line {first_line} for {sid}")
            raw["caregivers"].append(caregiver)
            lines.append(line)
        else:
            raw = {k: row.get(k) for k in PARTICIPANT_COLUMNS}
            raw["caregivers"] = [caregiver]
            grouped[sid] = (line, raw, [line])
    enrolments = []
    for line, raw, lines in grouped.values():
        enrolment, row_errors = check_enrolment(raw, default_version)
        for key, message in row_errors.items():
            where = line
            if key.startswith("caregivers-"):
                where = lines[int(key.split("-")[1])]
            errors.append(f"{path}:{where}: {_csv_column(key)}: {message}")
        if enrolment:
            enrolments.append((line, enrolment))
    return enrolments, errors


def _csv_column(key):
    if key.startswith("caregivers-"):
        return "caregiver_" + key.split("-")[2]
    return {"caregivers": "caregiver_phone"}.get(key, key)


@participant_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--consent-version", help="Version of the signed consent document for rows without one "
                                        "(default: the site's).")
def import_command(file, consent_version):
    """Enrol every participant in a CSV file, or none if any row is wrong.

    Consent columns (texts, questionnaires, health_data, guardian, assent, caregiver_texts,
    caregiver_questionnaires: yes/no) are optional; missing or empty means given, recorded as
    taken by whoever runs the import.
    """
    try:
        with open(file, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            missing = [c for c in ("study_id", "start", "tz", "lang") if c not in header]
            unknown = [c for c in header if c not in CSV_COLUMNS + CONSENT_COLUMNS]
            if missing or unknown:
                problems = ([f"missing column(s) {', '.join(missing)}"] if missing else []) + (
                    [f"unknown column(s) {', '.join(unknown)}"] if unknown else [])
                raise click.ClickException(f"{file}:1: " + "; ".join(problems))
            rows = [(reader.line_num, row) for row in reader]
    except UnicodeDecodeError:
        raise click.ClickException(f"{file}: not UTF-8 text") from None
    except csv.Error as exc:
        raise click.ClickException(f"{file}: not a readable CSV file ({exc})") from None
    if not rows:
        raise click.ClickException(f"{file}: no participants in the file")
    with force_locale("en"):
        enrolments, errors = read_enrolments(
            file, rows, consent_version or current_app.config["CONSENT_DOCUMENT_VERSION"])
    for line, enrolment in enrolments:
        if study_id_taken(db.session, enrolment.study_id):
            errors.append(f"{file}:{line}: study_id: {enrolment.study_id} is already enrolled")
    if errors:
        for error in errors:
            click.echo(error, err=True)
        raise click.ClickException(f"{len(errors)} error(s); nothing was imported")
    now = utcnow()
    actor = Actor.command_line()
    for _line, enrolment in enrolments:
        enrol(db.session, enrolment, current_protocol(), current_instruments(), actor=actor, now=now,
              public_url=current_app.config["PUBLIC_URL"])
    db.session.commit()
    click.echo(f"imported {len(enrolments)} participant(s)")
