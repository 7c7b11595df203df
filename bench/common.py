"""Shared pieces of the benchmarks: scratch databases and timing summaries."""

import logging
import os
import statistics
import sys
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from scratch import scratch_database as _scratch_database  # noqa: E402


def scratch_database(kind, tmp):
    """A new, migrated database; on PostgreSQL created on PRO_BENCH_DATABASE_URL's server, then dropped."""
    return _scratch_database(kind, tmp, os.environ.get("PRO_BENCH_DATABASE_URL"), prefix="pro_bench")


def analyze(session):
    """Commit a bulk load and ANALYZE the database, as autovacuum soon would (PostgreSQL: outside a transaction)."""
    session.commit()
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.connection.driver_connection.autocommit = True
        connection.exec_driver_sql("ANALYZE")
        connection.connection.driver_connection.autocommit = False
    else:
        connection.exec_driver_sql("ANALYZE")
        session.commit()


def databases():
    return ["sqlite"] + (["postgresql"] if os.environ.get("PRO_BENCH_DATABASE_URL") else [])


def summary(name, timings, target=None):
    timings = sorted(timings[10:])  # the first samples warm caches and the connection
    median = statistics.median(timings)
    p95 = timings[int(len(timings) * 0.95) - 1]
    verdict = f"  target < {target:.0f} ms: {'met' if median < target else 'MISSED'} " \
              f"(median is {median / target:.2f}x the target)" if target else ""
    return f"{name:<52} median {median:7.2f} ms   p95 {p95:7.2f} ms   n={len(timings)}{verdict}"


@contextmanager
def logs_to_devnull():
    """Log as the app does (INFO) but to /dev/null, as a service's log file would take it."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    with open(os.devnull, "w") as devnull:
        logging.basicConfig(level=logging.INFO, stream=devnull, force=True)
        try:
            yield
        finally:
            for handler in root.handlers[:]:
                root.removeHandler(handler)
            for handler in saved[0]:
                root.addHandler(handler)
            root.setLevel(saved[1])

