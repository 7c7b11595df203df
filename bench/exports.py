"""Benchmark: exporting a large study, time and peak memory.

The database holds 10,000 participants (a contact each) and 100,000 submitted responses (ten per
participant, each on its completed assignment, over the four shipped instruments), seeded with
COPY. Each export runs as its own `pro-app export` process, as a data manager would run it, writing
to a file; timed from start to exit (wall clock, and the process's own CPU time, which other load on the
machine does not inflate), with its peak resident memory (getrusage's maxrss of that child):

* long CSV: `pro-app export responses --format csv` (one row per answered item), target <= 20 s;
* FHIR NDJSON: `pro-app export responses --format fhir`, target <= 60 s;
* both with a peak RSS target of <= 200 MB: the exports stream (server-side cursor, generators),
  so memory stays flat however large the study.

ODM and the compliance table are timed too, without targets. On a scratch PostgreSQL database
created on the server PRO_BENCH_DATABASE_URL names and dropped afterwards; without it, on a
temporary SQLite file at a tenth of the size.

    python bench/exports.py
"""

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import time as clock_time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from alerts import SCHEDULE, answer_variants, bulk  # noqa: E402
from common import analyze, logs_to_devnull, scratch_database  # noqa: E402

from pro_app import create_app  # noqa: E402
from pro_app.clock import utcnow  # noqa: E402
from pro_app.db import db  # noqa: E402
from pro_app.participants.models import Contact, ContactRole, Participant, ParticipantStatus  # noqa: E402
from pro_app.questionnaires import current_instruments  # noqa: E402
from pro_app.questionnaires.models import Assignment, AssignmentState, Response  # noqa: E402
from pro_app.questionnaires.operations import version_row  # noqa: E402

FULL = {"participants": 10_000, "responses": 100_000}
TARGETS = {"long CSV": 20.0, "FHIR NDJSON": 60.0}
RSS_TARGET_MB = 200.0
RUNS = [
    ("long CSV", ["responses", "--format", "csv"], "csv"),
    ("FHIR NDJSON", ["responses", "--format", "fhir"], "ndjson"),
    ("ODM 1.3.2 XML", ["responses", "--format", "odm"], "xml"),
    ("compliance CSV", ["compliance"], "csv"),
]


def seed(app, scale):
    """Fill the database with participants, contacts, assignments and responses; return the seconds taken."""
    rng = random.Random(20260302)
    per = scale["responses"] // scale["participants"]
    now = utcnow()
    started = time.perf_counter()
    with app.app_context():
        session = db.session
        instruments = current_instruments()
        versions = {iid: version_row(session, instrument, now).id for iid, instrument in instruments.items()}
        variants = {iid: answer_variants(instrument, rng, n=16) for iid, instrument in instruments.items()}
        participants, contacts, assignments, responses = [], [], [], []
        rid = 0
        for pid in range(1, scale["participants"] + 1):
            age = rng.choice([None, None, 34, 52, 15, 9, 5])
            start = now.date() - timedelta(days=rng.randint(200, 330))
            created = now - timedelta(days=340)
            caregiver = age is not None and age < 18
            participants.append({"id": pid, "study_id": f"S-{pid:05d}", "start_date": start, "age": age,
                                 "language": "zh-CN", "timezone": "Asia/Shanghai",
                                 "status": ParticipantStatus.ACTIVE if pid % 25 else ParticipantStatus.WITHDRAWN,
                                 "created_at": created})
            contacts.append({"id": pid, "participant_id": pid,
                             "role": ContactRole.CAREGIVER if caregiver else ContactRole.PATIENT,
                             "name": "Parent" if caregiver else None, "phone": f"+86138{pid:08d}",
                             "language": "zh-CN", "timezone": "Asia/Shanghai", "receives_visit_reminders": True,
                             "receives_questionnaires": True, "quiet_start": clock_time(21, 0),
                             "quiet_end": clock_time(8, 0), "consent_at": created, "calendar_token_hash": None,
                             "created_at": created})
            respondent = "proxy" if caregiver else "self"
            for k, (iid, occasion) in enumerate(SCHEDULE[:per]):
                rid += 1
                opens = now - timedelta(days=(per - k) * 14 + rng.randint(0, 6), hours=rng.randint(0, 12))
                submitted = opens + timedelta(hours=rng.randint(1, 40), minutes=rng.randint(0, 59))
                assignments.append({"id": rid, "participant_id": pid, "contact_id": pid, "respondent": respondent,
                                    "instrument_id": iid, "occasion": occasion, "visit_id": None,
                                    "opens_at": opens, "closes_at": opens + timedelta(days=3),
                                    "state": AssignmentState.COMPLETED, "completed_at": submitted,
                                    "created_at": opens - timedelta(days=30), "updated_at": submitted})
                answers, scores = variants[iid][rid % len(variants[iid])]
                responses.append({"id": rid, "assignment_id": rid, "participant_id": pid, "contact_id": pid,
                                  "version_id": versions[iid], "instrument_id": iid, "respondent": respondent,
                                  "proxy": respondent == "proxy", "answers": answers, "scores": scores,
                                  "started_at": submitted - timedelta(minutes=6), "submitted_at": submitted,
                                  "submit_key": f"{rid:032x}"})
        for model, rows in ((Participant, participants), (Contact, contacts), (Assignment, assignments),
                            (Response, responses)):
            bulk(session, model, rows)
        analyze(session)
    return time.perf_counter() - started


