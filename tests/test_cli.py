"""The pro-app command line."""

import pytest
from sqlalchemy import func, select

from pro_app.alerts.models import Alert
from pro_app.audit.models import AuditEvent
from pro_app.db import db
from pro_app.participants.models import Contact, Participant
from pro_app.questionnaires.models import Assignment, Response
from pro_app.staff.models import StaffUser
from pro_app.visits.models import Visit


def counts(app):
    with app.app_context():
        return tuple(db.session.scalar(select(func.count()).select_from(m))
                     for m in (Participant, Contact, Visit, AuditEvent))


ADD = ["participant", "add", "P-100", "--start", "2026-03-02", "--tz", "Asia/Shanghai", "--lang", "zh-CN"]


def test_participant_add_plans_the_schedule(app, runner):
    result = runner.invoke(args=[*ADD, "--age", "15", "--phone", "+8613800138001",
                                 "--caregiver-phone", "+8613800138002", "--caregiver-name", "Mother",
                                 "--caregiver-phone", "+12125551234", "--caregiver-lang", "en"])
    assert result.exit_code == 0, result.output
    assert "enrolled P-100: 30 visits, 3 contacts" in result.output
    with app.app_context():
        p = db.session.scalar(select(Participant).where(Participant.study_id == "P-100"))
        assert [(c.role.value, c.phone, c.language) for c in p.contacts] == [
            ("patient", "+8613800138001", "zh-CN"),
            ("caregiver", "+8613800138002", "zh-CN"),
            ("caregiver", "+12125551234", "en"),
        ]
        assert p.contacts[1].name == "Mother"
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "participant.enrolled"))
        assert event.actor.startswith("cli:") and event.after["visits"] == 30


def test_participant_add_errors_write_nothing(app, runner):
    runner.invoke(args=[*ADD[:2], "P-001", *ADD[3:]])
    before = counts(app)
    cases = [
        ([*ADD, "--phone", "+86 1380"], "--phone:"),
        ([*ADD[:6], "Europe/Atlantis", *ADD[7:]], "--tz: Europe/Atlantis is not a known time zone"),
        ([*ADD[:4], "2026-02-30", *ADD[5:]], "--start: 2026-02-30 is not a date"),
        ([*ADD[:2], "P-001", *ADD[3:]], "STUDY_ID: P-001 is already enrolled"),
        ([*ADD[:2], "p-001", *ADD[3:]], "STUDY_ID: p-001 is already enrolled"),
        ([*ADD, "--age", "9"], "under 18 needs at least one caregiver"),
        ([*ADD, "--caregiver-lang", "en"], "needs its --caregiver-phone"),
    ]
    for args, message in cases:
        result = runner.invoke(args=args)
        assert result.exit_code != 0, args
        lines = [line for line in result.output.strip().splitlines() if line.startswith("Error")]
        assert len(lines) == 1 and message in lines[0], result.output
        assert "Traceback" not in result.output
    assert counts(app) == before


