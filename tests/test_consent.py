"""Consent records: nothing goes to a contact without consent to texts; withdrawals take effect at once."""

from datetime import date, timedelta

import pytest
from conftest import NOW
from sqlalchemy import select

from pro_app.audit.models import AuditEvent
from pro_app.audit.operations import Actor
from pro_app.consent.models import Consent
from pro_app.consent.operations import withdraw
from pro_app.db import db
from pro_app.participants.models import Contact, Participant, ParticipantStatus
from pro_app.participants.validation import check_enrolment
from pro_app.questionnaires.models import OPEN_ASSIGNMENT, Assignment, AssignmentState
from pro_app.sms.models import Message, MessageState

MUM, DAD, TEEN = "+8613800138501", "+8613800138502", "+8613800138503"


def _participant(study_id="P-001"):
    return db.session.scalar(select(Participant).where(Participant.study_id == study_id))


def _messages(phone):
    return db.session.scalars(select(Message).where(Message.to_phone == phone)).all()


def test_a_contact_without_consent_to_texts_gets_nothing_not_even_the_welcome(app, make_participant, tick):
    make_participant("P-001", age="15", phone=TEEN, caregivers=[
        {"phone": MUM, "lang": "zh-CN", "name": "mother"},
        {"phone": DAD, "lang": "zh-CN", "name": "father", "texts": "no"},
    ])
    tick(NOW)
    with app.app_context():
        assert _messages(DAD) == []
        assert any(m.template == "welcome" for m in _messages(MUM))
        p = _participant()
        kinds = sorted((c.kind, c.contact_id is None) for c in db.session.scalars(
            select(Consent).where(Consent.participant_id == p.id)))
        dad = db.session.scalar(select(Contact).where(Contact.phone == DAD))
        assert dad.consent_at is None and dad.receives_questionnaires
        assert ("health_data", True) in kinds and ("assent", True) in kinds and ("guardian", False) not in kinds
        assert [c.kind for c in db.session.scalars(select(Consent).where(Consent.contact_id == dad.id))] == [
            "questionnaires"]
        enrolled = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "participant.enrolled"))
        assert {"role": "caregiver", "language": "zh-CN", "texts": False, "questionnaires": True} in \
            enrolled.after["contacts"]


def test_withdrawing_questionnaires_closes_open_windows_at_once_and_keeps_texts(app, make_participant):
    make_participant("P-001", phone=TEEN, start=date(2026, 3, 2))
    later = NOW + timedelta(days=1)
    with app.app_context():
        p = _participant()
        assert db.session.scalars(select(Assignment).where(Assignment.participant_id == p.id,
                                                           Assignment.state.in_(OPEN_ASSIGNMENT))).all()
        effect = withdraw(db.session, p, "questionnaires", reason="family asked", actor=Actor(label="test"), now=later)
        db.session.commit()
        assert effect["windows_closed"] > 0
        states = set(db.session.scalars(select(Assignment.state).where(Assignment.participant_id == p.id)))
        assert not states & set(OPEN_ASSIGNMENT) and AssignmentState.SUPERSEDED in states
        pending = [m for m in _messages(TEEN) if m.state == MessageState.PENDING]
        assert pending and all(m.template != "questionnaire_invite" for m in pending)  # visit reminders stay
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "consent.withdrawn.questionnaires"))
        assert event.reason == "family asked" and event.after["windows_closed"] == effect["windows_closed"]
        assert db.session.scalar(select(Consent).where(Consent.kind == "questionnaires")).withdrawn_at == later


def test_withdrawing_texts_cancels_pending_texts_and_the_study_stops_everything(app, make_participant):
    make_participant("P-001", phone=TEEN)
    with app.app_context():
        p = _participant()
        withdraw(db.session, p, "texts", reason="no more texts", actor=Actor(label="test"), now=NOW)
        db.session.commit()
        assert {m.state for m in _messages(TEEN)} == {MessageState.CANCELLED}
        withdraw(db.session, p, "study", reason="left the study", actor=Actor(label="test"), now=NOW)
        db.session.commit()
        assert p.status == ParticipantStatus.WITHDRAWN
        assert not db.session.scalars(select(Assignment).where(Assignment.state.in_(OPEN_ASSIGNMENT))).all()
        with pytest.raises(ValueError):
            withdraw(db.session, p, "texts", reason=" ", actor=Actor(label="test"), now=NOW)


