"""Trial data out: FHIR and ODM round trips on the demo study, compliance on a hand-built study,
tidy CSV (long and wide), the audit of every export, privacy, and the Exports page's roles."""

import csv
import io
import json
import random
import zipfile
from datetime import date, time, timedelta

import pytest
from conftest import NOW
from fhir.resources.R4B import get_fhir_model_class
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from pro_app import alerts
from pro_app.audit.models import AuditEvent
from pro_app.audit.operations import Actor
from pro_app.clock import local_to_utc
from pro_app.db import db
from pro_app.demo import load_demo, plausible_answers
from pro_app.exports.compliance import Window, compliance
from pro_app.exports.csvfile import safe_cell
from pro_app.participants.models import Participant, ParticipantStatus
from pro_app.participants.operations import set_participant_status
from pro_app.protocol import current_protocol
from pro_app.questionnaires import current_instruments
from pro_app.questionnaires import operations as ops
from pro_app.questionnaires.instruments import from_stored
from pro_app.questionnaires.models import Assignment, AssignmentState, Response

TZ = "Asia/Shanghai"


def load_the_demo(app):
    with app.test_request_context():
        load_demo(db.session, current_protocol(), current_instruments(), NOW, app.config["PUBLIC_URL"],
                  alerts.settings(app.config))
        db.session.commit()


def stored_responses(app):
    """Return [(response, instrument version)] of every submitted response (with its study ID as .study_id)."""
    with app.app_context():
        out = []
        for r, sid in db.session.execute(select(Response, Participant.study_id)
                                         .join(Participant, Participant.id == Response.participant_id)
                                         .order_by(Response.id)):
            instrument = from_stored(r.version.definition, r.version.version_hash)
            r.study_id = sid
            out.append((r, instrument))
        db.session.expunge_all()
        db.session.rollback()
        return out


def answered(instrument, answers):
    return [i for i in instrument.items() if answers.get(i.id) not in (None, [])]


def fhir_value(answers):
    """Turn FHIR answers back into the value the app stores."""
    values = []
    for a in answers:
        if a.valueCoding is not None:
            values.append(int(a.valueCoding.code))
        elif a.valueBoolean is not None:
            values.append(a.valueBoolean)
        elif a.valueDecimal is not None:
            values.append(float(a.valueDecimal))
        elif a.valueInteger is not None:
            values.append(a.valueInteger)
        elif a.valueDate is not None:
            values.append(a.valueDate.isoformat())
        else:
            values.append(a.valueString)
    return values


# --- acceptance 1: FHIR ---------------------------------------------------------------------------

def test_demo_study_as_fhir_round_trips(app, runner, clock, tmp_path):
    load_the_demo(app)
    stored = stored_responses(app)
    assert len(stored) > 20
    out = tmp_path / "study.ndjson"
    result = runner.invoke(args=["export", "responses", "--format", "fhir", "--out", str(out)])
    assert result.exit_code == 0, result.output

    questionnaires, responses = {}, {}
    for line in out.read_text(encoding="utf-8").splitlines():
        kind = json.loads(line)["resourceType"]
        resource = get_fhir_model_class(kind).model_validate_json(line)  # every resource parses
        if kind == "Questionnaire":
            questionnaires[f"{resource.url}|{resource.version}"] = resource
        else:
            assert kind == "QuestionnaireResponse"
            responses[resource.identifier.value] = resource
    assert set(responses) == {str(r.id) for r, _i in stored}

    for response, instrument in stored:
        qr = responses[str(response.id)]
        assert qr.status == "completed"
        assert qr.questionnaire in questionnaires  # same export, canonical URL and version
        assert qr.questionnaire.endswith(f"/Questionnaire/{instrument.id}|{instrument.version}")
        assert qr.subject.identifier.value == response.study_id
        got = {item.linkId: fhir_value(item.answer) for group in qr.item for item in group.item}
        expected = {i.id: response.answers[i.id] for i in answered(instrument, response.answers)}
        assert set(got) == set(expected), response.id
        for item_id, value in expected.items():
            assert got[item_id] == (value if isinstance(value, list) else [value]), (response.id, item_id)
        # Proxy answers name the caregiver as a RelatedPerson, never by name.
        assert qr.author.type == ("RelatedPerson" if response.proxy else "Patient")
        # Each item of the response is an item of its Questionnaire, with an answer type it allows.
        q_items = {i.linkId: i for g in questionnaires[qr.questionnaire].item for i in g.item}
        for group in qr.item:
            for item in group.item:
                assert item.linkId in q_items
                if q_items[item.linkId].type == "choice":
                    codes = {o.valueCoding.code for o in q_items[item.linkId].answerOption}
                    assert {a.valueCoding.code for a in item.answer} <= codes


