"""Benchmark: plan and store one participant's full schedule (target: median < 20 ms on SQLite).

Each sample enrols one participant through the same code as the CLI and the enrol form
(validation, planning, 30 visit rows, contacts, audit event) and commits it.
"""

import os
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta

from pro_app import create_app
from pro_app.audit.operations import Actor
from pro_app.clock import utcnow
from pro_app.db import db, upgrade
from pro_app.participants.operations import enrol
from pro_app.participants.validation import check_enrolment
from pro_app.protocol import current_protocol
from pro_app.protocol.planner import plan_schedule

TARGET_MS = 20.0


def run_on(url, samples):
    """Return per-participant timings in milliseconds for one database URL."""
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"}, instance_path=tempfile.mkdtemp())
    timings = []
    with app.app_context():
        if url.startswith("postgresql"):
            with db.engine.begin() as conn:
                conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
                conn.exec_driver_sql("CREATE SCHEMA public")
        upgrade(db.engine)
        protocol = current_protocol()
        actor = Actor(label="bench")
        for i in range(samples):
            raw = {"study_id": f"B-{i:05d}", "start": (date(2026, 1, 5) + timedelta(days=i % 300)).isoformat(),
                   "tz": "Asia/Shanghai", "lang": "zh-CN", "age": "15", "phone": f"+86138{i:08d}",
                   "caregivers": [{"phone": f"+86139{i:08d}", "lang": "zh-CN", "name": "Parent"}]}
            started = time.perf_counter()
            with app.test_request_context():
                enrolment, errors = check_enrolment(raw)
                assert not errors, errors
                enrol(db.session, enrolment, protocol, actor=actor, now=utcnow(), public_url="http://localhost")
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


def summary(name, timings, target=None):
    timings = sorted(timings[10:])  # the first samples warm caches and the connection
    median = statistics.median(timings)
    p95 = timings[int(len(timings) * 0.95) - 1]
    verdict = f"  target < {target:.0f} ms: {'met' if median < target else 'MISSED'} " \
              f"(median is {median / target:.2f}x the target)" if target else ""
    return f"{name:<38} median {median:7.2f} ms   p95 {p95:7.2f} ms   n={len(timings)}{verdict}"


def main(samples=300):
    with tempfile.TemporaryDirectory() as tmp:
        print(summary("plan only (pure, no database)", plan_only(samples)))
        print(summary("plan + store, SQLite file (WAL)", run_on(f"sqlite:///{tmp}/bench.db", samples), TARGET_MS))
    pg = os.environ.get("PRO_BENCH_DATABASE_URL")
    if pg:
        print(summary("plan + store, PostgreSQL", run_on(pg, samples), TARGET_MS))
    else:
        print("(set PRO_BENCH_DATABASE_URL to a scratch PostgreSQL database to measure it too)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
