"""Benchmark: the outbox at the size of a long, large study (PostgreSQL).

Seeds a scratch database with 100,000 participants and N finished outbox rows (default 10
million; INSERT ... SELECT generate_series, then ANALYZE), then times, median of many runs:

* a tick with nothing due (`run_tick`: windows, escalations, rota gap, recovery, stale drop,
  the claim that finds nothing) — target <= 20 ms;
* the claim of 50 due texts (`claim`, rolled back after each run) — target <= 20 ms;
* the alert worklist's queries (count, first page, the on-call phones' text problems) —
  target <= 100 ms.

    PRO_BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\
        python bench/outbox_scale.py [rows] [participants]
"""

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from common import logs_to_devnull, scratch_database  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402

from pro_app import create_app  # noqa: E402
from pro_app.alerts.models import Alert  # noqa: E402
from pro_app.alerts.phones import phone_problems  # noqa: E402
from pro_app.alerts.views import ACTIVE, worklist_query  # noqa: E402
from pro_app.clock import utcnow  # noqa: E402
from pro_app.db import db  # noqa: E402
from pro_app.scheduler import run_tick  # noqa: E402
from pro_app.sms.dispatch import claim  # noqa: E402

SEED_PARTICIPANTS = text("""
INSERT INTO participants (study_id, start_date, language, timezone, status, created_at)
SELECT 'S-' || g, DATE '2024-01-01' + (g % 700), 'zh-CN', 'Asia/Shanghai', 'active', now()
FROM generate_series(1, CAST(:n AS integer)) g
""")
# Finished rows of every kind a study leaves behind, spread over two years.
SEED_MESSAGES = text("""
INSERT INTO messages (dedupe_key, participant_id, to_phone, template, language, body, due_at, expires_at,
                      ignore_quiet_hours, state, attempts, attempted_at, sent_at, provider_sid, created_at,
                      updated_at)
SELECT 'scale:' || g, 1 + g % CAST(:participants AS integer),
       '+86138' || lpad((g % CAST(:participants AS integer))::text, 8, '0'),
       'visit_reminder', 'zh-CN', 'Scale text ' || g, t, t + interval '1 day', false,
       (ARRAY['sent', 'delivered', 'delivered', 'delivered', 'cancelled', 'suppressed', 'failed',
              'undelivered'])[1 + g % 8],
       1, t, t, 'SMscale' || g, t, t
FROM generate_series(CAST(:start AS bigint), CAST(:stop AS bigint)) g,
     LATERAL (SELECT now() - interval '2 years' + (g % 63072000) * interval '1 second') AS at(t)
""")


def median_ms(fn, runs):
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        timings.append((time.perf_counter() - started) * 1000)
    timings = sorted(timings[3:])  # the first runs warm caches
    return statistics.median(timings), timings[int(len(timings) * 0.95) - 1]


def line(name, result, target):
    median, p95 = result
    verdict = "met" if median <= target else "MISSED"
    return f"{name:<58} median {median:8.2f} ms   p95 {p95:8.2f} ms   target <= {target:.0f} ms: {verdict}"


def seed(url, rows, participants):
    # No statement timeout: a million-row INSERT ... SELECT takes longer than a page may.
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "DATABASE_STATEMENT_TIMEOUT_MS": 0},
                     instance_path=tempfile.mkdtemp())
    started = time.perf_counter()
    with app.app_context():
        db.session.execute(SEED_PARTICIPANTS, {"n": participants})
        db.session.commit()
        chunk = 250_000
        for start in range(1, rows + 1, chunk):
            db.session.execute(SEED_MESSAGES, {"start": start, "stop": min(rows, start + chunk - 1),
                                               "participants": participants})
            db.session.commit()
            print(f"  seeded {min(rows, start + chunk - 1):,} rows in {time.perf_counter() - started:.0f} s",
                  flush=True)
        db.session.execute(text("ANALYZE"))
        db.session.commit()
    app.extensions["pro_db"]["engine"].dispose()


def measure(url, runs):
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"}, instance_path=tempfile.mkdtemp())
    with app.app_context():
        now = utcnow()
        tick = median_ms(lambda: run_tick(now), runs)

        db.session.execute(text("""
            INSERT INTO messages (dedupe_key, participant_id, to_phone, template, language, body, due_at,
                                  ignore_quiet_hours, state, attempts, created_at, updated_at)
            SELECT 'due:' || g, g, '+86139' || lpad(g::text, 8, '0'), 'visit_reminder', 'zh-CN', 'Due ' || g,
                   now() - interval '1 minute', false, 'pending', 0, now(), now()
            FROM generate_series(1, 50) g"""))
        db.session.commit()

        def claim_50():
            assert len(claim(db.session, now, 50, "bench")) == 50
            db.session.rollback()

        claimed = median_ms(claim_50, runs)
        phones = [f"+86138{i:08d}" for i in range(10)]

        def worklist():
            db.session.scalar(select(func.count()).select_from(Alert).where(Alert.state.in_(ACTIVE)))
            db.session.scalars(worklist_query().limit(50)).all()
            phone_problems(db.session, phones)
            db.session.rollback()

        page = median_ms(worklist, runs)
    app.extensions["pro_db"]["engine"].dispose()
    return tick, claimed, page


def main(rows=10_000_000, participants=100_000, runs=40):
    if not os.environ.get("PRO_BENCH_DATABASE_URL"):
        raise SystemExit("set PRO_BENCH_DATABASE_URL to a PostgreSQL server URL (a scratch database is made there)")
    with logs_to_devnull(), tempfile.TemporaryDirectory() as tmp, scratch_database("postgresql", tmp) as url:
        started = time.perf_counter()
        seed(url, rows, participants)
        print(f"seeded {participants:,} participants and {rows:,} finished texts in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        tick, claimed, page = measure(url, runs)
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(line(f"tick with nothing due, {rows:,} finished rows", tick, 20))
        print(line(f"claim of 50 due texts, {rows:,} finished rows", claimed, 20))
        print(line(f"alert worklist queries, {rows:,} finished rows", page, 100))
        print(f"(load average {load})")


if __name__ == "__main__":
    args = [int(a.replace("_", "")) for a in sys.argv[1:]]
    main(*args)