def test_fhir_subjects_are_study_ids_and_bundle_parses(app, runner, clock):
    load_the_demo(app)
    result = runner.invoke(args=["export", "responses", "--format", "fhir", "--bundle", "--participant", "DEMO-T02"])
    assert result.exit_code == 0, result.output
    bundle = get_fhir_model_class("Bundle").model_validate_json(result.stdout)
    subjects = {e.resource.subject.identifier.value for e in bundle.entry
                if e.resource.__resource_type__ == "QuestionnaireResponse"}
    assert subjects == {"DEMO-T02"}
    authors = {e.resource.author.type for e in bundle.entry if e.resource.__resource_type__ == "QuestionnaireResponse"}
    assert authors == {"Patient", "RelatedPerson"}  # the teenager and the parent answering as proxy
    assert "+86" not in result.stdout and "Mother" not in result.stdout


def test_questionnaire_has_branching_options_and_units(app, runner):
    result = runner.invoke(args=["export", "codebook", "--format", "fhir"])
    assert result.exit_code == 0, result.output
    resources = [json.loads(line) for line in result.stdout.splitlines()]
    assert {r["resourceType"] for r in resources} == {"Questionnaire"}
    post = next(r for r in resources if r["url"].endswith("/post-infusion"))
    items = {i["linkId"]: i for g in post["item"] for i in g["item"]}
    assert items["chills"]["type"] == "boolean"
    assert items["chills_severity"]["enableWhen"] == [{"question": "chills", "operator": "=", "answerBoolean": True}]
    with app.test_request_context():
        severity = current_instruments()["post-infusion"].item("chills_severity")
    assert [o["valueCoding"]["code"] for o in items["chills_severity"]["answerOption"]] == [
        str(v) for v, _label in severity.choices]
    assert [o["valueCoding"]["display"] for o in items["chills_severity"]["answerOption"]] == [
        label["en"] for _v, label in severity.choices]
    assert items["temperature"]["type"] == "decimal"
    assert any(e.get("valueCoding", {}).get("code") == "Cel" for e in items["temperature"]["extension"])


# --- acceptance 2: ODM ----------------------------------------------------------------------------

def test_demo_study_as_odm_parses_with_every_oid_defined(app, runner, clock, tmp_path):
    import odmlib.loader as LD
    import odmlib.odm_loader as OL
    from odmlib.odm_parser import ODMSchemaValidator

    load_the_demo(app)
    out = tmp_path / "study.xml"
    result = runner.invoke(args=["export", "responses", "--format", "odm", "--out", str(out)])
    assert result.exit_code == 0, result.output
    ODMSchemaValidator(standard="odm", version="1.3.2").validate_file(str(out))  # raises when not valid
    assert ODMSchemaValidator(standard="odm", version="1.3.2").validate_tree(str(out))

    loader = LD.ODMLoader(OL.XMLODMLoader(model_package="odm_1_3_2"))
    loader.open_odm_document(str(out))
    odm = loader.root()
    mdv = odm.Study[0].MetaDataVersion[0]
    item_oids = {i.OID for i in mdv.ItemDef}
    group_oids = {g.OID for g in mdv.ItemGroupDef}
    form_oids = {f.OID for f in mdv.FormDef}
    event_oids = {e.OID for e in mdv.StudyEventDef}
    code_lists = {c.OID for c in mdv.CodeList}
    assert all(i.CodeListRef.CodeListOID in code_lists for i in mdv.ItemDef if i.CodeListRef)

    item_data = []
    for clinical in odm.ClinicalData:
        assert clinical.MetaDataVersionOID == mdv.OID
        keys = [subject.SubjectKey for subject in clinical.SubjectData]
        assert sorted(keys) == sorted({r.study_id for r, _i in stored_responses(app)})  # each subject once
        for subject in clinical.SubjectData:
            events = [(e.StudyEventOID, e.StudyEventRepeatKey) for e in subject.StudyEventData]
            assert len(events) == len(set(events))  # each time point once
            for event in subject.StudyEventData:
                assert event.StudyEventOID in event_oids
                for form in event.FormData:
                    assert form.FormOID in form_oids
                    for group in form.ItemGroupData:
                        assert group.ItemGroupOID in group_oids
                        item_data.extend(group.ItemData)
    assert {d.ItemOID for d in item_data} <= item_oids
    expected = sum(len(answered(i, r.answers)) for r, i in stored_responses(app))
    assert len(item_data) == expected > 100
    assert f"wrote {expected} ItemData(s)" in result.output


