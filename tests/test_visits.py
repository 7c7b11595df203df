"""Staff changes to visits: moving (with shifting), adding, cancelling; all audited."""

from datetime import date, time, timedelta

import pytest
from sqlalchemy import select

from pro_app.audit.models import AuditEvent
from pro_app.db import db
from pro_app.participants.models import Participant
from pro_app.visits.models import Visit, VisitKind, VisitStatus


def schedule(app, study_id="P-001"):
    """Return {protocol key: (local date, local time, status)} for a participant."""
    with app.app_context():
        p = db.session.scalar(select(Participant).where(Participant.study_id == study_id))
        return {v.protocol_key or f"added-{v.id}": (v.local_start.date(), v.local_start.time(), v.status.value)
                for v in p.visits}


def visit_id(app, key):
    with app.app_context():
        return db.session.scalar(select(Visit.id).where(Visit.protocol_key == key))


def test_moving_the_third_dose_shifts_later_doses_not_aspirates(app, client, login, make_participant):
    make_participant("P-001", start=date(2026, 3, 2), tz="Europe/London")
    email = login("nurse")
    before = schedule(app)
    third = visit_id(app, "infusion-3")
    response = client.post(f"/staff/visits/{third}/move", data={
        "new_date": "2026-03-20", "new_time": "08:30", "shift_later": "y",
        "reason": "Neutropenia: dose delayed by the investigator"})
    assert response.status_code == 303, response.get_data(as_text=True)
    after = schedule(app)
    for key, (day, clock, status) in before.items():
        dose = int(key.split("-")[1]) if key.startswith("infusion-") else None
        if dose and dose >= 3:
            # Four days later, same wall-clock time although London changed its clocks.
            assert after[key] == (day + timedelta(days=4), clock, status), key
        else:
            assert after[key] == (day, clock, status), key

    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.entity == "visit")
                                    .order_by(AuditEvent.id)).all()
        assert len(events) == 21  # doses 3..23
        first = events[0]
        assert first.action == "visit.moved" and first.entity_id == third
        assert first.actor == f"staff:{email}" and first.staff_id is not None
        assert first.reason == "Neutropenia: dose delayed by the investigator"
        assert first.before["local_date"] == "2026-03-16" and first.after["local_date"] == "2026-03-20"
        assert first.at is not None
        assert {e.action for e in events[1:]} == {"visit.shifted"}
    page = client.get("/staff/participants/P-001/audit").get_data(as_text=True)
    assert "Neutropenia: dose delayed by the investigator" in page and "2026-03-20" in page


def test_shifting_aspirates_too_when_asked(app, client, login, make_participant):
    make_participant("P-001")
    login("nurse")
    before = schedule(app)
    response = client.post(f"/staff/visits/{visit_id(app, 'infusion-3')}/move", data={
        "new_date": "2026-03-23", "new_time": "08:30", "shift_later": "y", "shift_other_kinds": "y",
        "reason": "Family holiday agreed with the investigator"})
    assert response.status_code == 303
    after = schedule(app)
    assert after["marrow-day-29"][0] == before["marrow-day-29"][0] + timedelta(days=7)
    assert after["marrow-screening"] == before["marrow-screening"]
    assert after["infusion-2"] == before["infusion-2"]


def test_move_without_shift_may_not_pass_the_next_dose(app, client, login, make_participant):
    make_participant("P-001")
    login("nurse")
    before = schedule(app)
    response = client.post(f"/staff/visits/{visit_id(app, 'infusion-3')}/move", data={
        "new_date": "2026-03-23", "new_time": "08:30", "reason": "Delay"})
    assert response.status_code == 400
    assert "next visit of this kind" in response.get_data(as_text=True)
    assert schedule(app) == before


@pytest.mark.parametrize("data", [
    {"new_date": "2026-03-17", "new_time": "09:00", "reason": ""},
    {"new_date": "not a date", "new_time": "09:00", "reason": "x"},
    {"new_date": "2026-03-17", "new_time": "25:99", "reason": "x"},
    {},
])
def test_bad_move_forms_change_nothing(app, client, login, make_participant, data):
    make_participant("P-001")
    login("nurse")
    before = schedule(app)
    response = client.post(f"/staff/visits/{visit_id(app, 'infusion-3')}/move", data=data)
    assert response.status_code == 400
    assert 'class="error"' in response.get_data(as_text=True)
    assert schedule(app) == before
    with app.app_context():
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.entity == "visit")) is None


def test_cancel_done_and_add(app, client, login, make_participant):
    make_participant("P-001")
    login("investigator")
    dose2 = visit_id(app, "infusion-2")
    assert client.post(f"/staff/visits/{dose2}/status", data={"status": "done", "reason": "Given"}).status_code == 303
    # A done visit cannot be cancelled afterwards.
    response = client.post(f"/staff/visits/{dose2}/status", data={"status": "cancelled", "reason": "x"})
    assert response.status_code == 400
    aspirate = visit_id(app, "marrow-day-64")
    assert client.post(f"/staff/visits/{aspirate}/status",
                       data={"status": "cancelled", "reason": "Replaced by an earlier aspirate"}).status_code == 303
    response = client.post("/staff/participants/P-001/visits/new", data={
        "kind": "marrow", "label": "Extra MRD", "on": "2026-04-28", "at": "08:00",
        "duration_minutes": "180", "window_days": "2", "reason": "Replaces the day-64 aspirate"})
    assert response.status_code == 303
    with app.app_context():
        added = db.session.scalar(select(Visit).where(Visit.label == "Extra MRD"))
        assert added.kind == VisitKind.MARROW and added.local_start.time() == time(8, 0)
        assert added.window_closes_on - added.window_opens_on == timedelta(days=4)
        assert db.session.get(Visit, aspirate).status == VisitStatus.CANCELLED
        actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.entity == "visit")
                                     .order_by(AuditEvent.id)).all()
        assert actions == ["visit.done", "visit.cancelled", "visit.added"]


def test_visit_page_for_a_monitor_has_no_forms(app, client, login, make_participant):
    make_participant("P-001")
    login("monitor")
    page = client.get(f"/staff/visits/{visit_id(app, 'infusion-1')}").get_data(as_text=True)
    assert "<form method=\"post\" action=\"/staff/visits" not in page
    assert client.get("/staff/visits/999999").status_code == 404
