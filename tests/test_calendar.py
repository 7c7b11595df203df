"""/cal/<token>.ics: each contact's subscribable visit calendar, reached by the link in the welcome text."""

import re
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from sqlalchemy import select

from pro_app.clock import local_to_utc
from pro_app.db import db
from pro_app.participants.models import Contact, Participant
from pro_app.sms.dispatch import send_now
from pro_app.sms.gateway import current_gateway
from pro_app.sms.models import Message, MessageState
from pro_app.visits.models import Visit, VisitStatus

PATIENT = "+8613800138001"       # zh-CN
CAREGIVER = "+447911123456"      # en
START = date(2026, 3, 9)
TZ = "Asia/Shanghai"
# The visit type and place are shown (families need them); the drug and the illness never are.
FORBIDDEN = ["daratumumab", "darzalex", "leukaemia", "leukemia", "mrd", "cd38", "白血病", "达雷妥尤单抗",
             "dara-tall", "antibody", "抗体"]
LINK = re.compile(r"http://localhost(/cal/([A-Za-z0-9_-]+)\.ics)")


@pytest.fixture
def enrolled(make_participant):
    make_participant("P-001", start=START, tz=TZ, lang="zh-CN", phone=PATIENT,
                     caregivers=[{"phone": CAREGIVER, "name": "Mum", "lang": "en"}])
    return "P-001"


def calendar_path(app, phone, study_id="P-001"):
    """The calendar link from the welcome text to this phone, sent now through the console gateway.

    The token is made when the text goes out; the console gateway's outbox is the demo phone's
    inbox, so it keeps the text whole (the twilio one does not: see test_calendar_tokens.py).
    """
    with app.app_context():
        welcome = db.session.scalar(
            select(Message).join(Participant, Message.participant_id == Participant.id)
            .where(Message.template == "welcome", Message.to_phone == phone, Participant.study_id == study_id))
        for _attempt in range(2):  # a text due in the night goes out when quiet hours end
            if welcome.state == MessageState.PENDING:
                send_now(db.session, current_gateway(), [welcome.id], now=welcome.due_at, public_url="http://localhost")
                db.session.refresh(welcome)
        body = welcome.body
    match = LINK.search(body)
    assert match, body
    return match.group(1)


def fetch(client, path):
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "text/calendar"
    return response, Calendar.from_ical(response.get_data())


def events(cal):
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


def visits_of(app, study_id="P-001"):
    """{visit id: (UTC start, status, revision)}."""
    with app.app_context():
        rows = db.session.execute(
            select(Visit.id, Visit.starts_at, Visit.status, Visit.revision, Visit.protocol_key)
            .join(Participant).where(Participant.study_id == study_id)).all()
    return {row.id: row for row in rows}


def visit_day(visit):
    return visit.starts_at.astimezone(ZoneInfo(TZ)).date()


def visit_id(app, key, study_id="P-001"):
    return next(v.id for v in visits_of(app, study_id).values() if v.protocol_key == key)


def test_the_welcome_text_carries_a_calendar_link_per_contact(app, enrolled):
    paths = {calendar_path(app, PATIENT), calendar_path(app, CAREGIVER)}
    assert len(paths) == 2
    with app.app_context():
        bodies = db.session.scalars(select(Message.body).where(Message.template == "welcome")).all()
    # The webcal:// link subscribes (moves show up); the https one opens a page offering it.
    assert {f"webcal://localhost{p}" for p in paths} == {re.search(r"webcal://\S+", b).group(0) for b in bodies}
    with app.app_context():
        hashes = db.session.scalars(select(Contact.calendar_token_hash)).all()
    tokens = [LINK.search("http://localhost" + p).group(2) for p in paths]
    assert all(len(t) >= 32 for t in tokens)
    # Only a hash of the token is stored.
    assert len(hashes) == 2 and all(h and all(t not in h for t in tokens) for h in hashes)


SUMMARY = {("infusion", PATIENT): "输注日（研究访视）", ("marrow", PATIENT): "骨髓穿刺（研究访视）",
           ("infusion", CAREGIVER): "Infusion day (study visit)",
           ("marrow", CAREGIVER): "Marrow aspirate (study visit)"}