# --- acceptance 3: compliance ---------------------------------------------------------------------

def at(day, hour=9):
    """A UTC instant on a study day (day 1 = 2026-03-02) at a Shanghai wall-clock hour."""
    return local_to_utc(date(2026, 3, 1) + timedelta(days=day), time(hour), TZ)


def test_compliance_counts_windows_of_participants_on_study():
    withdrew = at(15, 8)
    windows = [
        # P-A: answers weeks 1 and 3, misses week 2; week 4 is still open.
        Window("symptom-check", "weekly-w1", "self", at(1), at(4), True, None, 1),
        Window("symptom-check", "weekly-w2", "self", at(8), at(11), False, None, 8),
        Window("symptom-check", "weekly-w3", "self", at(15), at(18), True, None, 15),
        Window("symptom-check", "weekly-w4", "self", at(22), at(25), False, None, 22),
        # P-W: answers week 1, misses week 2, withdraws on day 15 before week 3 opens.
        Window("symptom-check", "weekly-w1", "self", at(1), at(4), True, withdrew, 1),
        Window("symptom-check", "weekly-w2", "self", at(8), at(11), False, withdrew, 8),
        Window("symptom-check", "weekly-w3", "self", at(15), at(18), False, withdrew, 15),
        Window("symptom-check", "weekly-w4", "self", at(22), at(25), False, withdrew, 22),
    ]
    rows = {r["occasion"]: r for r in compliance(windows, now=at(24))}
    assert [r for r in rows] == ["weekly-w1", "weekly-w2", "weekly-w3", "weekly-w4", "all"]
    pick = ("expected", "received", "missed", "rate_percent", "not_expected_off_study", "not_yet_due")
    assert {k: rows["weekly-w1"][k] for k in pick} == dict(zip(pick, (2, 2, 0, 100.0, 0, 0)))
    assert {k: rows["weekly-w2"][k] for k in pick} == dict(zip(pick, (2, 0, 2, 0.0, 0, 0)))
    assert {k: rows["weekly-w3"][k] for k in pick} == dict(zip(pick, (1, 1, 0, 100.0, 1, 0)))
    assert {k: rows["weekly-w4"][k] for k in pick} == dict(zip(pick, (0, 0, 0, None, 1, 1)))
    assert {k: rows["all"][k] for k in pick} == dict(zip(pick, (5, 3, 2, 60.0, 2, 1)))


