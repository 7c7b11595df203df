"""Benchmark: sending the outbox, and planning one participant's reminders.

* Dispatch throughput (target: at least 300 texts a second on a 2-core machine): due texts
  drained by `run_tick` through the real TwilioGateway (the twilio SDK over HTTP) to a
  loopback FakeTwilio, or with `--backend aliyun` through the real AliyunGateway (Alibaba
  Cloud's dysmsapi SDK, signed requests, approved templates) to a loopback FakeAliyun, each
  fake in a process of its own as the provider would be; once in-process (with the statements
  per text, by kind), then with 1 and 4 running `pro-app scheduler` processes as deployed
  (PRO_SMS_CONCURRENCY threads each; from the commit that queues the texts to the last one
  sent), then with 1 and 4 concurrent `pro-app tick` runs (from the first start to the last
  exit, process start-up included). On a temporary SQLite file (WAL) and, when PRO_BENCH_DATABASE_URL is
  set, on a scratch PostgreSQL database created on that server and dropped
  afterwards (the database the URL names is never written to).
* Planning (target: under 50 ms per participant): `visit_reminder_rows` over every visit of
  one freshly enrolled participant (a patient and two caregivers); "plan + store" adds the
  enqueue and the commit.

The fake gateway shares this machine's two cores with the sender, so these rates understate
what the sender does against the real provider.

    python bench/dispatch.py [texts] [--profile] [--backend twilio|aliyun] [--db sqlite|postgresql]
                             [--no-planning]
"""

import cProfile
import io
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # fake_twilio
sys.path.insert(0, str(ROOT / "bench"))

from common import databases, logs_to_devnull, scratch_database, summary  # noqa: E402
from fake_aliyun import ACCESS_KEY_ID, ACCESS_KEY_SECRET, SIGN_NAME  # noqa: E402
from loopback import RemoteFake  # noqa: E402
from sqlalchemy import create_engine, delete, event, func, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from pro_app import create_app  # noqa: E402
from pro_app.audit.operations import Actor  # noqa: E402
from pro_app.clock import utcnow  # noqa: E402
from pro_app.db import db, make_engine  # noqa: E402
from pro_app.participants.operations import enrol  # noqa: E402
from pro_app.participants.validation import check_enrolment  # noqa: E402
from pro_app.protocol import current_protocol  # noqa: E402
from pro_app.questionnaires import current_instruments  # noqa: E402
from pro_app.reminders.operations import enqueue, message_row, visit_reminder_rows  # noqa: E402
from pro_app.reminders.texts import render  # noqa: E402
from pro_app.scheduler import run_tick  # noqa: E402
from pro_app.sms.models import Message, MessageState  # noqa: E402

TARGET_RATE = 300.0  # texts per second
TARGET_RATE_ALIYUN = 200.0  # its SDK builds and signs each request: more work per text
#: Statements of the in-process run by kind, per database (counted by a before_cursor_execute listener).
STATEMENTS = {}
TARGET_PLAN_MS = 50.0
SENDER = "+15005550006"
PRO_APP = Path(sys.executable).with_name("pro-app")


def bench_text(i, backend):
    """Return (template, body) of the i-th text: approved-template kinds for Alibaba."""
    if backend == "aliyun":
        return "reply_confirmed", render("reply_confirmed", "zh-CN", site="研究中心", date=f"2026-{i % 12 + 1:02d}-15")
    return "staff_note", f"【研究中心】研究访视提醒：第 {i} 条。回复 1 确认，回复 2 需要改期。"