PLACE = {("infusion", PATIENT): "血液科日间病房", ("marrow", PATIENT): "血液科治疗室",
         ("infusion", CAREGIVER): "Haematology day ward", ("marrow", CAREGIVER): "Haematology procedure room"}


@pytest.mark.parametrize(("phone", "name"), [(PATIENT, "研究访视日历"), (CAREGIVER, "Study visits")])
def test_calendar_lists_every_visit_at_its_utc_start(app, client, enrolled, phone, name):
    response, cal = fetch(client, calendar_path(app, phone))
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "private" in response.headers["Cache-Control"]
    assert str(cal["X-WR-CALNAME"]) == name and str(cal["X-WR-TIMEZONE"]) == TZ

    visits = visits_of(app)
    assert len(visits) == 30
    by_uid = events(cal)
    assert len(cal.walk("VEVENT")) == len(by_uid) == 30
    assert set(by_uid) == {f"visit-{vid}@localhost" for vid in visits}
    for vid, visit in visits.items():
        event = by_uid[f"visit-{vid}@localhost"]
        assert event.decoded("DTSTART") == visit.starts_at, visit.protocol_key
        assert event.decoded("DTEND") > event.decoded("DTSTART")
        kind = visit.protocol_key.split("-")[0]
        assert str(event["SUMMARY"]) == SUMMARY[(kind, phone)]
        assert str(event["LOCATION"]) == PLACE[(kind, phone)]
        assert "022-2390 9999" in str(event["DESCRIPTION"])
        assert str(event["STATUS"]) == "CONFIRMED"
        assert int(event["SEQUENCE"]) == visit.revision == 0
        [alarm] = event.walk("VALARM")
        # The evening before, 19:00 in the contact's zone (Shanghai for both here).
        trigger = alarm.decoded("TRIGGER")
        assert trigger == local_to_utc(visit_day(visit) - timedelta(days=1), time(19, 0), TZ)
        assert str(alarm["ACTION"]) == "DISPLAY"
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT1H" in response.get_data(as_text=True)
    # Day 1 at 08:30 in Shanghai is 00:30 UTC.
    first_dose = by_uid[f"visit-{visit_id(app, 'infusion-1')}@localhost"]
    assert first_dose.decoded("DTSTART") == local_to_utc(START, time(8, 30), TZ)


@pytest.mark.parametrize("phone", [PATIENT, CAREGIVER])
def test_calendar_names_no_drug_diagnosis_or_study_id(app, client, enrolled, phone):
    response, _cal = fetch(client, calendar_path(app, phone))
    raw = response.get_data(as_text=True)
    lowered = raw.lower()
    for word in FORBIDDEN:
        assert word not in lowered, word
    assert not re.search(r"\bALL\b", raw)
    assert "P-001" not in raw and PATIENT not in raw and CAREGIVER not in raw and "Mum" not in raw


def test_a_moved_visit_shows_its_new_time_with_a_higher_sequence(app, client, enrolled, login):
    path = calendar_path(app, CAREGIVER)
    third = visit_id(app, "infusion-3")
    uid = f"visit-{third}@localhost"
    _, cal = fetch(client, path)
    old = events(cal)[uid]
    old_start, old_sequence = old.decoded("DTSTART"), int(old["SEQUENCE"])

    login("nurse")
    response = client.post(f"/staff/visits/{third}/move", data={
        "new_date": "2026-03-24", "new_time": "10:15", "reason": "Family asked for a later start"})
    assert response.status_code == 303, response.get_data(as_text=True)

    _, cal = fetch(client, path)
    moved = events(cal)[uid]
    expected = local_to_utc(date(2026, 3, 24), time(10, 15), TZ)
    assert expected != old_start
    assert moved.decoded("DTSTART") == expected == visits_of(app)[third].starts_at
    assert int(moved["SEQUENCE"]) > old_sequence
    assert len(cal.walk("VEVENT")) == 30
    # Unmoved visits keep their time and sequence.
    second = events(cal)[f"visit-{visit_id(app, 'infusion-2')}@localhost"]
    assert int(second["SEQUENCE"]) == 0


