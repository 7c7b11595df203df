"""Benchmark: plan and store one participant's visit schedule (target: median < 20 ms on SQLite).

* Schedule: the protocol planner's 30 visits for a new participant, stored and committed.
* Whole enrolment: the same code as the CLI and the enrol form (validation, the schedule,
  contacts, audit event, every visit reminder, the questionnaire assignments and their
  invitations, about 500 rows) and the commit. No target; shown so the cost is known.

On a temporary SQLite file and, with PRO_BENCH_DATABASE_URL, on a scratch PostgreSQL database
created on that server and dropped afterwards.
"""

import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import databases, scratch_database, summary  # noqa: E402

from pro_app import create_app  # noqa: E402
from pro_app.audit.operations import Actor  # noqa: E402
from pro_app.clock import utcnow  # noqa: E402
from pro_app.db import db  # noqa: E402
from pro_app.participants.models import Participant  # noqa: E402
from pro_app.participants.operations import enrol, visit_from_plan  # noqa: E402
from pro_app.participants.validation import check_enrolment  # noqa: E402
from pro_app.protocol import current_protocol  # noqa: E402
from pro_app.protocol.planner import plan_schedule  # noqa: E402
from pro_app.questionnaires import current_instruments  # noqa: E402

TARGET_MS = 20.0
LABELS = {"sqlite": "SQLite file (WAL)", "postgresql": "PostgreSQL"}


def enrol_timings(url, samples):
    """Return per-participant enrolment timings in milliseconds for one database URL."""
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"}, instance_path=tempfile.mkdtemp())
    timings = []
    with app.app_context():
        protocol = current_protocol()
        actor = Actor(label="bench")
        for i in range(samples):
            now = utcnow()
            raw = {"study_id": f"B-{i:05d}", "start": (now.date() + timedelta(days=3 + i % 300)).isoformat(),
                   "tz": "Asia/Shanghai", "lang": "zh-CN", "age": "15", "phone": f"+86138{i:08d}",
                   "caregivers": [{"phone": f"+86139{i:08d}", "lang": "zh-CN", "name": "Parent"}]}
            started = time.perf_counter()
            with app.test_request_context():
                enrolment, errors = check_enrolment(raw)
                assert not errors, errors
                enrol(db.session, enrolment, protocol, current_instruments(), actor=actor, now=now,
                      public_url="http://localhost")
                db.session.commit()
            timings.append((time.perf_counter() - started) * 1000)
    app.extensions["pro_db"]["engine"].dispose()
    return timings


def schedule_timings(url, samples):
    """Return per-participant timings in ms of planning and storing the visit schedule alone."""
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"}, instance_path=tempfile.mkdtemp())
    timings = []
    with app.app_context():
        protocol = current_protocol()
        for i in range(samples):
            now = utcnow()
            started = time.perf_counter()
            participant = Participant(study_id=f"S-{i:05d}", start_date=now.date() + timedelta(days=3 + i % 300),
                                      language="zh-CN", timezone="Asia/Shanghai", created_at=now)
            participant.visits = [visit_from_plan(p, now)
                                  for p in plan_schedule(protocol, participant.start_date, participant.timezone)]
            db.session.add(participant)
            db.session.commit()
            timings.append((time.perf_counter() - started) * 1000)
    app.extensions["pro_db"]["engine"].dispose()
    return timings


def plan_only(samples):
    protocol = create_app({"DATABASE_URL": "sqlite://", "SECRET_KEY": "b"},
                          instance_path=tempfile.mkdtemp()).extensions["pro_protocol"]
    timings = []
    for i in range(samples):
        started = time.perf_counter()
        plan_schedule(protocol, date(2026, 1, 5) + timedelta(days=i), "America/New_York")
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def main(samples=300):
    print(summary("plan visits only (pure, no database)", plan_only(samples)))
    with tempfile.TemporaryDirectory() as tmp:
        for kind in databases():
            with scratch_database(kind, tmp) as url:
                print(summary(f"visit schedule: plan + store, {LABELS[kind]}", schedule_timings(url, samples),
                              TARGET_MS))
                print(summary(f"whole enrolment (~500 rows), {LABELS[kind]}", enrol_timings(url, samples)))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