class TestHandBuiltStudy:
    """A study whose questionnaire windows are built by hand, not by the protocol."""

    @pytest.fixture
    def app_config(self, reminders_only_protocol):
        return {"PROTOCOL_FILE": reminders_only_protocol}


    def test_compliance_of_a_hand_built_study_with_a_withdrawal(self, app, make_participant, runner, clock):
        make_participant("P-A", phone="+8613800138001")
        make_participant("P-W", phone="+8613800138002")
        withdrew = at(15, 8)
        with app.test_request_context():
            instrument = current_instruments()["symptom-check"]
            people = {p.study_id: p for p in db.session.scalars(select(Participant))}
            assert not db.session.scalars(select(Assignment)).all()  # no questionnaire schedule in this protocol
            plan = {"P-A": {1: True, 2: False, 3: True, 4: False}, "P-W": {1: True, 2: False, 3: False, 4: False}}
            for sid, weeks in plan.items():
                p = people[sid]
                for week, answer in weeks.items():
                    opens = at(7 * (week - 1) + 1)
                    a = Assignment(participant_id=p.id, contact_id=p.contacts[0].id, respondent="self",
                                   instrument_id="symptom-check", occasion=f"weekly-w{week}", opens_at=opens,
                                   closes_at=opens + timedelta(days=3), state=AssignmentState.PENDING,
                                   created_at=NOW, updated_at=NOW)
                    db.session.add(a)
                    db.session.flush()
                    if answer:
                        draft = ops.open_draft(db.session, a, instrument, opens + timedelta(hours=2))
                        draft.answers = plausible_answers(instrument, random.Random(week))
                        ops.submit(db.session, a, draft, instrument, draft.submit_key, opens + timedelta(hours=3))
            # A window replaced by another is no window of its own.
            db.session.add(Assignment(participant_id=people["P-A"].id, contact_id=people["P-A"].contacts[0].id,
                                      respondent="self", instrument_id="symptom-check", occasion="weekly-w9",
                                      opens_at=at(2), closes_at=at(5), state=AssignmentState.SUPERSEDED,
                                      created_at=NOW, updated_at=NOW))
            set_participant_status(db.session, people["P-W"], ParticipantStatus.WITHDRAWN, reason="family's wish",
                                   actor=Actor(label="test"), now=withdrew)
            db.session.commit()
        clock.now = at(24)
        result = runner.invoke(args=["export", "compliance", "--format", "json"])
        assert result.exit_code == 0, result.output
        rows = {(r["instrument_id"], r["occasion"]): r for r in json.loads(result.stdout)}
        assert set(rows) == {("symptom-check", f"weekly-w{w}") for w in (1, 2, 3, 4)} | {("symptom-check", "all")}
        got = {occ: (r["expected"], r["received"], r["missed"], r["rate_percent"]) for (_i, occ), r in rows.items()}
        assert got == {"weekly-w1": (2, 2, 0, 100.0), "weekly-w2": (2, 0, 2, 0.0), "weekly-w3": (1, 1, 0, 100.0),
                       "weekly-w4": (0, 0, 0, None), "all": (5, 3, 2, 60.0)}
        assert rows[("symptom-check", "weekly-w3")]["not_expected_off_study"] == 1
        assert rows[("symptom-check", "all")]["first_window_study_day"] is None
        assert rows[("symptom-check", "weekly-w2")]["first_window_study_day"] == 8


# --- tidy tables, the audit, privacy -------------------------------------------------------------

def test_long_csv_has_one_row_per_answered_item_and_each_export_is_audited(app, runner, clock, tmp_path):
    load_the_demo(app)
    stored = stored_responses(app)
    out = tmp_path / "long.csv"
    result = runner.invoke(args=["export", "responses", "--out", str(out), "--excel", "--since", "2026-02-20"])
    assert result.exit_code == 0, result.output
    raw = out.read_text(encoding="utf-8")
    assert raw.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(raw[1:])))
    since = local_to_utc(date(2026, 2, 20), time(0), TZ)
    kept = [(r, i) for r, i in stored if r.submitted_at >= since]
    assert 0 < len(kept) < len(stored)
    assert len(rows) == sum(len(answered(i, r.answers)) for r, i in kept)
    response, instrument = kept[0]
    first = [row for row in rows if row["response_id"] == str(response.id)]
    assert [row["item_id"] for row in first] == [i.id for i in answered(instrument, response.answers)]
    row = first[0]
    assert row["study_id"] == response.study_id and row["respondent"] == response.respondent
    assert row["instrument_version"] == instrument.version and row["unfinished"] == "0"
    assert row["answered_at_utc"] == response.submitted_at.isoformat()
    assert row["answered_at_local"].endswith("+08:00")
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export.downloaded")).one()
        assert event.after["dataset"] == "responses" and event.after["rows"] == len(rows)
        assert event.after["filters"] == {"since": "2026-02-20"} and event.actor.startswith("cli:")