@pytest.mark.parametrize("raw,field", [
    ({"age": "10", "guardian": "no"}, "guardian"),
    ({"age": "9", "assent": "no"}, "assent"),
    ({"health_data": "no"}, "health_data"),
    ({"texts": "maybe"}, "texts"),
    ({"birth_date": "2030-01-01"}, "birth_date"),
])
def test_enrolment_refuses_missing_consents(app, raw, field):
    base = {"study_id": "P-009", "start": "2026-03-02", "tz": "Asia/Shanghai", "lang": "zh-CN", "age": "",
            "phone": "", "caregivers": [{"phone": MUM, "lang": "zh-CN"}]}
    with app.test_request_context():
        enrolment, errors = check_enrolment({**base, **raw})
    assert enrolment is None and field in errors


def test_a_date_of_birth_gives_the_age(app):
    raw = {"study_id": "P-009", "start": "2026-03-02", "tz": "Asia/Shanghai", "lang": "zh-CN", "age": "",
           "phone": "", "birth_date": "2012-04-01", "caregivers": [{"phone": MUM, "lang": "zh-CN"}]}
    with app.test_request_context():
        enrolment, errors = check_enrolment(raw)
    assert not errors and enrolment.age == 13 and enrolment.guardian and enrolment.assent


def test_command_line_and_csv_take_the_consents(app, runner, tmp_path):
    added = runner.invoke(args=["participant", "add", "P-050", "--start", "2026-03-02", "--tz", "Asia/Shanghai",
                                "--lang", "zh-CN", "--birth-date", "2014-05-01", "--consent-version", "2.1",
                                "--caregiver-phone", MUM, "--caregiver-phone", DAD, "--caregiver-texts", "no"])
    assert added.exit_code == 0, added.output
    old = tmp_path / "old.csv"
    old.write_text("study_id,start,tz,lang,age,phone,caregiver_phone,caregiver_lang,caregiver_name\n"
                   "P-051,2026-03-02,Asia/Shanghai,zh-CN,,+8613800138511,,,\n")
    assert runner.invoke(args=["participant", "import", str(old), "--consent-version", "1.3"]).exit_code == 0
    new = tmp_path / "new.csv"
    new.write_text("study_id,start,tz,lang,age,phone,caregiver_phone,caregiver_lang,caregiver_name,caregiver_texts\n"
                   "P-052,2026-03-02,Asia/Shanghai,zh-CN,12,,+8613800138521,,,no\n")
    result = runner.invoke(args=["participant", "import", str(new)])
    assert result.exit_code == 0, result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("study_id,start,tz,lang,age,phone,caregiver_phone,texts\n"
                   "P-053,2026-03-02,Asia/Shanghai,zh-CN,,+8613800138531,,perhaps\n")
    refused = runner.invoke(args=["participant", "import", str(bad)])
    assert refused.exit_code == 1 and "bad.csv:2: texts: perhaps is not yes or no" in refused.output
    with app.app_context():
        def versions(study_id):
            p = _participant(study_id)
            return {(c.kind, c.document_version) for c in db.session.scalars(
                select(Consent).where(Consent.participant_id == p.id))}
        assert ("guardian", "2.1") in versions("P-050") and _participant("P-050").birth_date == date(2014, 5, 1)
        assert versions("P-051") == {("texts", "1.3"), ("questionnaires", "1.3"), ("health_data", "1.3")}
        assert db.session.scalar(select(Contact).where(Contact.phone == DAD)).consent_at is None
        assert db.session.scalar(select(Contact).where(Contact.phone == "+8613800138521")).consent_at is None
        assert all(c.taken_by.startswith("cli:") for c in db.session.scalars(select(Consent)))


