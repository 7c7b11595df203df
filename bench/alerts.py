"""Benchmark: the nurses' alert worklist, and the time from a submitted answer to the nurse's text.

* Worklist page (target: median under 100 ms of server time): GET /staff/alerts/ for a
  logged-in nurse through the Flask test client, in this process (the app's whole request
  handling: session, login, queries, template; no WSGI server or network). The database holds
  10,000 participants (a contact each), 100,000 submitted responses (each with its completed
  assignment, on a stored instrument version) and 5,000 alerts (about 5% red, the rest amber;
  about 60% resolved, the rest open or acknowledged; one occurrence each). The worklist query
  itself (`worklist_query()`, as the page runs it, LIMIT 500) is timed on its own too, and so
  are the page's queries as the template makes them (one lazy load per participant) and with
  the related rows loaded up front, to show where the time goes. The page's statement count
  is printed; with --explain, or when the target is missed on PostgreSQL, EXPLAIN ANALYZE of
  the page's queries and of the earlier-responses query of `assess_response` is printed.
* Answer to alert SMS: a respondent (own test-client cookie jar) opens a fresh post-infusion
  assignment with a link token and saves the first page with a temperature of 39.0 °C; every
  saved page is assessed, so the red fever alert is texted at once (`send_now`) through the real
  twilio SDK to a loopback FakeTwilio (tests/fake_twilio.py). Timed from just before that page's
  POST to the moment the fake records the on-call nurse's text, and the POST on its own; the
  other pages, the review and the submit follow.

On a scratch PostgreSQL database created on the server PRO_BENCH_DATABASE_URL names, dropped
afterwards (the database the URL names is never written to); without it, on a temporary SQLite
file seeded at a tenth of the size. Request rate limits and CSRF checks are off, as in the tests
(30 link opens a minute from one address would otherwise be refused).

    python bench/alerts.py [--explain]
"""

import json
import os
import random
import re
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import time as clock_time
from datetime import timedelta
from enum import Enum
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # fake_twilio
sys.path.insert(0, str(ROOT / "bench"))

from common import analyze, logs_to_devnull, scratch_database, summary  # noqa: E402
from fake_twilio import FakeTwilio  # noqa: E402
from sqlalchemy import event, insert, select, text  # noqa: E402
from sqlalchemy.orm import Session, joinedload  # noqa: E402

from pro_app import create_app  # noqa: E402
from pro_app.alerts.models import ACTIONS, ACTIVE, Alert, AlertOccurrence, AlertState  # noqa: E402
from pro_app.alerts.rules import MISSED, UNREACHABLE  # noqa: E402
from pro_app.alerts.views import worklist_query  # noqa: E402
from pro_app.audit.operations import Actor  # noqa: E402
from pro_app.clock import utcnow  # noqa: E402
from pro_app.db import db  # noqa: E402
from pro_app.participants.models import Contact, ContactRole, Participant, ParticipantStatus  # noqa: E402
from pro_app.questionnaires import answers as ans  # noqa: E402
from pro_app.questionnaires import current_instruments  # noqa: E402
from pro_app.questionnaires.models import Assignment, AssignmentState, Response  # noqa: E402
from pro_app.questionnaires.operations import new_link, version_row  # noqa: E402
from pro_app.staff.auth import hash_password  # noqa: E402
from pro_app.staff.cli import create_staff  # noqa: E402
from pro_app.staff.models import StaffRole, StaffUser  # noqa: E402

TARGET_PAGE_MS = 100.0
RESPONSES_INDEX = "ix_responses_contact_instrument_submitted"
LABELS = {"sqlite": "SQLite file (WAL)", "postgresql": "PostgreSQL"}
FULL = {"participants": 10_000, "responses": 100_000, "alerts": 5_000}
PASSWORD = "correct horse battery"
NURSE = "nurse@example.org"
ON_CALL = "+8613900000001"
SENDER = "+15005550006"
PAGE_REQUESTS = 60  # summary() leaves out the first 10
SUBMIT_RUNS = 30
CHUNK = 5_000
# Ten questionnaires per participant, each on its own completed assignment.
SCHEDULE = [("baseline", "baseline"), ("quality-of-life", "baseline"), ("symptom-check", "weekly-1"),
            ("post-infusion", "infusion-1"), ("post-infusion", "infusion-2"), ("symptom-check", "weekly-2"),
            ("symptom-check", "weekly-3"), ("quality-of-life", "four-weekly-5"), ("symptom-check", "weekly-4"),
            ("post-infusion", "infusion-3")]