def test_wide_tables_one_file_per_instrument_version(app, runner, clock, tmp_path):
    load_the_demo(app)
    stored = stored_responses(app)
    out = tmp_path / "wide.zip"
    result = runner.invoke(args=["export", "responses", "--wide", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as archive:
        tables = {name: list(csv.DictReader(io.StringIO(archive.read(name).decode()))) for name in archive.namelist()}
    versions = {(i.id, i.version[:12]) for _r, i in stored}
    assert set(tables) == {f"{iid}-{v}.csv" for iid, v in versions}
    assert sum(len(t) for t in tables.values()) == len(stored)
    response, instrument = stored[0]
    table = tables[f"{instrument.id}-{instrument.version[:12]}.csv"]
    row = next(r for r in table if r["response_id"] == str(response.id))
    for score in instrument.scores:
        value = response.scores.get(score.id)
        assert row[f"score_{score.id}"] == ("" if value is None else str(value))
    item = answered(instrument, response.answers)[0]
    assert row[item.id] != ""


def test_no_export_but_contacts_holds_a_phone_number_or_name(app, runner, clock, make_staff):
    load_the_demo(app)
    make_staff("admin", email="boss@example.org")
    secrets = ["+8613800138001", "+8613800138012", "+447911123456", "Mother", "Aunt", "13800138"]
    for dataset, formats in [("responses", ["csv", "json", "fhir", "odm"]), ("scores", ["csv"]), ("visits", ["csv"]),
                             ("messages", ["csv", "json"]), ("alerts", ["csv"]), ("audit", ["csv", "json"]),
                             ("compliance", ["csv"]), ("codebook", ["csv"])]:
        for fmt in formats:
            result = runner.invoke(args=["export", dataset, "--format", fmt])
            assert result.exit_code == 0, (dataset, fmt, result.output)
            assert len(result.stdout) > 100, (dataset, fmt)
            for secret in secrets:
                assert secret not in result.stdout, (dataset, fmt, secret)
    refused = runner.invoke(args=["export", "contacts"])
    assert refused.exit_code != 0 and "administrator" in refused.output
    nurse = make_staff("nurse", email="n@example.org")
    assert runner.invoke(args=["export", "contacts", "--as", nurse]).exit_code != 0
    allowed = runner.invoke(args=["export", "contacts", "--as", "boss@example.org"])
    assert allowed.exit_code == 0 and "+8613800138012" in allowed.stdout and "Mother" in allowed.stdout
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export.downloaded")
                                   .order_by(AuditEvent.id.desc())).first()
        assert event.actor == "staff:boss@example.org" and event.after["dataset"] == "contacts"


def test_csv_cells_that_would_run_as_formulas_are_neutralised(app, runner, clock, make_participant):
    make_participant("P-001")
    answer_one(app, extra={"anything_else": '=HYPERLINK("http://x.example","click")'})
    result = runner.invoke(args=["export", "responses"])
    row = next(r for r in csv.DictReader(io.StringIO(result.stdout)) if r["item_id"] == "anything_else")
    assert row["value"] == safe_cell('=HYPERLINK("http://x.example","click")') == "'=HYPERLINK(\"http://x.example\",\"click\")"


def test_unfinished_questionnaires_are_flagged_only_when_asked(app, runner, clock, make_participant):
    make_participant("P-001")
    with app.test_request_context():
        instrument = current_instruments()["post-infusion"]
        a = db.session.scalars(select(Assignment).where(Assignment.instrument_id == "post-infusion")).first()
        draft = ops.open_draft(db.session, a, instrument, a.opens_at + timedelta(minutes=5))
        draft.answers = {"temperature": 38.4, "chills": False}
        db.session.commit()
    assert len(list(csv.DictReader(io.StringIO(runner.invoke(args=["export", "responses"]).stdout)))) == 0
    result = runner.invoke(args=["export", "responses", "--unfinished"])
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["item_id"], r["value"], r["unfinished"], r["submitted_at_utc"]) for r in rows] == [
        ("temperature", "38.4", "1", ""), ("chills", "0", "1", "")]
    assert rows[0]["unit"] == "°C"


