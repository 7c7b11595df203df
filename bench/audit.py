"""Benchmark: the audit log page with 10,000 events, server time.

GET /staff/audit/ for a logged-in nurse through the Flask test client, in this process (session,
login, the count and page queries, the template in words): the first page unfiltered, filtered by
participant, by a three-day range in the study zone, by who and what together, and the CSV of one
participant's events. The database holds 200 participants and 10,000 events over 60 days from
three actors. Target: a page under 200 ms (median). Each filtered page is checked against the
seeded rows before it is timed.

On SQLite in a temporary file, and on a scratch PostgreSQL database when PRO_BENCH_DATABASE_URL
names a server.

    python bench/audit.py
"""

import random
import re
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from common import databases, logs_to_devnull, scratch_database, summary  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

from pro_app import create_app  # noqa: E402
from pro_app.audit.models import AuditEvent  # noqa: E402
from pro_app.audit.operations import Actor  # noqa: E402
from pro_app.clock import to_local  # noqa: E402
from pro_app.db import db  # noqa: E402
from pro_app.participants.models import Participant, ParticipantStatus  # noqa: E402
from pro_app.staff.cli import create_staff  # noqa: E402

EVENTS, PARTICIPANTS, RUNS = 10_000, 200, 60
TARGET_MS = 200.0
START = datetime(2026, 1, 1, tzinfo=UTC)
ACTORS = ["staff:nurse@example.org", "staff:lead@example.org", "system"]
ACTIONS = ["alert.opened", "alert.resolved", "visit.moved", "participant.status", "questionnaire.link_resent"]
PASSWORD = "a benchmark password"


def seed(app):
    """Participants, a nurse and the events; return the events as dicts."""
    rng = random.Random(2026)
    with app.app_context():
        db.session.execute(insert(Participant), [
            {"study_id": f"B-{i:04d}", "start_date": START.date(), "language": "zh-CN", "timezone": "Asia/Shanghai",
             "status": ParticipantStatus.ACTIVE, "created_at": START} for i in range(PARTICIPANTS)])
        ids = list(db.session.scalars(select(Participant.id).order_by(Participant.id)))
        rows = [{"at": START + timedelta(seconds=rng.randrange(60 * 86400)), "actor": rng.choice(ACTORS),
                 "action": rng.choice(ACTIONS), "entity": "bench", "entity_id": i,
                 "participant_id": rng.choice(ids), "before": {"state": "open"},
                 "after": {"n": i, "state": "resolved", "rule": "symptom-check:fever"}, "reason": "checked"}
                for i in range(EVENTS)]
        db.session.execute(insert(AuditEvent), rows)
        # The account's own event is older than every seeded one: last in the log, counted unfiltered.
        create_staff(db.session, "nurse@example.org", "nurse", PASSWORD, language="en", actor=Actor(label="bench"),
                     now=START - timedelta(days=1))
        db.session.commit()
        return ids, rows


def check(page, expected, others=0):
    shown = [int(n) for n in re.findall(r'<span class="change">n: (\d+)</span>', page)]
    newest = sorted(expected, key=lambda r: (r["at"], r["entity_id"]), reverse=True)[:50]
    assert shown == [r["entity_id"] for r in newest], "the page shows the wrong rows"
    assert f"({len(expected) + others})" in page, "the page shows the wrong count"


def run(kind, tmp):
    lines = []
    with scratch_database(kind, tmp) as url, logs_to_devnull():
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False,
                          "RATELIMIT_ENABLED": False, "REQUIRE_2FA": False}, instance_path=tmp)
        ids, rows = seed(app)
        client = app.test_client()
        client.get("/lang/en")
        assert client.post("/staff/login", data={"email": "nurse@example.org", "password": PASSWORD}).status_code == 303
        local = lambda r: to_local(r["at"], "Asia/Shanghai").date()  # noqa: E731
        cases = [
            ("first page, no filter", "", rows),
            ("one participant", "participant=B-0007", [r for r in rows if r["participant_id"] == ids[7]]),
            ("three days (study zone)", "since=2026-01-20&until=2026-01-22",
             [r for r in rows if "2026-01-20" <= local(r).isoformat() <= "2026-01-22"]),
            ("who and what", "who=nurse@example.org&what=alert",
             [r for r in rows if r["actor"] == "staff:nurse@example.org" and r["action"].startswith("alert.")]),
        ]
        for name, query, expected in cases:
            check(client.get(f"/staff/audit/?{query}").get_data(as_text=True), expected, others=0 if query else 1)
            timings = []
            for _ in range(RUNS):
                started = time.perf_counter()
                response = client.get(f"/staff/audit/?{query}")
                response.get_data()
                timings.append((time.perf_counter() - started) * 1000)
            lines.append(summary(f"audit log page: {name} ({kind})", timings, TARGET_MS))
        timings = []
        for _ in range(30):
            started = time.perf_counter()
            client.get("/staff/audit/?participant=B-0007&format=csv").get_data()
            timings.append((time.perf_counter() - started) * 1000)
        lines.append(summary(f"audit CSV, one participant ({kind})", timings))
        app.extensions["pro_db"]["engine"].dispose()
    return lines


if __name__ == "__main__":
    for kind in databases():
        with tempfile.TemporaryDirectory() as tmp:
            for line in run(kind, tmp):
                print(line)