def settings(url, fake):
    return {"DATABASE_URL": url, "SECRET_KEY": "bench", "PUBLIC_URL": "http://localhost",
            "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False, "REQUIRE_2FA": False,
            "SMS_BACKEND": "twilio", "TWILIO_ACCOUNT_SID": fake.account_sid, "TWILIO_AUTH_TOKEN": fake.auth_token,
            "TWILIO_FROM": SENDER, "TWILIO_BASE_URL": fake.base_url, "TWILIO_TIMEOUT": 1.0}


# --- seeding -------------------------------------------------------------------------------

def plain(value):
    """A value as COPY takes it: enums by value, JSON as text."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value


def bulk(session, model, rows):
    """Insert rows (dicts with every column): COPY on PostgreSQL, chunked executemany elsewhere."""
    if not rows:
        return
    columns = list(rows[0])
    if session.get_bind().dialect.name == "postgresql":
        cursor = session.connection().connection.driver_connection.cursor()
        with cursor.copy(f"COPY {model.__tablename__} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([plain(row[c]) for c in columns])
    else:
        for start in range(0, len(rows), CHUNK):
            session.execute(insert(model), rows[start:start + CHUNK])


def answer_variants(instrument, rng, n=8):
    """Return n plausible (answers, scores) pairs for an instrument: mostly well, some symptoms."""
    variants = []
    for _ in range(n):
        answers = {}
        for item in instrument.items():
            if not ans.visible(item, answers):
                continue
            if item.type == "yesno":
                answers[item.id] = rng.random() < 0.15
            elif item.type == "single":
                answers[item.id] = rng.choice(item.choices)[0]
            elif item.type == "rating":
                answers[item.id] = rng.randint(int(item.min), int(item.max))
            elif item.type == "number":
                low, high = (36.0, 38.4) if item.unit == "temperature" else (item.min, item.max)
                answers[item.id] = round(rng.uniform(low, high), max(item.decimals, 1))
            elif item.type == "date":
                answers[item.id] = "2026-01-15"
            elif item.type == "text" and rng.random() < 0.2:
                answers[item.id] = "今天比昨天好一些。"
        answers = ans.prune(instrument, answers)
        variants.append((answers, ans.scores(instrument, answers)))
    return variants


def seed(app, scale):
    """Fill the database; return the seconds taken (ANALYZE included)."""
    rng = random.Random(20260302)
    n_participants, n_responses, n_alerts = scale["participants"], scale["responses"], scale["alerts"]
    per = n_responses // n_participants
    assert per <= len(SCHEDULE) and n_alerts <= n_participants
    now = utcnow()
    started = time.perf_counter()
    with app.app_context():
        session = db.session
        instruments = current_instruments()
        # Staff: the nurse who looks at the page, the one on call, and colleagues who own alerts.
        actor = Actor(label="bench")
        create_staff(session, NURSE, "nurse", PASSWORD, language="en", actor=actor, now=now)
        create_staff(session, "oncall@example.org", "nurse", PASSWORD, phone=ON_CALL, on_call=True, language="en",
                     actor=actor, now=now)
        shared_hash = hash_password(PASSWORD)
        for i in range(8):
            role = StaffRole.INVESTIGATOR if i < 2 else StaffRole.NURSE
            session.add(StaffUser(email=f"staff{i}@example.org", password_hash=shared_hash, role=role,
                                  phone=f"+86139000001{i:02d}", on_call=False, active=True, language="zh-CN",
                                  created_at=now))
        session.flush()
        owners = session.scalars(select(StaffUser.id)).all()
        versions = {iid: version_row(session, instrument, now).id for iid, instrument in instruments.items()}
        variants = {iid: answer_variants(instrument, rng) for iid, instrument in instruments.items()}

        participants, contacts = [], []
        for pid in range(1, n_participants + 1):
            age = rng.choice([None, None, 34, 52, 15, 9, 5])
            lang = "en" if pid % 5 == 0 else "zh-CN"
            start = now.date() - timedelta(days=rng.randint(30, 330))
            created = now - timedelta(days=rng.randint(340, 400))
            status = ParticipantStatus.ACTIVE if pid % 20 else ParticipantStatus.COMPLETED
            participants.append({"id": pid, "study_id": f"S-{pid:05d}", "start_date": start, "age": age,
                                 "language": lang, "timezone": "Asia/Shanghai", "status": status,
                                 "created_at": created})
            caregiver = age is not None and age < 18
            contacts.append({"id": pid, "participant_id": pid,
                             "role": ContactRole.CAREGIVER if caregiver else ContactRole.PATIENT,
                             "name": "Parent" if caregiver else None, "phone": f"+86138{pid:08d}",
                             "language": lang, "timezone": "Asia/Shanghai", "receives_visit_reminders": True,
                             "receives_questionnaires": True, "quiet_start": clock_time(21, 0),
                             "quiet_end": clock_time(8, 0), "consent_at": created, "calendar_token_hash": None,
                             "created_at": created})
        bulk(session, Participant, participants)
        bulk(session, Contact, contacts)

        assignments, responses, response_of = [], [], {}
        rid = 0
        for p, c in zip(participants, contacts, strict=True):
            respondent = "proxy" if c["role"] == ContactRole.CAREGIVER else "self"
            for k, (iid, occasion) in enumerate(SCHEDULE[:per]):
                rid += 1
                opens = now - timedelta(days=(per - k) * 21 + rng.randint(0, 6), hours=rng.randint(0, 12))
                submitted = opens + timedelta(hours=rng.randint(1, 40), minutes=rng.randint(0, 59))
                assignments.append({"id": rid, "participant_id": p["id"], "contact_id": c["id"],
                                    "respondent": respondent, "instrument_id": iid, "occasion": occasion,
                                    "visit_id": None, "opens_at": opens, "closes_at": opens + timedelta(days=3),
                                    "state": AssignmentState.COMPLETED, "completed_at": submitted,
                                    "created_at": opens - timedelta(days=30), "updated_at": submitted})
                answers, scores = variants[iid][rid % len(variants[iid])]
                responses.append({"id": rid, "assignment_id": rid, "participant_id": p["id"],
                                  "contact_id": c["id"], "version_id": versions[iid], "instrument_id": iid,
                                  "respondent": respondent, "proxy": respondent == "proxy", "answers": answers,
                                  "scores": scores, "started_at": submitted - timedelta(minutes=6),
                                  "submitted_at": submitted, "submit_key": f"{rid:032x}"})
                response_of.setdefault((p["id"], iid), (rid, submitted))
        bulk(session, Assignment, assignments)
        bulk(session, Response, responses)

        red_rules = [f"{i.id}:{a.id}" for i in instruments.values() for a in i.alerts if a.severity == "red"]
        amber_rules = [f"{i.id}:{a.id}" for i in instruments.values() for a in i.alerts
                       if a.severity == "amber"] + [MISSED] * 6 + [UNREACHABLE] * 2
        labels = {f"{i.id}:{a.id}": a.label for i in instruments.values() for a in i.alerts}
        alerts, occurrences = [], []
        for aid in range(1, n_alerts + 1):
            pid = (aid * 7919) % n_participants + 1  # one alert per participant: no clash on the active rule
            severity = "red" if rng.random() < 0.05 else "amber"
            rule = rng.choice(red_rules if severity == "red" else amber_rules)
            iid = rule.split(":")[0]
            response_id, seen = response_of.get((pid, iid), (None, None))
            draw = rng.random()
            state = AlertState.RESOLVED if draw < 0.6 else AlertState.OPEN if draw < 0.8 else AlertState.ACKNOWLEDGED
            if state == AlertState.RESOLVED:
                opened = seen or now - timedelta(days=rng.randint(2, 200), minutes=rng.randint(0, 1440))
            else:
                opened = now - timedelta(days=rng.randint(0, 20), minutes=rng.randint(0, 1440))
            detail = ({"item": "temperature", "value": 38.6, "threshold": 38.0} if rule.endswith(":fever")
                      else {"missed": 2, "instrument": "symptom-check"} if rule == MISSED
                      else {"reason": "unreachable", "error_code": 30003} if rule == UNREACHABLE
                      else {"item": rule.split(":")[1].removesuffix("_severe").removesuffix("_very"), "value": 3})
            acked = opened + timedelta(minutes=rng.randint(5, 600)) if state != AlertState.OPEN else None
            resolved = acked + timedelta(hours=rng.randint(1, 48)) if state == AlertState.RESOLVED else None
            owner = rng.choice(owners) if state != AlertState.OPEN or rng.random() < 0.3 else None
            alerts.append({
                "id": aid, "participant_id": pid, "rule": rule, "severity": severity, "state": state,
                "detail": detail, "response_id": response_id, "occurrences": rng.choice([1, 1, 1, 2, 3]),
                "escalation_level": rng.choice([0, 0, 1, 2]) if state == AlertState.OPEN else 0,
                "next_escalation_at": now + timedelta(minutes=rng.randint(10, 1440)) if state == AlertState.OPEN
                else None,
                "owner_id": owner, "claimed_at": (acked or opened + timedelta(minutes=3)) if owner else None,
                "acknowledged_at": acked, "resolved_at": resolved,
                "action": rng.choice(ACTIONS) if resolved else None,
                "note": "Phoned the family; advised fluids and a temperature check tonight." if resolved else None,
                "opened_at": opened, "last_seen_at": opened,
            })
            occurrences.append({"id": aid, "alert_id": aid, "rule": rule, "label": labels.get(rule), "at": opened,
                                "severity": severity, "detail": detail, "response_id": response_id})
        bulk(session, Alert, alerts)
        bulk(session, AlertOccurrence, occurrences)
        if session.get_bind().dialect.name == "postgresql":
            for table in ("participants", "contacts", "assignments", "responses", "alerts", "alert_occurrences"):
                session.connection().exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                                     f"(SELECT max(id) FROM {table}))")
        analyze(session)
    return time.perf_counter() - started


# --- the worklist page ---------------------------------------------------------------------

@contextmanager
def statements(engine):
    """Collect the SQL statements the engine runs inside the block."""
    seen = []

    def count(_conn, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def logged_in(app):
    browser = app.test_client()
    browser.get("/lang/en")
    response = browser.post("/staff/login", data={"email": NURSE, "password": PASSWORD})
    assert response.status_code == 303, response.get_data(as_text=True)
    return browser


def page_timings(app, browser):
    """Time GET /staff/alerts/; return (timings in ms, rows on the worklist, statements per page)."""
    timings = []
    for _ in range(PAGE_REQUESTS):
        started = time.perf_counter()
        response = browser.get("/staff/alerts/")
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    page = response.get_data(as_text=True)
    shown = int(re.search(r'<span class="muted">\((\d+)\)</span>', page).group(1))
    with statements(app.extensions["pro_db"]["engine"]) as seen:
        browser.get("/staff/alerts/")
    return timings, shown, seen


def query_timings(app, samples=PAGE_REQUESTS):
    """Time the page's queries alone: raw worklist SQL, ORM as the template uses it, and eager."""
    engine = app.extensions["pro_db"]["engine"]
    stmt = worklist_query().limit(500)
    raw, lazy, eager = [], [], []
    with engine.connect() as conn:
        for _ in range(samples):
            started = time.perf_counter()
            conn.execute(stmt).all()
            raw.append((time.perf_counter() - started) * 1000)

    def touch(alerts):
        return [(a.participant.study_id, a.owner.email if a.owner else None) for a in alerts]

    for loads, timings in ((None, lazy), ((joinedload(Alert.participant), joinedload(Alert.owner)), eager)):
        for _ in range(samples):
            with Session(engine) as session:
                started = time.perf_counter()
                query = stmt.options(*loads) if loads else stmt
                touch(session.scalars(query).all())
                resolved = select(Alert).where(Alert.state == AlertState.RESOLVED) \
                    .order_by(Alert.resolved_at.desc()).limit(20)
                touch(session.scalars(resolved.options(*loads) if loads else resolved).all())
                timings.append((time.perf_counter() - started) * 1000)
    return raw, lazy, eager