def test_alerts_export_keeps_its_shape_and_filters(app, runner, clock):
    load_the_demo(app)
    every = json.loads(runner.invoke(args=["export", "alerts", "--format", "json"]).stdout)
    assert every and {"id", "study_id", "rule", "severity", "state", "note"} <= set(every[0])
    one = json.loads(runner.invoke(args=["export", "alerts", "--format", "json", "--participant", "DEMO-A01"]).stdout)
    assert one and {r["study_id"] for r in one} == {"DEMO-A01"} and len(one) < len(every)


def test_visits_and_messages_exports(app, runner, clock, make_participant):
    make_participant("P-001")
    visits = list(csv.DictReader(io.StringIO(runner.invoke(args=["export", "visits"]).stdout)))
    first = next(v for v in visits if v["protocol_key"] == "infusion-1")
    assert first["scheduled_local_date"] == "2026-03-02" and first["scheduled_study_day"] == "1"
    assert first["planned_local_date"] == "2026-03-02" and first["moves"] == "0" and first["status"] == "scheduled"
    messages = list(csv.DictReader(io.StringIO(runner.invoke(args=["export", "messages"]).stdout)))
    assert {"welcome", "visit_reminder"} <= {m["kind"] for m in messages}
    assert {m["step"] for m in messages if m["kind"] == "visit_reminder"} == {"2d", "1d", "morning"}
    assert "body" not in messages[0] and all(m["recipient_role"] == "patient" for m in messages)


# --- the Exports page -------------------------------------------------------------------------------

def test_exports_page_is_for_investigators_admins_and_monitors(app, client, login, clock):
    login("nurse")
    assert client.get("/staff/exports/").status_code == 403
    refused = client.get("/staff/exports/download", query_string={"dataset": "responses", "format": "csv"})
    assert refused.status_code == 403


def answer_one(app, instrument_id="post-infusion", extra=None):
    """Submit one response of the first window of an instrument; return the response id."""
    with app.test_request_context():
        instrument = current_instruments()[instrument_id]
        a = db.session.scalars(select(Assignment).where(Assignment.instrument_id == instrument_id)).first()
        draft = ops.open_draft(db.session, a, instrument, a.opens_at + timedelta(minutes=5))
        draft.answers = {**plausible_answers(instrument, random.Random(1)), **(extra or {})}
        response = ops.submit(db.session, a, draft, instrument, draft.submit_key, a.opens_at + timedelta(minutes=6))
        db.session.commit()
        return response.id


def test_monitor_downloads_and_the_download_is_audited(app, client, login, clock, make_participant):
    make_participant("P-001")
    clock.now = NOW + timedelta(days=30)
    login("monitor")
    page = client.get("/staff/exports/")
    assert page.status_code == 200 and "compliance" in page.get_data(as_text=True)
    assert "contacts" not in page.get_data(as_text=True)
    response = client.get("/staff/exports/download", query_string={"dataset": "compliance", "format": "csv",
                                                             "excel": "1"})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeffinstrument_id,occasion")
    rows = list(csv.DictReader(io.StringIO(body[1:])))
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export.downloaded")).one()
        assert event.actor == "staff:monitor@example.org"
        assert event.after == {"dataset": "compliance", "format": "csv", "filters": {}, "rows": len(rows),
                               "via": "exports page", "excel": True}
    assert "compliance" in client.get("/staff/exports/").get_data(as_text=True)  # listed under recent exports
    # Contacts are for administrators only, whatever the form says.
    contacts = client.get("/staff/exports/download", query_string={"dataset": "contacts", "format": "csv"})
    assert contacts.status_code == 403


def test_bad_export_requests_get_a_clear_400(app, client, login, clock):
    login("investigator")
    for data, message in [({"dataset": "nothing", "format": "csv"}, "Choose what to export."),
                          ({"dataset": "visits", "format": "odm"}, "This data has no ODM format"),
                          ({"dataset": "visits", "format": "csv", "since": "2026-13-45"}, "Enter a date"),
                          ({"dataset": "visits", "format": "csv", "participant": "NOBODY"}, "No participant")]:
        response = client.get("/staff/exports/download", query_string=data)
        assert response.status_code == 400, data
        assert message in response.get_data(as_text=True)