def test_import_checks_every_row_before_storing(app, runner, tmp_path):
    bad = tmp_path / "families.csv"
    bad.write_text(
        "study_id,start,tz,lang,age,phone,caregiver_phone,caregiver_lang,caregiver_name\n"
        "P-200,2026-03-02,Asia/Shanghai,zh-CN,,+8613800138001,,,\n"
        "P-201,2026-03-09,Asia/Shanghai,zh-CN,5,,+8613800138013,zh-CN,Father\n"
        "P-201,,,,,,+447911123456,en,Aunt\n"
        "P-202,2026-03-09,Mars/Olympus,zh-CN,,+8613800138003,,,\n"
        "P-203,2026-03-09,Asia/Shanghai,zh-CN,,+8613800138004,+12,en,\n"
    )
    result = runner.invoke(args=["participant", "import", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:5: tz: Mars/Olympus is not a known time zone" in result.output
    assert f"{bad}:6: caregiver_phone:" in result.output
    assert "nothing was imported" in result.output
    assert counts(app) == (0, 0, 0, 0)

    good = tmp_path / "good.csv"
    good.write_text("\n".join(bad.read_text().splitlines()[:4]) + "\n")
    result = runner.invoke(args=["participant", "import", str(good)])
    assert result.exit_code == 0, result.output
    assert "imported 2 participant(s)" in result.output
    with app.app_context():
        child = db.session.scalar(select(Participant).where(Participant.study_id == "P-201"))
        assert [c.name for c in child.contacts] == ["Father", "Aunt"]
    # Importing the same file again names the duplicates and stores nothing more.
    before = counts(app)
    result = runner.invoke(args=["participant", "import", str(good)])
    assert result.exit_code == 1 and f"{good}:2: study_id: P-200 is already enrolled" in result.output
    assert counts(app) == before


def test_import_rejects_a_bad_header(runner, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("study,start\nP-1,2026-01-01\n")
    result = runner.invoke(args=["participant", "import", str(path)])
    assert result.exit_code == 1
    assert f"{path}:1: missing column(s) study_id, tz, lang; unknown column(s) study" in result.output


def test_staff_create_asks_twice_and_hashes_with_argon2id(app, runner):
    result = runner.invoke(args=["staff", "create", "Nurse@Example.org", "--role", "nurse",
                                 "--phone", "+8613800138100", "--on-call"],
                           input="a long enough secret\na long enough secret\n")
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = db.session.scalar(select(StaffUser))
        assert user.email == "nurse@example.org" and user.on_call and user.phone == "+8613800138100"
        assert user.password_hash.startswith("$argon2id$")
    again = runner.invoke(args=["staff", "create", "nurse@example.org", "--role", "nurse"],
                          input="a long enough secret\na long enough secret\n")
    assert again.exit_code == 1 and "already exists" in again.output
    short = runner.invoke(args=["staff", "create", "x@example.org", "--role", "monitor"], input="short\nshort\n")
    assert short.exit_code == 1 and "at least 12 characters" in short.output


@pytest.mark.parametrize("app_config", [{"DEMO": True}])
def test_demo_loads_once_and_prints_the_login(app, runner):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert "staff login: nurse@example.org /" in result.output
    with app.app_context():
        ids = db.session.scalars(select(Participant.study_id).order_by(Participant.study_id)).all()
        assert ids == ["DEMO-A01", "DEMO-C03", "DEMO-T02"]
        child = db.session.scalar(select(Participant).where(Participant.study_id == "DEMO-C03"))
        assert child.age_group == "child" and all(not c.is_patient for c in child.contacts)
        weekly = set(db.session.scalars(select(Assignment.instrument_id).where(
            Assignment.participant_id == child.id, Assignment.occasion.like("weekly%"))))
        assert weekly == {"toddler-check"}  # under 7: the parent's observation form, not the symptom check
        adult = db.session.scalar(select(Participant).where(Participant.study_id == "DEMO-A01"))
        responses = db.session.scalars(select(Response).where(Response.participant_id == adult.id)).all()
        assert len(responses) >= 5 and {r.instrument_id for r in responses} >= {"symptom-check", "post-infusion"}
        assert all(r.scores is not None for r in responses)
        open_red = db.session.scalars(select(Alert).where(Alert.severity == "red", Alert.state == "open")).all()
        assert [a.rule for a in open_red] == ["post-infusion:fever"]
    again = runner.invoke(args=["demo"])
    assert again.exit_code == 0 and "already loaded" in again.output
    assert counts(app)[0] == 3


@pytest.mark.parametrize("app_config", [{"DEMO": True}])
def test_demo_refuses_a_real_sms_backend(app, runner):
    app.config["SMS_BACKEND"] = "twilio"
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 1 and "only with PRO_SMS_BACKEND=console" in result.output