def test_a_cancelled_visit_is_shown_as_cancelled(app, client, enrolled, login):
    path = calendar_path(app, PATIENT)
    aspirate = visit_id(app, "marrow-day-29")
    login("nurse")
    response = client.post(f"/staff/visits/{aspirate}/status",
                           data={"status": "cancelled", "reason": "Replaced by an earlier aspirate"})
    assert response.status_code == 303
    assert visits_of(app)[aspirate].status == VisitStatus.CANCELLED

    _, cal = fetch(client, path)
    by_uid = events(cal)
    assert len(by_uid) == 30
    cancelled = by_uid[f"visit-{aspirate}@localhost"]
    assert str(cancelled["STATUS"]) == "CANCELLED" and not cancelled.walk("VALARM")
    assert int(cancelled["SEQUENCE"]) > 0
    assert [uid for uid, e in by_uid.items() if str(e["STATUS"]) == "CANCELLED"] == [f"visit-{aspirate}@localhost"]


def test_an_added_visit_appears(app, client, enrolled, login):
    path = calendar_path(app, PATIENT)
    login("nurse")
    response = client.post("/staff/participants/P-001/visits/new", data={
        "kind": "other", "label": "Review", "on": "2026-04-28", "at": "14:00",
        "duration_minutes": "60", "window_days": "0", "reason": "Extra review"})
    assert response.status_code == 303
    _, cal = fetch(client, path)
    starts = {e.decoded("DTSTART") for e in cal.walk("VEVENT")}
    assert len(cal.walk("VEVENT")) == 31
    assert local_to_utc(date(2026, 4, 28), time(14, 0), TZ) in starts


@pytest.mark.parametrize("token", ["nope", "A" * 32, "x" * 64, "x" * 65, "y" * 500])
def test_unknown_or_overlong_tokens_get_a_friendly_404(client, enrolled, token):
    response = client.get(f"/cal/{token}.ics", headers={"Accept-Language": "en"})
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Page not found" in response.get_data(as_text=True)


def test_a_token_without_the_ics_suffix_or_a_tampered_one_is_404(app, client, enrolled):
    path = calendar_path(app, PATIENT)
    assert client.get(path[:-len(".ics")]).status_code == 404
    token = path[len("/cal/"):-len(".ics")]
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert client.get(f"/cal/{tampered}.ics").status_code == 404
    assert client.get(f"/cal/{token.upper() if token.upper() != token else token.lower()}.ics").status_code == 404


def test_a_token_shows_only_its_own_participants_visits(app, client, make_participant):
    make_participant("P-001", start=START, tz=TZ, phone=PATIENT)
    make_participant("P-002", start=date(2026, 3, 16), tz="Europe/London", lang="en", phone="+447911123457",
                     caregivers=[{"phone": CAREGIVER, "name": "Dad", "lang": "en"}])
    mine, theirs = visits_of(app, "P-001"), visits_of(app, "P-002")
    assert set(mine).isdisjoint(theirs)

    _, cal = fetch(client, calendar_path(app, PATIENT, "P-001"))
    assert set(events(cal)) == {f"visit-{vid}@localhost" for vid in mine}
    assert {e.decoded("DTSTART") for e in cal.walk("VEVENT")} == {v.starts_at for v in mine.values()}

    for phone in ("+447911123457", CAREGIVER):
        _, cal = fetch(client, calendar_path(app, phone, "P-002"))
        assert set(events(cal)) == {f"visit-{vid}@localhost" for vid in theirs}
        assert str(cal["X-WR-TIMEZONE"]) == "Europe/London"


def test_a_browser_gets_a_page_offering_webcal_and_a_calendar_app_gets_the_feed(app, client, enrolled):
    path = calendar_path(app, CAREGIVER)
    page = client.get(path, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
                                     "Accept-Language": "en"})
    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert f'href="webcal://localhost{path}"' in text
    assert f'href="http://localhost{path}?download=1"' in text
    download = client.get(path + "?download=1", headers={"Accept": "text/html,*/*;q=0.8"})
    assert download.mimetype == "text/calendar"
    for accept in ("*/*", "text/calendar", "text/calendar, */*;q=0.5"):
        feed = client.get(path, headers={"Accept": accept})
        assert feed.mimetype == "text/calendar", accept