def test_consent_page_withdraws_with_a_reason_and_monitors_cannot(app, client, login, make_participant):
    make_participant("P-001", phone=TEEN)
    login("nurse")
    page = client.get("/staff/participants/P-001/consent").get_data(as_text=True)
    assert "processing of health data" in page
    assert client.post("/staff/participants/P-001/consent/withdraw",
                       data={"scope": "texts", "reason": ""}).status_code == 400
    assert client.post("/staff/participants/P-001/consent/withdraw",
                       data={"scope": "everything", "reason": "x"}).status_code == 400
    assert client.post("/staff/participants/P-001/consent/withdraw",
                       data={"scope": "texts", "contact_id": "99999", "reason": "x"}).status_code == 400
    assert client.post("/staff/participants/P-001/consent/withdraw",
                       data={"scope": "questionnaires", "reason": "tired of forms"}).status_code == 303
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "consent.withdrawn.questionnaires"))
        assert event.actor == "staff:nurse@example.org" and event.reason == "tired of forms"
    assert client.get("/staff/participants/NOPE/consent").status_code == 404


def test_turning_14_shows_a_reconsent_task_30_days_before(app, client, login, make_participant, clock):
    # Enrolled at 13 years 11 months: 14 on 2026-04-01, day 1 on 2026-03-02.
    with app.test_request_context():
        from pro_app.participants.operations import enrol
        from pro_app.protocol import current_protocol
        from pro_app.questionnaires import current_instruments
        enrolment, errors = check_enrolment({
            "study_id": "P-014", "start": "2026-03-02", "tz": "Asia/Shanghai", "lang": "zh-CN", "age": "",
            "birth_date": "2012-04-01", "phone": TEEN, "caregivers": [{"phone": MUM, "lang": "zh-CN"}]})
        assert not errors and enrolment.age == 13
        enrol(db.session, enrolment, current_protocol(), current_instruments(), actor=Actor(label="test"),
              now=NOW - timedelta(days=1), public_url="http://localhost")
        db.session.commit()
    login("nurse")
    clock.now = NOW - timedelta(days=1)  # 2026-03-01 12:00 in Tianjin: 31 days before
    assert "P-014 turns 14" not in client.get("/staff/alerts/").get_data(as_text=True)
    clock.now = NOW  # 2026-03-02: 30 days before
    assert "P-014 turns 14 on 2026-04-01: take consent again." in client.get("/staff/alerts/").get_data(as_text=True)
    assert client.post("/staff/participants/P-014/consent/reconsent", data={"age": "14"}).status_code == 303
    assert "P-014 turns 14" not in client.get("/staff/alerts/").get_data(as_text=True)
    assert client.post("/staff/participants/P-014/consent/reconsent", data={"age": "15"}).status_code == 400


def test_only_birthdays_after_day_1_count_and_each_once():
    from pro_app.consent.birthdays import birthday_at, due_ages

    born, start = date(2008, 5, 10), date(2026, 3, 2)
    assert due_ages(born, start, date(2026, 4, 9)) == []
    assert due_ages(born, start, date(2026, 4, 10)) == [(18, date(2026, 5, 10))]
    assert due_ages(born, start, date(2026, 6, 1), done={18}) == []
    assert due_ages(date(2010, 1, 1), start, date(2026, 3, 2)) == []  # 16 already: nothing until 18
    assert birthday_at(date(2012, 2, 29), 14) == date(2026, 2, 28)


def test_enrolment_page_takes_the_consents(app, client, login):
    login("nurse")
    assert "Consent to the processing of health data" in client.get("/staff/participants/new").get_data(as_text=True)
    form = {"study_id": "P-077", "start": "2026-03-02", "tz": "Asia/Shanghai", "lang": "zh-CN", "age": "",
            "phone": TEEN, "birth_date": "2000-01-01", "consent_version": "3.0", "texts": "yes",
            "questionnaires": "no", "health_data": "yes",
            "caregivers-0-phone": MUM, "caregivers-0-lang": "zh-CN", "caregivers-0-texts": "no"}
    assert client.post("/staff/participants/new", data={**form, "health_data": "no"}).status_code == 400
    assert client.post("/staff/participants/new", data=form).status_code == 303
    with app.app_context():
        teen = db.session.scalar(select(Contact).where(Contact.phone == TEEN))
        mum = db.session.scalar(select(Contact).where(Contact.phone == MUM))
        assert teen.consent_at is not None and not teen.receives_questionnaires
        assert mum.consent_at is None and mum.receives_questionnaires
        assert {c.document_version for c in db.session.scalars(select(Consent))} == {"3.0"}
        assert {c.taken_by for c in db.session.scalars(select(Consent))} == {"staff:nurse@example.org"}
