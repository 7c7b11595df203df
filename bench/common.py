"""Shared pieces of the benchmarks: scratch databases and timing summaries."""

import os
import statistics
import uuid
from contextlib import contextmanager

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from pro_app.db import make_engine, upgrade


@contextmanager
def scratch_database(kind, tmp):
    """Yield the URL of a new, migrated database; a PostgreSQL one is dropped afterwards."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp}/{uuid.uuid4().hex[:8]}.db"
        _migrate(url)
        yield url
        return
    base = os.environ["PRO_BENCH_DATABASE_URL"]
    name = f"pro_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(base).set(database=name).render_as_string(hide_password=False)
        _migrate(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _migrate(url):
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()


def databases():
    return ["sqlite"] + (["postgresql"] if os.environ.get("PRO_BENCH_DATABASE_URL") else [])


def summary(name, timings, target=None):
    timings = sorted(timings[10:])  # the first samples warm caches and the connection
    median = statistics.median(timings)
    p95 = timings[int(len(timings) * 0.95) - 1]
    verdict = f"  target < {target:.0f} ms: {'met' if median < target else 'MISSED'} " \
              f"(median is {median / target:.2f}x the target)" if target else ""
    return f"{name:<52} median {median:7.2f} ms   p95 {p95:7.2f} ms   n={len(timings)}{verdict}"