def explain(app, kind, only=None):
    """Print EXPLAIN ANALYZE of the page's queries and of assess_response's earlier-responses query."""
    if kind != "postgresql":
        print("(EXPLAIN ANALYZE is printed for PostgreSQL only)")
        return
    engine = app.extensions["pro_db"]["engine"]
    with engine.connect() as conn:
        contact = conn.scalar(text("SELECT contact_id FROM responses WHERE instrument_id = 'post-infusion' "
                                   "ORDER BY id DESC LIMIT 1"))
        participant = conn.scalar(select(Alert.participant_id).where(Alert.state.in_(ACTIVE)).limit(1))
        earlier = (select(Response).where(Response.contact_id == contact, Response.instrument_id == "post-infusion",
                                          Response.id != 0, Response.submitted_at <= utcnow())
                   .order_by(Response.submitted_at, Response.id))
        queries = {
            "worklist_query().limit(500)": worklist_query().limit(500),
            "recently resolved (LIMIT 20)": select(Alert).where(Alert.state == AlertState.RESOLVED)
            .order_by(Alert.resolved_at.desc()).limit(20),
            "one participant lazy load (run once per worklist row)": select(Participant)
            .where(Participant.id == participant),
            "assess_response: earlier responses of the contact": earlier,
        }
        for name, stmt in queries.items():
            if only and not name.startswith(only):
                continue
            sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
            plan = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {sql}").scalars().all()
            print(f"--- EXPLAIN ANALYZE: {name}")
            print("\n".join(f"    {line}" for line in plan))


