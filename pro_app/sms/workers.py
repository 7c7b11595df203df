"""Which dispatch workers are alive, so a dead one's claims are free at once, not after the lease.

A worker's claims carry its id as the first 16 characters of `claimed_by`. On PostgreSQL the id
is "L" and the key of a session-level advisory lock the process holds on a connection of its own
for its lifetime: the server frees it the moment the process dies, wherever it ran. On SQLite
(one machine) the id is "P", the pid and that process's start time, so a reused pid is not
mistaken for the dead worker. Other claims (texts sent from a web request) wait out the lease.
"""

import os
import secrets
import threading

from sqlalchemy import text

WIDTH = 16
_lock = threading.Lock()
_held = {}  # (pid, engine url) -> (worker id, connection holding the lock)

LIVE_KEYS = text(
    "SELECT (classid::bigint << 32) | objid::bigint FROM pg_locks "
    "WHERE locktype = 'advisory' AND objsubid = 1 AND granted "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def _start_time(pid):
    """Return a process's start time in clock ticks since boot, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields are counted after the last ")".
    return int(stat.rpartition(b")")[2].split()[19])


def _engine(session):
    bind = session.get_bind()
    return getattr(bind, "engine", bind)


def worker_id(session):
    """Return this process's worker id, taking its liveness mark on first use."""
    engine = _engine(session)
    if engine.dialect.name != "postgresql":
        start = _start_time(os.getpid())
        if start is None:
            return None  # no /proc: claims wait out the lease
        return f"P{os.getpid():07x}{start % 16 ** 8:08x}"
    entry = (os.getpid(), str(engine.url))
    with _lock:
        if entry not in _held:
            key = secrets.randbits(60)
            conn = engine.connect()  # never returned to the pool: it holds the mark until exit
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            conn.commit()
            _held[entry] = (f"L{key:015x}", conn)
        return _held[entry][0]


def dead_workers(session, workers):
    """Return which of these worker ids belong to processes that are gone."""
    dead = set()
    locked = [w for w in workers if w.startswith("L")]
    if locked and _engine(session).dialect.name == "postgresql":
        live = {f"L{key:015x}" for key in session.scalars(LIVE_KEYS)}
        dead.update(w for w in locked if w not in live)
    for w in workers:
        if w.startswith("P") and len(w) == WIDTH:
            pid, start = int(w[1:8], 16), int(w[8:], 16)
            now_start = _start_time(pid)
            if now_start is None or now_start % 16 ** 8 != start:
                dead.add(w)
    return dead


def run_owner(worker):
    """Return a claim owner for one dispatch run of this worker (32 characters)."""
    return (worker or "") + secrets.token_hex(16)[: 32 - len(worker or "")]
