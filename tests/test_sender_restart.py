"""A stopped or killed sender gives its claimed texts back at once (real processes, both databases).

SIGTERM: the scheduler (or a `pro-app tick`) finishes the text in hand, returns every claimed,
untried text to the queue and exits. kill -9: the dead worker's advisory lock (PostgreSQL) or its
process (SQLite) is gone, so a new scheduler takes its claims back on its first tick, not after
the two-minute lease. The claim lease is left at its default here to show that.
"""

import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from test_tick_processes import GatedRun, enqueue_due, summary_counts, wait_until

from pro_app.sms.models import MessageState

TEXTS, BATCH, HOLD_AT = 200, 50, 10
RESUME_SECONDS = 5


def _untried_claims(outbox):
    return [r for r in outbox.rows() if r.state == MessageState.SENDING and r.attempted_at is None]


def _resumes_within(second, outbox, phones, seconds):
    """Wait for the new scheduler to tick; the texts to `phones` must then go within `seconds`.

    The rest of the outbox only has to drain eventually: under load a whole backlog takes longer.
    """
    wait_until(lambda: "scheduler:" in second.stdout(), 30, second.output)

    def sent(which):
        return lambda: {r.to_phone for r in outbox.rows() if r.state == MessageState.SENT} >= which

    wait_until(sent(phones), seconds, lambda: f"outbox {outbox.states()}\n{second.output()}")
    wait_until(sent({r.to_phone for r in outbox.rows() if r.state != MessageState.UNKNOWN}), 60,
               lambda: f"outbox {outbox.states()}\n{second.output()}")


def _none_twice(gateway, outbox):
    to_counts = Counter(m["to"] for m in gateway.messages)
    assert not [to for to, n in to_counts.items() if n > 1], "sent twice"
    assert gateway.requests_seen == TEXTS  # not even a second try
    states = outbox.states()
    assert set(states) <= {MessageState.SENT, MessageState.UNKNOWN}, states
    return to_counts


def test_sigterm_hands_claims_back_before_exit_and_a_new_scheduler_sends_them(scratch_db, tmp_path):
    expected = enqueue_due(scratch_db, TEXTS, datetime.now(UTC) - timedelta(hours=1))
    with GatedRun(scratch_db, tmp_path, hold=[HOLD_AT]) as run:
        gateway, outbox = run.gateway, run.outbox
        env = run.env(SMS_BATCH=BATCH, SCHEDULER_INTERVAL_SECONDS=0.5)
        first = run.start(["scheduler"], env, "scheduler1")
        gateway.wait_held(HOLD_AT, 30, first.output)
        claimed = {r.to_phone for r in _untried_claims(outbox)}
        assert len(claimed) == BATCH - HOLD_AT
        first.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)  # the signal lands while the text in hand is still at the gateway
        gateway.release()
        assert first.wait(timeout=30) == 0, first.output()
        # Before it exited, the text in hand was recorded and the rest of its batch went back.
        states = outbox.states()
        assert _untried_claims(outbox) == [], states
        assert states == {MessageState.SENT: HOLD_AT, MessageState.PENDING: TEXTS - HOLD_AT}, first.output()
        assert {r.attempts for r in outbox.rows() if r.state == MessageState.PENDING} == {0}

        second = run.start(["scheduler"], env, "scheduler2")
        _resumes_within(second, outbox, claimed, RESUME_SECONDS)
        second.proc.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0, second.output()
        assert set(_none_twice(gateway, outbox)) == expected
        assert outbox.states() == {MessageState.SENT: TEXTS}


def test_after_kill_9_a_new_scheduler_takes_the_dead_worker_s_claims_at_once(scratch_db, tmp_path):
    expected = enqueue_due(scratch_db, TEXTS, datetime.now(UTC) - timedelta(hours=1))
    with GatedRun(scratch_db, tmp_path, hold=[HOLD_AT]) as run:
        gateway, outbox = run.gateway, run.outbox
        env = run.env(SMS_BATCH=BATCH, SCHEDULER_INTERVAL_SECONDS=0.5)
        first = run.start(["scheduler"], env, "scheduler1")
        held_to = gateway.wait_held(HOLD_AT, 30, first.output)
        run.kill_while_held(first)
        claimed = {r.to_phone for r in _untried_claims(outbox)}
        assert len(claimed) == BATCH - HOLD_AT

        second = run.start(["scheduler"], env, "scheduler2")
        _resumes_within(second, outbox, claimed, RESUME_SECONDS)
        second.proc.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0, second.output()
        to_counts = _none_twice(gateway, outbox)
        rows = {r.to_phone: r for r in outbox.rows()}
        # The text in flight at the kill stays in doubt, as before; everything else went once.
        assert {to for to, r in rows.items() if r.state == MessageState.UNKNOWN} == {held_to}
        assert rows[held_to].state_reason == "interrupted while sending"
        assert set(to_counts) == expected


def test_sigterm_to_a_tick_hands_its_claims_back(scratch_db, tmp_path):
    expected = enqueue_due(scratch_db, TEXTS, datetime.now(UTC) - timedelta(hours=1))
    with GatedRun(scratch_db, tmp_path, hold=[HOLD_AT]) as run:
        gateway = run.gateway
        tick = run.start(["tick"], run.env(SMS_BATCH=BATCH), "tick")
        gateway.wait_held(HOLD_AT, 30, tick.output)
        tick.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        gateway.release()
        assert tick.wait(timeout=30) == 0, tick.output()
        assert summary_counts(tick.stdout().strip()) == {"sent": HOLD_AT, "handed back on stop": BATCH - HOLD_AT}
        assert run.outbox.states() == {MessageState.SENT: HOLD_AT, MessageState.PENDING: TEXTS - HOLD_AT}
        assert {m["to"] for m in gateway.messages} < expected


def test_a_pid_worker_is_dead_once_its_process_is_gone_or_its_pid_reused():
    import subprocess

    from pro_app.sms.workers import _start_time, dead_workers

    proc = subprocess.Popen(["sleep", "30"])
    try:
        alive = f"P{proc.pid:07x}{_start_time(proc.pid) % 16 ** 8:08x}"
        reused = f"P{proc.pid:07x}{(_start_time(proc.pid) + 1) % 16 ** 8:08x}"  # same pid, another start
        assert dead_workers(None, {alive, reused}) == {reused}
    finally:
        proc.kill()
        proc.wait()
    assert dead_workers(None, {alive}) == {alive}