# --- submit to alert SMS -------------------------------------------------------------------

def section_form(section, index):
    """A page's answers: no to every yes/no, the mildest choice, a fever of 39.0 °C (answers to items
    left hidden are ignored by the server)."""
    form = {"s": str(index)}
    for item in section.items:
        if item.type == "yesno":
            form[item.id] = "no"
        elif item.type == "number":
            form[item.id] = "39.0" if item.unit == "temperature" else f"{item.min:g}"
            if item.unit == "temperature":
                form[f"{item.id}__unit"] = "C"
        elif item.type in ("single", "rating", "multiple"):
            form[item.id] = str(min(v for v, _label in item.choices) if item.choices else int(item.min))
    return form


def fresh_links(app, runs):
    """Give `runs` participants without alerts an open post-infusion assignment; return link tokens."""
    now = utcnow()
    tokens = []
    with app.app_context():
        session = db.session
        picked = session.scalars(
            select(Contact).join(Participant, Participant.id == Contact.participant_id)
            .where(Participant.status == ParticipantStatus.ACTIVE,
                   ~select(Alert.id).where(Alert.participant_id == Contact.participant_id).exists())
            .order_by(Contact.id.desc()).limit(runs)
        ).all()
        assert len(picked) == runs, len(picked)
        for k, contact in enumerate(picked):
            assignment = Assignment(
                participant_id=contact.participant_id, contact_id=contact.id,
                respondent="proxy" if contact.role == ContactRole.CAREGIVER else "self",
                instrument_id="post-infusion", occasion=f"infusion-bench-{k}", opens_at=now - timedelta(hours=1),
                closes_at=now + timedelta(days=1), state=AssignmentState.PENDING, created_at=now, updated_at=now)
            session.add(assignment)
            session.flush()
            tokens.append(new_link(session, assignment.id, now))
        session.commit()
    return tokens


