"""Real `pro-app tick` and `pro-app scheduler` processes against a real database.

Each test gets its own scratch database: a SQLite file (WAL) always, and a freshly created
PostgreSQL database (dropped afterwards) when PRO_TEST_DATABASE_URL is set. Texts go
through the real Twilio SDK in the child processes to a loopback FakeTwilio in this one.

Acceptance points proven here:

* four `pro-app tick` processes at once over 2,000 due texts send every text exactly once;
* a scheduler killed with SIGKILL while a send is in flight, then restarted, sends the
  rest and nothing twice; the text it was sending is recorded as "outcome unknown".

Two more guard the claim itself: a claim takes one batch and no more (on PostgreSQL even
without planner statistics), and a worker slower than the claim lease never sends a text
another worker took back.
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fake_twilio import FakeTwilio
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

import pro_app.models  # noqa: F401  (configures every mapper before the first query)
from pro_app.db import make_engine
from pro_app.reminders.operations import enqueue, message_row
from pro_app.sms.models import Message, MessageState

ROOT = Path(__file__).resolve().parents[1]
PRO_APP = Path(sys.executable).with_name("pro-app")
PG_URL = os.environ.get("PRO_TEST_DATABASE_URL")
SENDER = "+15005550006"
NOW = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)


def phone(i):
    return f"+86138{i:08d}"


def enqueue_due(url, n, due_at, analyze=True):
    """Insert n due staff-style texts (no participant, no contact), each to its own number.

    On PostgreSQL the outbox is then analysed, as autovacuum keeps a live one, so the claim
    query gets the plan it has in production (see the stuck-worker test for a fresh table).
    """
    rows = [
        message_row(key=f"proc-test:{i}", participant_id=None, contact_id=None, phone=phone(i),
                    template="staff_note", language="en", body=f"Test text {i}", due_at=due_at,
                    now=due_at - timedelta(minutes=1))
        for i in range(n)
    ]
    engine = make_engine(url)
    with Session(engine) as session:
        enqueue(session, rows)
        session.commit()
        if analyze and engine.dialect.name == "postgresql":
            session.connection().exec_driver_sql("ANALYZE messages")
            session.commit()
    engine.dispose()
    return {row["to_phone"] for row in rows}


class Outbox:
    """Read the outbox from outside the workers (plain reads: never takes SQLite's write lock)."""

    def __init__(self, url):
        self.engine = create_engine(url)

    def rows(self):
        with self.engine.connect() as conn:
            return conn.execute(select(
                Message.to_phone, Message.state, Message.state_reason, Message.provider_sid,
                Message.attempted_at, Message.attempts,
            )).all()

    def states(self):
        with self.engine.connect() as conn:
            return dict(conn.execute(select(Message.state, func.count()).group_by(Message.state)).all())

    def close(self):
        self.engine.dispose()


# --- child processes ---------------------------------------------------------------------

def child_env(url, fake, **settings):
    """The environment of a pro-app child: this database, the fake gateway, nothing inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRO_", "FLASK_", "TWILIO_"))}
    env.update({
        "PRO_DATABASE_URL": url,
        "PRO_SECRET_KEY": "tick-processes-secret",
        "PRO_PUBLIC_URL": "http://127.0.0.1:5000",
        "PRO_SMS_BACKEND": "twilio",
        "PRO_TWILIO_ACCOUNT_SID": fake.account_sid,
        "PRO_TWILIO_AUTH_TOKEN": fake.auth_token,
        "PRO_TWILIO_FROM": SENDER,
        "PRO_TWILIO_BASE_URL": fake.base_url,
        "PRO_TWILIO_TIMEOUT": "5",
        "PRO_SMS_RATE": "0",
        # One text at a time, so tests can say which text a hold or a kill lands on.
        "PRO_SMS_CONCURRENCY": "1",
    })
    env.update({f"PRO_{k}": str(v) for k, v in settings.items()})
    return env


class Child:
    """A pro-app subprocess whose output goes to files (the SDK logs every request)."""

    def __init__(self, args, env, workdir, name):
        self.name = name
        self.out_path = workdir / f"{name}.out"
        self.err_path = workdir / f"{name}.err"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen([str(PRO_APP), *args], cwd=ROOT, env=env, stdout=out, stderr=err)

    @property
    def pid(self):
        return self.proc.pid

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"{self.name} did not exit within {timeout}s\n{self.output()}")

    def stdout(self):
        return self.out_path.read_text(errors="replace")

    def output(self, tail=4000):
        err = self.err_path.read_text(errors="replace")
        return f"--- {self.name} stdout:\n{self.stdout()}\n--- {self.name} stderr (tail):\n{err[-tail:]}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def summary_counts(line):
    """Parse 'tick 2026-...: handed back 3, sent 25' into {'handed back': 3, 'sent': 25}."""
    _, _, tail = line.partition(": ")
    if tail.strip() == "nothing due":
        return {}
    counts = {}
    for part in tail.split(", "):
        match = re.fullmatch(r"(.+) (\d+)", part.strip())
        assert match, f"unexpected summary part {part!r} in {line!r}"
        counts[match[1]] = int(match[2])
    return counts


def wait_until(condition, timeout, message):
    """Poll condition until it is true; fail with message(), not a hang, after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s: {message()}")
        time.sleep(0.05)


# --- 1. four tick processes at once --------------------------------------------------------

TICK_TEXTS = 2000
TICK_PROCESSES = 4


def test_four_tick_processes_send_each_text_exactly_once(scratch_db, tmp_path):
    expected = enqueue_due(scratch_db, TICK_TEXTS, NOW - timedelta(minutes=5))
    rounds = []  # per round: (process, summary line, parsed counts)
    with GatedRun(scratch_db, tmp_path, hold=[]) as run:
        gateway, outbox = run.gateway, run.outbox
        env = run.env(SMS_BATCH=25, SMS_CONCURRENCY=4)
        for round_no in range(1, 4):  # a tick stops after its time budget: go again if needed
            batch = [run.start(["tick", "--now", NOW.isoformat()], env, f"tick{round_no}.{i}")
                     for i in range(TICK_PROCESSES)]
            codes = [child.wait(timeout=120) for child in batch]
            report = "\n".join(child.output() for child in batch)
            assert codes == [0] * TICK_PROCESSES, f"exit codes {codes}\n{report}"
            summaries = []
            for child in batch:
                lines = child.stdout().strip().splitlines()
                assert len(lines) == 1 and lines[0].startswith("tick "), report
                summaries.append((child.name, lines[0], summary_counts(lines[0])))
            rounds.append(summaries)
            if MessageState.PENDING not in outbox.states():
                break
        history = "\n".join(f"{name}: {line}" for summaries in rounds for name, line, _ in summaries)
        print(history)  # shown with -s or on failure

        # Every text reached the gateway exactly once.
        received = gateway.messages
        to_counts = Counter(m["to"] for m in received)
        duplicates = {to: n for to, n in to_counts.items() if n > 1}
        assert not duplicates, (f"{len(duplicates)} numbers got more than one text, "
                                f"e.g. {list(duplicates.items())[:5]}\n{history}")
        assert set(to_counts) == expected, (
            f"missing {len(expected - set(to_counts))}, unexpected {len(set(to_counts) - expected)}\n{history}")
        assert len(received) == TICK_TEXTS
        assert gateway.requests_seen == TICK_TEXTS  # no failed or repeated requests either
        assert all(m["from"] == SENDER and m["status_callback"] == "http://127.0.0.1:5000/sms/status"
                   for m in received)

        # The outbox agrees: every row sent, holding the SID the gateway gave it.
        states = outbox.states()
        assert states == {MessageState.SENT: TICK_TEXTS}, f"states {states}\n{history}"
        sid_of = {m["to"]: m["sid"] for m in received}
        rows = outbox.rows()
        assert len(rows) == TICK_TEXTS
        wrong = [(r.to_phone, r.provider_sid) for r in rows if r.provider_sid != sid_of[r.to_phone]]
        assert not wrong, f"{len(wrong)} rows do not hold the SID the gateway gave them: {wrong[:5]}"
        assert {r.attempts for r in rows} == {1}

        # The processes say the same: nothing but sends (clean gateway, fresh outbox), N in all...
        assert all(set(counts) <= {"sent"} for summaries in rounds for _, _, counts in summaries), history
        assert sum(counts.get("sent", 0) for summaries in rounds for _, _, counts in summaries) == TICK_TEXTS
        # ...and concurrency really happened: the first round's texts were shared between processes.
        busy = [name for name, _, counts in rounds[0] if counts.get("sent", 0) > 0]
        assert len(busy) >= 2, f"only {busy} sent anything\n{history}"


# --- a gateway that can hold requests open -----------------------------------------------

class GatedTwilio(FakeTwilio):
    """FakeTwilio that holds chosen message creates (1st, 2nd, ... request) open until released.

    With record_held, the gateway takes a held text before answering (the answer is what a
    dying sender loses); without, the request dies before the gateway takes the text.
    """

    def __init__(self, hold, record_held=True):
        super().__init__()
        self.record_held = record_held
        self._held = {n: threading.Event() for n in hold}
        self._release = {n: threading.Event() for n in hold}
        self.held_to = {}
        self._creates = 0
        self._in_flight = 0
        self._count_lock = threading.Lock()

    def wait_held(self, n, timeout, report):
        """Wait until create #n is being held; fail with report() if it never comes."""
        if not self._held[n].wait(timeout):
            pytest.fail(f"send #{n} never reached the gateway within {timeout}s\n{report()}")
        return self.held_to[n]

    def release(self, n=None):
        for key in self._release if n is None else [n]:
            self._release[key].set()

    @property
    def idle(self):
        with self._count_lock:
            return self._in_flight == 0

    def stop(self):
        self.release()
        super().stop()

    def _create(self, form):
        with self._count_lock:
            self._creates += 1
            self._in_flight += 1
            number = self._creates
        try:
            if number not in self._held:
                return super()._create(form)
            self.held_to[number] = form.get("To")
            answer = super()._create(form) if self.record_held else (503, {"code": 20503, "status": 503})
            self._held[number].set()
            self._release[number].wait(30)
            return answer
        finally:
            with self._count_lock:
                self._in_flight -= 1


class GatedRun:
    """One test's processes: a GatedTwilio, pro-app children and a reader of the outbox.

    `with GatedRun(url, workdir, hold=[...]) as run:` starts the gateway; leaving kills every child
    still running, stops the gateway and closes the outbox, failure or not.
    """

    def __init__(self, url, workdir, hold, record_held=True):
        self.url, self.workdir = url, workdir
        self.gateway = GatedTwilio(hold, record_held)
        self.children = []

    def __enter__(self):
        self.gateway.start()
        self.outbox = Outbox(self.url)
        return self

    def __exit__(self, *exc_info):
        for child in self.children:
            child.stop()
        self.gateway.stop()
        self.outbox.close()

    def env(self, **settings):
        return child_env(self.url, self.gateway, **settings)

    def start(self, args, env, name):
        child = Child(args, env, self.workdir, name)
        self.children.append(child)
        return child

    def kill_while_held(self, child):
        """SIGKILL a child whose send the gateway holds, then let the held request finish."""
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
        self.gateway.release()
        wait_until(lambda: self.gateway.idle, 10, lambda: "the held request never finished")


# --- 2. a stuck worker holds back at most one batch ----------------------------------------

def _fresh_statistics(url):
    """Keep PostgreSQL from analysing the scratch outbox: it stays as a new deployment's is."""
    if url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE messages SET (autovacuum_enabled = false)")
        engine.dispose()


@pytest.mark.parametrize("scratch_db", [
    "sqlite",
    *(["postgresql"] if PG_URL else []),
], indirect=True)
def test_a_stuck_worker_holds_back_at_most_one_batch(scratch_db, tmp_path):
    """While one tick process hangs on a send, another sends everything outside its batch."""
    texts, batch = 200, 20
    _fresh_statistics(scratch_db)
    expected = enqueue_due(scratch_db, texts, NOW - timedelta(minutes=5), analyze=False)
    with GatedRun(scratch_db, tmp_path, hold=[1]) as run:
        gateway, outbox = run.gateway, run.outbox
        env = run.env(SMS_BATCH=batch, TWILIO_TIMEOUT=60)  # the held send must not time out
        stuck = run.start(["tick", "--now", NOW.isoformat()], env, "stuck")
        gateway.wait_held(1, 30, stuck.output)
        other = run.start(["tick", "--now", NOW.isoformat()], env, "other")
        assert other.wait(timeout=60) == 0, other.output()
        assert summary_counts(other.stdout().strip()) == {"sent": texts - batch}, (
            f"{other.output()}\noutbox: {outbox.states()}")
        gateway.release()
        assert stuck.wait(timeout=30) == 0, stuck.output()
        assert summary_counts(stuck.stdout().strip()) == {"sent": batch}, stuck.output()
        to_counts = Counter(m["to"] for m in gateway.messages)
        assert set(to_counts) == expected and set(to_counts.values()) == {1}
        assert outbox.states() == {MessageState.SENT: texts}


def test_a_worker_slower_than_the_lease_never_sends_a_text_twice(scratch_db, tmp_path):
    """A tick stuck on one send for longer than the lease must not send texts it no longer holds."""
    texts, batch = 60, 20
    expected = enqueue_due(scratch_db, texts, NOW - timedelta(minutes=5))
    with GatedRun(scratch_db, tmp_path, hold=[1, 2]) as run:
        gateway = run.gateway
        env = run.env(SMS_BATCH=batch, SMS_CLAIM_LEASE_SECONDS=1, TWILIO_TIMEOUT=60)
        slow = run.start(["tick", "--now", NOW.isoformat()], env, "slow")
        gateway.wait_held(1, 30, slow.output)
        # The next tick, a lease later, takes back what the slow one claimed but has not tried.
        later = run.start(["tick", "--now", (NOW + timedelta(seconds=10)).isoformat()], env, "later")
        gateway.wait_held(2, 30, later.output)
        gateway.release(1)
        assert slow.wait(timeout=30) == 0, slow.output()
        gateway.release(2)
        assert later.wait(timeout=30) == 0, later.output()
        last = run.start(["tick", "--now", (NOW + timedelta(seconds=20)).isoformat()], env, "last")
        assert last.wait(timeout=30) == 0, last.output()

        history = "\n".join(f"{c.name}: {c.stdout().strip()}" for c in run.children)
        to_counts = Counter(m["to"] for m in gateway.messages)
        twice = sorted(to for to, n in to_counts.items() if n > 1)
        assert not twice, f"sent twice: {twice}\n{history}"
        states = run.outbox.states()
        assert set(states) <= {MessageState.SENT, MessageState.UNKNOWN}, f"{states}\n{history}"
        assert set(to_counts) == expected, history


# --- 3. a scheduler killed mid-batch and restarted ---------------------------------------

SCHEDULER_TEXTS = 300
SCHEDULER_BATCH = 20
HOLD_AT = 50  # the 10th text of the third batch


@pytest.mark.parametrize("record_held", [True, False], ids=["gateway-took-it", "gateway-never-saw-it"])
def test_killed_scheduler_restarts_and_sends_the_rest_once(scratch_db, tmp_path, record_held):
    due = datetime.now(UTC) - timedelta(hours=1)
    expected = enqueue_due(scratch_db, SCHEDULER_TEXTS, due)
    with GatedRun(scratch_db, tmp_path, hold=[HOLD_AT], record_held=record_held) as run:
        gateway, outbox = run.gateway, run.outbox
        env = run.env(SMS_BATCH=SCHEDULER_BATCH, SMS_CLAIM_LEASE_SECONDS=1, SCHEDULER_INTERVAL_SECONDS=0.5)
        first = run.start(["scheduler"], env, "scheduler1")
        held_to = gateway.wait_held(HOLD_AT, 30, first.output)

        # The scheduler is inside gateway.send() for one text, with the rest of its batch claimed.
        run.kill_while_held(first)

        at_kill = outbox.rows()
        by_state = Counter(r.state for r in at_kill)
        in_flight = [r for r in at_kill if r.state == MessageState.SENDING and r.attempted_at is not None]
        claimed = [r for r in at_kill if r.state == MessageState.SENDING and r.attempted_at is None]
        report = f"at the kill: {dict(by_state)}\n{first.output()}"
        assert by_state[MessageState.SENT] == HOLD_AT - 1, report
        assert [r.to_phone for r in in_flight] == [held_to], report
        assert claimed, "no text was claimed but unsent: the kill did not land mid-batch\n" + report
        assert set(by_state) <= {MessageState.SENT, MessageState.SENDING, MessageState.PENDING}, report
        received_at_kill = len(gateway.messages)
        assert received_at_kill == HOLD_AT - 1 + record_held

        second = run.start(["scheduler"], env, "scheduler2")

        def drained():
            states = outbox.states()
            return states.get(MessageState.PENDING, 0) + states.get(MessageState.SENDING, 0) == 0

        wait_until(drained, 30, lambda: f"outbox {outbox.states()}\n{second.output()}")
        second.proc.send_signal(signal.SIGTERM)
        assert second.wait(timeout=15) == 0, second.output()

        rows = outbox.rows()
        state_of = {r.to_phone: r for r in rows}
        unknown = {r.to_phone for r in rows if r.state == MessageState.UNKNOWN}
        sent = {r.to_phone for r in rows if r.state == MessageState.SENT}
        report = f"states {Counter(r.state for r in rows)}, held {held_to}\n{second.output()}"

        # Nothing twice, not even the text whose outcome is unknown; not even a second try.
        received = gateway.messages
        to_counts = Counter(m["to"] for m in received)
        twice = sorted(to for to, n in to_counts.items() if n > 1)
        assert not twice, f"sent twice: {twice}\n{report}"
        assert gateway.requests_seen == SCHEDULER_TEXTS, report

        # Nothing lost: every text is sent, or recorded as unknown (nothing failed or dropped).
        assert len(rows) == SCHEDULER_TEXTS and set(state_of) == expected
        assert sent | unknown == expected, report
        assert len(received) + len(unknown - set(to_counts)) == SCHEDULER_TEXTS, report
        # Only the text that was in flight is in doubt, and the outbox says why.
        assert unknown == {held_to}, report
        assert state_of[held_to].state_reason == "interrupted while sending"
        if record_held:
            assert set(to_counts) == expected
        else:
            assert set(to_counts) == expected - {held_to}

        # The restarted scheduler sent the rest, and each row holds its own gateway SID.
        assert len(received) - received_at_kill == SCHEDULER_TEXTS - HOLD_AT
        sid_of = {m["to"]: m["sid"] for m in received}
        assert all(state_of[to].provider_sid == sid_of[to] for to in sent)
        assert {r.attempts for r in rows if r.to_phone in sent} <= {1, 2}  # claimed again after the kill