def enqueue_due(url, n, now, tag, backend="twilio"):
    """Insert n due texts to n distinct numbers."""
    rows = [message_row(key=f"bench:{tag}:{i}", participant_id=None, contact_id=None,
                        phone=f"+86138{i:08d}", template=template, language="zh-CN", body=body,
                        due_at=now - timedelta(minutes=5), now=now - timedelta(minutes=10))
            for i, (template, body) in ((i, bench_text(i, backend)) for i in range(n))]
    engine = make_engine(url)
    with Session(engine) as session:
        enqueue(session, rows)
        session.commit()
        if url.startswith("postgresql"):
            # Give the planner statistics, as autovacuum does on a live outbox.
            session.connection().exec_driver_sql("ANALYZE messages")
            session.commit()
    engine.dispose()


def count_sent(url):
    engine = create_engine(url)
    with engine.connect() as conn:
        sent = conn.scalar(select(func.count()).where(Message.state == MessageState.SENT))
    engine.dispose()
    return sent


# --- dispatch throughput ---------------------------------------------------------------------

def gateway_settings(fake):
    if backend_of(fake) == "aliyun":
        return {"SMS_BACKEND": "aliyun", "ALIYUN_ACCESS_KEY_ID": ACCESS_KEY_ID,
                "ALIYUN_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET, "ALIYUN_SIGN_NAME": SIGN_NAME,
                "ALIYUN_ENDPOINT": fake.url}
    return {"SMS_BACKEND": "twilio", "TWILIO_ACCOUNT_SID": fake.account_sid,
            "TWILIO_AUTH_TOKEN": fake.auth_token, "TWILIO_FROM": SENDER,
            "TWILIO_BASE_URL": fake.url}


def backend_of(fake):
    return Path(fake.script).stem.removeprefix("fake_")


def dispatch_in_process(url, fake, n, profile=None):
    """Drain n due texts with one run_tick in this process; return seconds taken."""
    now = utcnow()
    enqueue_due(url, n, now, "inproc", backend_of(fake))
    fake.clear()
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", **gateway_settings(fake)},
                     instance_path=tempfile.mkdtemp())
    counts = STATEMENTS[url.split(":")[0].split("+")[0]] = Counter()

    def statement(_conn, _cursor, sql, *_args):
        counts[sql.lstrip().split(None, 1)[0].upper()] += 1

    def commit(_conn):
        counts["COMMIT"] += 1

    engine = app.extensions["pro_db"]["engine"]
    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        with app.app_context():
            started = time.perf_counter()
            if profile is not None:
                profile.enable()
            summary = run_tick(now)
            # A tick stops after its time budget; on a slow machine the next one carries on.
            while "sent" in summary and count_sent(url) < n and time.perf_counter() - started < 600:
                summary += " / " + run_tick(now)
            if profile is not None:
                profile.disable()
            elapsed = time.perf_counter() - started
    finally:
        app.extensions["pro_db"]["engine"].dispose()
    check(url, fake, n, summary)
    return elapsed


def process_env(url, fake, **settings):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRO_", "FLASK_", "TWILIO_"))}
    env.update({"PRO_DATABASE_URL": url, "PRO_SECRET_KEY": "bench",
                **{f"PRO_{k}": str(v) for k, v in (gateway_settings(fake) | settings).items()}})
    return env