def submit_timings(app, fake, runs=SUBMIT_RUNS):
    """Answer a questionnaire per fresh assignment; return (fever page saved->SMS, that POST) in ms.

    Every saved page is assessed, so the fever on the first page raises the alert and texts the
    nurse during that save; the rest of the pages and the submit follow as a family would.
    """
    with app.app_context():
        sections = current_instruments()["post-infusion"].sections
    to_sms, post = [], []
    for token in fresh_links(app, runs):
        phone = app.test_client()
        phone.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
        assert phone.post(f"/q/{token}").status_code == 303
        fake.clear()
        for index, section in enumerate(sections):
            wall, started = time.time(), time.perf_counter()
            response = phone.post("/q/answer", data=section_form(section, index))
            assert response.status_code == 303, response.get_data(as_text=True)[:2000]
            if index == 0:
                post.append((time.perf_counter() - started) * 1000)
                assert response.headers["Location"] == "/q/advice", response.headers["Location"]
                text_ = fake.wait_for(lambda m: m["to"] == ON_CALL, timeout=5.0)
                assert "RED" in text_["body"], text_["body"]
                to_sms.append((text_["received_at"] - wall) * 1000)
        review = phone.get("/q/review").get_data(as_text=True)
        key = re.search(r'name="submit_key" value="([^"]+)"', review).group(1)
        response = phone.post("/q/submit", data={"submit_key": key})
        assert response.status_code == 303 and response.headers["Location"] == "/q/done", response.status_code
    return to_sms, post