def test_fhir_and_odm_download_from_the_page(app, client, login, clock, make_participant):
    make_participant("P-001")
    answer_one(app)
    login("admin")
    fhir = client.get("/staff/exports/download", query_string={"dataset": "responses", "format": "fhir"})
    assert fhir.status_code == 200 and fhir.mimetype == "application/fhir+ndjson"
    lines = fhir.get_data(as_text=True).splitlines()
    assert [json.loads(line)["resourceType"] for line in lines].count("QuestionnaireResponse") == 1
    assert all(get_fhir_model_class(json.loads(line)["resourceType"]).model_validate_json(line) for line in lines)
    odm = client.get("/staff/exports/download", query_string={"dataset": "codebook", "format": "odm"})
    assert odm.status_code == 200 and b"<MetaDataVersion" in odm.get_data()


def test_a_moved_visit_keeps_its_planned_date_and_counts_its_moves(app, runner, clock, make_participant):
    from pro_app.visits.models import Visit
    from pro_app.visits.operations import move_visit

    make_participant("P-001")
    with app.test_request_context():
        visit = db.session.scalars(select(Visit).where(Visit.protocol_key == "infusion-3")).one()
        for day in (date(2026, 3, 17), date(2026, 3, 18)):
            move_visit(db.session, visit, day, time(9, 0), shift_later=False, shift_other_kinds=False,
                       reason="family travelling", actor=Actor(label="test"), now=NOW,
                       protocol=current_protocol(), instruments=current_instruments())
        db.session.commit()
    rows = {v["protocol_key"]: v for v in csv.DictReader(io.StringIO(runner.invoke(args=["export", "visits"]).stdout))}
    moved = rows["infusion-3"]
    assert (moved["planned_local_date"], moved["scheduled_local_date"], moved["scheduled_local_time"]) == (
        "2026-03-16", "2026-03-18", "09:00")
    assert (moved["planned_study_day"], moved["scheduled_study_day"], moved["moves"]) == ("15", "17", "2")
    assert rows["infusion-2"]["moves"] == "0"


def test_codebook_lists_every_item_in_both_languages_with_codes_branching_and_scoring(app, runner):
    rows = list(csv.DictReader(io.StringIO(runner.invoke(args=["export", "codebook"]).stdout)))
    instruments = current_instruments_of(app)
    assert {(r["instrument_id"], r["variable"]) for r in rows if r["kind"] == "item"} == {
        (i.id, item.id) for i in instruments for item in i.items()}
    by = {(r["instrument_id"], r["variable"]): r for r in rows}
    severity = by[("post-infusion", "chills_severity")]
    item = next(i for i in instruments if i.id == "post-infusion").item("chills_severity")
    assert severity["codes"] == "; ".join(str(v) for v, _label in item.choices)
    assert severity["labels_en"] == "; ".join(label["en"] for _v, label in item.choices)
    assert severity["labels_zh"] == "; ".join(label["zh-CN"] for _v, label in item.choices)
    assert severity["shown_if"] == "chills in [yes]" and severity["type"] == "single"
    assert "chills_severe (amber" in severity["alert_rules"]
    assert by[("post-infusion", "temperature")]["unit"] == "°C"
    chills = next(i for i in instruments if i.id == "post-infusion").item("chills")
    assert by[("post-infusion", "chills")]["text_zh_self"] == chills.text["self"]["zh-CN"]
    assert by[("post-infusion", "chills")]["text_en_proxy"] == chills.text["proxy"]["en"]
    scores = [r for r in rows if r["kind"] == "score"]
    assert scores and all(r["scoring"] for r in scores)
    assert sum(len(i.scores) for i in instruments) == len(scores)


def current_instruments_of(app):
    with app.test_request_context():
        return list(current_instruments().values())