#: Starts the export and reports its peak memory. A child forked straight from this process would
#: count this process's own memory (the seeded rows) in its peak until it execs; one forked from
#: this small launcher does not.
LAUNCHER = ("import json, os, subprocess, sys; p = subprocess.Popen(sys.argv[1:]); _, s, ru = os.wait4(p.pid, 0); "
            "print(json.dumps([os.waitstatus_to_exitcode(s), ru.ru_maxrss, ru.ru_utime + ru.ru_stime]))")


def timed_export(url, args, out):
    """Run one `pro-app export` process; return (seconds, CPU seconds, its peak RSS in MB, its last stderr line)."""
    env = {**os.environ, "PRO_DATABASE_URL": url, "PRO_INSTANCE_PATH": str(Path(out).parent)}
    command = [sys.executable, "-c", "from pro_app.cli import main; main()", "export", *args, "--out", out]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", LAUNCHER, *command], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    code, maxrss_kb, cpu = json.loads(done.stdout.strip().splitlines()[-1])
    message = done.stderr.strip().splitlines()
    if code:
        raise SystemExit(f"export {' '.join(args)} failed: {message}")
    return seconds, cpu, maxrss_kb / 1024, message[-1] if message else ""


def run(kind, scale, tmp):
    with scratch_database(kind, tmp) as url:
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"}, instance_path=tmp)
        try:
            seconds = seed(app, scale)
        finally:
            app.extensions["pro_db"]["engine"].dispose()
        print(f"seeded {kind}: {scale['participants']:,} participants, {scale['responses']:,} responses "
              f"in {seconds:.1f} s", flush=True)
        for label, args, ext in RUNS:
            out = str(Path(tmp) / f"export.{ext}")
            seconds, cpu, rss, message = timed_export(url, args, out)
            size = Path(out).stat().st_size / 1e6
            target = TARGETS.get(label)
            verdict = ""
            if target and kind == "postgresql":
                met = seconds <= target and rss <= RSS_TARGET_MB
                verdict = (f"  targets <= {target:.0f} s, <= {RSS_TARGET_MB:.0f} MB: {'met' if met else 'MISSED'} "
                           f"({seconds / target:.2f}x, {rss / RSS_TARGET_MB:.2f}x)")
            print(f"{label:<16} {kind:<10} {seconds:6.1f} s (CPU {cpu:5.1f} s)  peak RSS {rss:6.1f} MB  "
                  f"{size:7.1f} MB file  "
                  f"[{message}]{verdict}", flush=True)


def main():
    started = time.perf_counter()
    with logs_to_devnull(), tempfile.TemporaryDirectory() as tmp:
        if os.environ.get("PRO_BENCH_DATABASE_URL"):
            run("postgresql", FULL, tmp)
        else:
            print("PRO_BENCH_DATABASE_URL is not set: a smaller SQLite variant (a tenth of the rows). Set it to a "
                  "PostgreSQL server URL to measure at full size, in a scratch database created and dropped.")
            run("sqlite", {k: v // 10 for k, v in FULL.items()}, tmp)
    print(f"(total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