def dispatch_schedulers(url, fake, n, processes):
    """Send n due texts with `processes` running `pro-app scheduler`s, as deployed.

    The schedulers are started and idle before the texts are queued; returns the seconds from
    the commit that queues them to the last one sent. They tick every second (deployments tick
    every 3 s by default), so the first claim waits half a second on average.
    """
    env = process_env(url, fake, SCHEDULER_INTERVAL_SECONDS=1)
    children = [subprocess.Popen([str(PRO_APP), "scheduler"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True) for _ in range(processes)]
    try:
        for child in children:
            child.stdout.readline()  # "scheduler: ticking every 1 s"
        time.sleep(2)  # past their first, empty tick
        fake.clear()
        now = utcnow()
        enqueue_due(url, n, now, f"scheduler{processes}", backend_of(fake))
        started = time.perf_counter()
        engine = create_engine(url)
        with engine.connect() as conn:
            while (conn.scalar(select(func.count()).where(Message.state == MessageState.SENT)) < n
                   and time.perf_counter() - started < 300):
                conn.rollback()
                time.sleep(0.02)
        elapsed = time.perf_counter() - started
        engine.dispose()
    finally:
        for child in children:
            child.terminate()
        codes = [child.wait(timeout=30) for child in children]
    check(url, fake, n, f"schedulers exited with {codes}")
    return elapsed


def dispatch_processes(url, fake, n, processes):
    """Drain n due texts with `processes` concurrent `pro-app tick` runs; return wall seconds."""
    now = utcnow()
    enqueue_due(url, n, now, f"proc{processes}", backend_of(fake))
    fake.clear()
    env = process_env(url, fake)
    started = time.perf_counter()
    outputs = []
    # Each tick stops after its time budget; on a slow machine another round carries on.
    while not outputs or (count_sent(url) < n and time.perf_counter() - started < 600):
        children = [subprocess.Popen([str(PRO_APP), "tick", "--now", now.isoformat()], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                    for _ in range(processes)]
        outputs += [child.communicate(timeout=300)[0] for child in children]
        codes = [child.returncode for child in children]
        if codes != [0] * processes:
            raise SystemExit(f"pro-app tick exited with {codes}: {outputs}")
    elapsed = time.perf_counter() - started
    check(url, fake, n, " / ".join(line.strip() for line in outputs))
    return elapsed


def check(url, fake, n, summary):
    """Refuse a figure for a run that did not send every text exactly once."""
    received = fake.messages
    tos = [m["to"] for m in received]
    out_ids = [m["out_id"] for m in received if m.get("out_id")]
    if len(out_ids) != len(set(out_ids)):
        raise SystemExit("an outbox text reached Alibaba twice")
    if len(tos) != n or len(set(tos)) != n or count_sent(url) != n:
        raise SystemExit(f"run did not send each of {n} texts once: gateway got {len(tos)} "
                         f"({len(set(tos))} numbers), outbox has {count_sent(url)} sent; {summary}")


def rate_line(name, n, seconds, target=TARGET_RATE):
    rate = n / seconds
    verdict = "met" if rate >= target else "MISSED"
    return (f"{name:<52} {rate:8.1f} texts/s   ({n} in {seconds:5.2f} s)   target >= {target:.0f}/s: "
            f"{verdict} ({rate / target:.2f}x the target)")


def throughput(kind, n, tmp, fake, profile=False):
    label = {"sqlite": "SQLite file (WAL)", "postgresql": "PostgreSQL"}[kind]
    via = " via Alibaba" if backend_of(fake) == "aliyun" else ""
    target = TARGET_RATE_ALIYUN if via else TARGET_RATE
    with scratch_database(kind, tmp) as url:
        print(rate_line(f"dispatch{via}, 1 in-process tick, {label}", n, dispatch_in_process(url, fake, n), target),
              flush=True)
        counts = STATEMENTS[kind]
        print(f"  statements per text: {sum(v for k, v in counts.items() if k != 'COMMIT') / n:.2f} "
              f"({', '.join(f'{k} {v / n:.2f}' for k, v in sorted(counts.items()))}); "
              f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    for processes in (1, 4):
        with scratch_database(kind, tmp) as url:
            print(rate_line(f"dispatch{via}, {processes} running pro-app scheduler, {label}", n,
                            dispatch_schedulers(url, fake, n, processes), target), flush=True)
    for processes in (1, 4):
        with scratch_database(kind, tmp) as url:
            print(rate_line(f"dispatch{via}, {processes} pro-app tick, start-up included, {label}", n,
                            dispatch_processes(url, fake, n, processes), target), flush=True)
    if profile:
        with scratch_database(kind, tmp) as url:
            prof = cProfile.Profile()
            dispatch_in_process(url, fake, n, profile=prof)
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(35)
        print(f"--- profile of one in-process tick, {label} (cumulative)\n{out.getvalue()}")


# --- planning ------------------------------------------------------------------------------

def planning(url, samples):
    """Return (plan-only, plan + store) timings in ms, and texts per participant."""
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"}, instance_path=tempfile.mkdtemp())
    plan_ms, store_ms, counts = [], [], []
    with app.app_context():
        protocol = current_protocol()
        actor = Actor(label="bench")
        session = db.session
        for i in range(samples):
            now = utcnow()
            raw = {"study_id": f"P-{i:05d}", "start": (now.date() + timedelta(days=3 + i % 60)).isoformat(),
                   "tz": "Asia/Shanghai", "lang": "zh-CN", "age": "15", "phone": f"+86138{i:08d}",
                   "caregivers": [{"phone": f"+86139{i:08d}", "lang": "zh-CN", "name": "Mother"},
                                  {"phone": f"+86137{i:08d}", "lang": "en", "name": "Father",
                                   "tz": "America/New_York"}]}
            with app.test_request_context():
                enrolment, errors = check_enrolment(raw)
                assert not errors, errors
                participant = enrol(session, enrolment, protocol, current_instruments(), actor=actor, now=now,
                                    public_url="http://localhost")
                # Enrolment already queued the reminders: remove them to time planning them again.
                session.execute(delete(Message).where(Message.participant_id == participant.id,
                                                      Message.template == "visit_reminder"))
                session.commit()
                visits = list(participant.visits)
                assert len(participant.contacts) == 3 and visits

                started = time.perf_counter()
                rows = [row for visit in visits for row in visit_reminder_rows(visit, protocol, now)]
                planned = time.perf_counter()
                enqueue(session, rows)
                session.commit()
                stored = time.perf_counter()
            plan_ms.append((planned - started) * 1000)
            store_ms.append((stored - started) * 1000)
            counts.append(len(rows))
    app.extensions["pro_db"]["engine"].dispose()
    return plan_ms, store_ms, counts


def main(texts=2000, samples=200, profile=False, backend="twilio", kinds=None, planning_too=True):
    # The fake runs in a process of its own: in this one it would share the GIL with the sender.
    fake_script = ROOT / "tests" / f"fake_{backend}.py"
    with logs_to_devnull(), tempfile.TemporaryDirectory() as tmp, RemoteFake(fake_script) as fake:
        for kind in kinds or databases():
            throughput(kind, texts, tmp, fake, profile)
        for kind in (kinds or databases()) if planning_too and backend == "twilio" else ():
            label = {"sqlite": "SQLite file (WAL)", "postgresql": "PostgreSQL"}[kind]
            with scratch_database(kind, tmp) as url:
                plan_ms, store_ms, counts = planning(url, samples)
            per = statistics.median(counts)
            print(summary(f"plan one participant ({per:.0f} texts), {label}", plan_ms, TARGET_PLAN_MS))
            print(summary(f"plan + store one participant, {label}", store_ms, TARGET_PLAN_MS))
    if "PRO_BENCH_DATABASE_URL" not in os.environ:
        print("(set PRO_BENCH_DATABASE_URL to a PostgreSQL server URL to measure it too; "
              "this benchmark works in a scratch database it creates and drops)")


if __name__ == "__main__":
    argv = sys.argv[1:]
    backend = "twilio"
    if "--backend" in argv:
        at = argv.index("--backend")
        backend = argv[at + 1]
        del argv[at:at + 2]
        if backend not in ("twilio", "aliyun"):
            raise SystemExit("--backend is twilio or aliyun")
    kinds = None
    if "--db" in argv:
        at = argv.index("--db")
        kinds = [argv[at + 1]]
        del argv[at:at + 2]
    args = [a for a in argv if a not in ("--profile", "--no-planning")]
    main(int(args[0]) if args else 2000, profile="--profile" in sys.argv, backend=backend, kinds=kinds,
         planning_too="--no-planning" not in sys.argv)