# --- running -------------------------------------------------------------------------------

def run(kind, scale, tmp, fake, force_explain=False):
    label = LABELS[kind]
    with scratch_database(kind, tmp) as url:
        app = create_app(settings(url, fake), instance_path=tempfile.mkdtemp())
        try:
            seconds = seed(app, scale)
            print(f"seeded {label}: {scale['participants']:,} participants and contacts, "
                  f"{scale['responses']:,} responses and assignments, {scale['alerts']:,} alerts "
                  f"(+ occurrences) in {seconds:.1f} s (ANALYZE included)", flush=True)
            with app.app_context():
                counts = dict(db.session.execute(text(
                    "SELECT state || '/' || severity, count(*) FROM alerts GROUP BY 1 ORDER BY 1")).all())
            print("alerts by state/severity: " + ", ".join(f"{k} {v}" for k, v in counts.items()))

            timings, shown, seen = page_timings(app, logged_in(app))
            page = summary(f"GET /staff/alerts/ ({shown} rows), {label}", timings, TARGET_PAGE_MS)
            print(page)
            print(f"    statements per page: {len(seen)} "
                  f"({sum(s.lstrip().upper().startswith('SELECT') and 'FROM participants' in s for s in seen)} "
                  f"participant loads, "
                  f"{sum('FROM staff_users' in s for s in seen)} staff_users loads)")
            raw, lazy, eager = query_timings(app)
            print(summary(f"worklist_query() LIMIT 500, raw SQL, {label}", raw))
            print(summary(f"page queries, lazy loads as the template, {label}", lazy))
            print(summary(f"page queries, joinedload, {label}", eager), flush=True)
            if force_explain or "MISSED" in page:
                explain(app, kind)

            to_sms, post = submit_timings(app, fake)
            print(summary(f"fever page saved -> nurse's SMS at the gateway, {label}", to_sms))
            print(summary(f"POST /q/answer with the fever (assess, commit, send), {label}", post), flush=True)
        finally:
            app.extensions["pro_db"]["engine"].dispose()


def main(force_explain=False):
    started = time.perf_counter()
    with logs_to_devnull(), tempfile.TemporaryDirectory() as tmp, FakeTwilio() as fake:
        if os.environ.get("PRO_BENCH_DATABASE_URL"):
            run("postgresql", FULL, tmp, fake, force_explain)
        else:
            print("PRO_BENCH_DATABASE_URL is not set: running a smaller SQLite variant (a tenth of the rows). "
                  "Set it to a PostgreSQL server URL to measure at full size; this benchmark works in a scratch "
                  "database it creates and drops.")
            run("sqlite", {k: v // 10 for k, v in FULL.items()}, tmp, fake, force_explain)
    print(f"(total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main(force_explain="--explain" in sys.argv)