def test_odm_with_unfinished_questionnaires_writes_each_subject_once(app, runner, clock, make_participant, tmp_path):
    from odmlib.odm_parser import ODMSchemaValidator

    make_participant("P-001")
    make_participant("P-002", phone="+8613800138002")
    answer_one(app)
    with app.test_request_context():
        instrument = current_instruments()["post-infusion"]
        pending = db.session.scalars(select(Assignment).where(Assignment.instrument_id == "post-infusion",
                                                              Assignment.state == AssignmentState.PENDING)
                                     .order_by(Assignment.participant_id, Assignment.opens_at)).all()
        for a in (pending[0], pending[-1]):  # one of each participant, left unfinished
            draft = ops.open_draft(db.session, a, instrument, a.opens_at + timedelta(minutes=5))
            draft.answers = {"temperature": 37.2}
        db.session.commit()
    out = tmp_path / "odm.xml"
    result = runner.invoke(args=["export", "responses", "--format", "odm", "--unfinished", "--out", str(out)])
    assert result.exit_code == 0, result.output
    ODMSchemaValidator(standard="odm", version="1.3.2").validate_file(str(out))
    text = out.read_text(encoding="utf-8")
    assert text.count('<SubjectData SubjectKey="P-001">') == 1 and text.count('<SubjectData SubjectKey="P-002">') == 1
    assert text.count('FormRepeatKey="d') == 2  # the two drafts, keyed by their assignment


def test_wide_tables_download_as_a_zip_from_the_page(app, client, login, clock, make_participant):
    make_participant("P-001")
    answer_one(app)
    login("investigator")
    response = client.get("/staff/exports/download",
                          query_string={"dataset": "responses", "format": "wide", "excel": "1"})
    assert response.status_code == 200 and response.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.get_data())) as archive:
        (name,) = archive.namelist()
        text = archive.read(name).decode("utf-8")
    assert name.startswith("post-infusion-") and text.startswith("\ufeffstudy_id,")
    assert len(list(csv.DictReader(io.StringIO(text[1:])))) == 1
    refused = client.get("/staff/exports/download", query_string={"dataset": "visits", "format": "wide"})
    assert refused.status_code == 400
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export.downloaded")).one()
        assert (event.after["format"], event.after["rows"]) == ("csv-wide", 1)


def test_exports_page_in_chinese(app, client, login):
    login("investigator", lang="zh-CN")
    page = client.get("/staff/exports/").get_data(as_text=True)
    for text in ("数据导出", "导出内容", "格式", "筛选条件和选项", "下载", "最近的导出", "问卷依从性"):
        assert text in page, text
    assert '<html lang="zh-CN">' in page


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dataset=st.sampled_from(["responses", "visits", "contacts", "codebook", "", "x" * 300, "../etc"]),
       fmt=st.sampled_from(["csv", "json", "fhir", "odm", "wide", "", "exe"]),
       since=st.one_of(st.just(""), st.text(max_size=30), st.dates().map(str)),
       participant=st.one_of(st.just(""), st.text(max_size=60)), excel=st.sampled_from(["", "1", "yes"]))
def test_any_export_form_gets_a_page_never_an_error(app, client, login, dataset, fmt, since, participant, excel):
    if not client.get("/staff/exports/").status_code == 200:
        login("investigator")
    response = client.get("/staff/exports/download", query_string={"dataset": dataset, "format": fmt, "since": since,
                                                             "participant": participant, "excel": excel})
    assert response.status_code in (200, 400, 403), response.status_code
    response.get_data()  # a streamed download runs to its end


def test_an_administrator_downloads_contacts_from_the_page(app, client, login, clock, make_participant):
    make_participant("P-001", phone="+8613800138077")
    login("admin")
    assert "contacts" in client.get("/staff/exports/").get_data(as_text=True)
    response = client.get("/staff/exports/download", query_string={"dataset": "contacts", "format": "csv"})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["study_id"], r["phone"], r["role"]) for r in rows] == [("P-001", "+8613800138077", "patient")]
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export.downloaded")).one()
        assert (event.actor, event.after["dataset"], event.after["rows"]) == ("staff:admin@example.org", "contacts", 1)
