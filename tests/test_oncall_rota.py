"""The on-call rota: red alerts go to whoever is on shift at that instant; gaps warn the nurse lead once."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from pro_app import alerts
from pro_app.alerts.operations import raise_findings
from pro_app.alerts.rules import Finding
from pro_app.audit.models import AuditEvent
from pro_app.db import db
from pro_app.oncall.operations import gaps
from pro_app.participants.models import Participant
from pro_app.sms.models import Message

NIGHT, DAY, FLAG, LEAD = "+8613800138401", "+8613800138402", "+8613800138403", "+8613800138404"


def utc(text):
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.fixture
def nurses(make_staff):
    make_staff("nurse", "night@example.org", phone=NIGHT)
    make_staff("nurse", "day@example.org", phone=DAY)
    make_staff("nurse", "flag@example.org", phone=FLAG, on_call=True)
    make_staff("nurse", "lead@example.org", phone=LEAD, nurse_lead=True)


def _texts(app, template):
    with app.app_context():
        return db.session.scalars(select(Message.to_phone).where(Message.template == template)
                                  .order_by(Message.id)).all()


def _red(app, study_id, now):
    with app.app_context():
        participant = db.session.scalar(select(Participant).where(Participant.study_id == study_id))
        raise_findings(db.session, participant, [Finding("post-infusion:fever", "red", {"item": "temperature",
                                                                                        "value": 39.0})],
                       now=now, **alerts.context())
        db.session.commit()


def test_gaps_are_what_no_shift_covers():
    t = [utc(f"2026-03-02T{h:02d}:00:00+08:00") for h in range(0, 24)]
    assert gaps([(t[0], t[8]), (t[8], t[16])], t[1], t[20]) == [(t[16], t[20])]
    assert gaps([(t[2], t[4]), (t[3], t[6])], t[0], t[8]) == [(t[0], t[2]), (t[6], t[8])]
    assert gaps([(t[0], t[23])], t[1], t[20]) == []


def test_consecutive_shifts_take_red_alerts_in_turn_and_the_flag_is_the_fallback(app, runner, nurses, clock,
                                                                                 make_participant):
    clock.now = utc("2026-03-01T12:00:00+08:00")
    for email, start, end in [("night@example.org", "2026-03-01 20:00", "2026-03-02 08:00"),
                              ("day@example.org", "2026-03-02 08:00", "2026-03-02 20:00")]:
        result = runner.invoke(args=["oncall", "add", email, "--start", start, "--end", end])
        assert result.exit_code == 0, result.output
    listed = runner.invoke(args=["oncall", "list"])
    assert "night@example.org on call 2026-03-01 20:00 - 2026-03-02 08:00 (Asia/Shanghai)" in listed.output
    for sid in ("P-001", "P-002", "P-003"):
        make_participant(sid, phone=f"+86138001385{sid[-2:]}")

    _red(app, "P-001", utc("2026-03-02T07:59:00+08:00"))
    assert _texts(app, "staff_alert") == [NIGHT]
    _red(app, "P-002", utc("2026-03-02T08:01:00+08:00"))
    assert _texts(app, "staff_alert") == [NIGHT, DAY]
    # After the last shift, nobody is on the rota: the accounts marked on call get the text.
    _red(app, "P-003", utc("2026-03-02T21:00:00+08:00"))
    assert _texts(app, "staff_alert") == [NIGHT, DAY, FLAG]
    ticked = runner.invoke(args=["tick", "--now", "2026-03-02T08:01:00+08:00"])
    assert ticked.exit_code == 0 and "tick" in ticked.output, ticked.output


def test_a_gap_tomorrow_warns_on_the_worklist_and_texts_the_lead_once(app, client, runner, nurses, login, clock):
    clock.now = utc("2026-03-02T10:00:00+08:00")
    runner.invoke(args=["oncall", "add", "day@example.org", "--start", "2026-03-02 08:00",
                        "--end", "2026-03-02 20:00"])
    runner.invoke(args=["oncall", "add", "night@example.org", "--start", "2026-03-03 08:00",
                        "--end", "2026-03-03 20:00"])
    login("nurse")
    page = client.get("/staff/alerts/").get_data(as_text=True)
    assert "No one is on call from" in page and "(Asia/Shanghai)" in page
    for minute in ("10:00", "10:01", "13:00"):
        result = runner.invoke(args=["tick", "--now", f"2026-03-02T{minute}:00+08:00"])
        assert result.exit_code == 0, result.output
    assert _texts(app, "staff_rota_gap") == [LEAD]

    runner.invoke(args=["oncall", "add", "flag@example.org", "--start", "2026-03-02 20:00",
                        "--end", "2026-03-03 08:00"])
    assert "No one is on call from" not in client.get("/staff/alerts/").get_data(as_text=True)
    with app.app_context():
        added = db.session.scalars(select(AuditEvent.after).where(AuditEvent.action == "oncall.shift_added")
                                   .order_by(AuditEvent.id)).all()
    assert [a["staff"] for a in added] == ["day@example.org", "night@example.org", "flag@example.org"]


def test_rota_page_adds_and_removes_shifts(app, client, login, nurses, clock):
    login("nurse")
    with app.app_context():
        from pro_app.staff.models import StaffUser
        day = db.session.scalar(select(StaffUser.id).where(StaffUser.email == "day@example.org"))
    assert client.post("/staff/oncall/", data={"staff_id": str(day), "start": "2026-03-02T08:00",
                                                "end": "2026-03-02T07:00"}).status_code == 400
    assert client.post("/staff/oncall/", data={"staff_id": "x", "start": "soon", "end": ""}).status_code == 400
    assert client.post("/staff/oncall/", data={"staff_id": str(day), "start": "2026-03-02T08:00",
                                                "end": "2026-03-02T20:00"}).status_code == 303
    page = client.get("/staff/oncall/").get_data(as_text=True)
    assert "day@example.org" in page and "08:00" in page
    with app.app_context():
        from pro_app.oncall.models import Shift
        shift_id = db.session.scalar(select(Shift.id))
    assert client.post(f"/staff/oncall/{shift_id}/remove").status_code == 303
    assert client.post(f"/staff/oncall/{shift_id}/remove").status_code == 404


def test_the_worklist_phone_watch_follows_the_rota(app, client, runner, login, clock, make_staff):
    make_staff("nurse", "day@example.org", phone=DAY)  # no one is marked on call
    clock.now = utc("2026-03-02T10:00:00+08:00")
    login("nurse")
    assert "Nobody on call can be texted." in client.get("/staff/alerts/").get_data(as_text=True)
    runner.invoke(args=["oncall", "add", "day@example.org", "--start", "2026-03-02 08:00",
                        "--end", "2026-03-02 20:00"])
    assert "Nobody on call can be texted." not in client.get("/staff/alerts/").get_data(as_text=True)
