"""Scratch databases for tests and benchmarks that need real processes and real commits."""

import uuid
from contextlib import contextmanager

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from pro_app.db import make_engine, upgrade


@contextmanager
def scratch_database(kind, folder, server_url=None, prefix="pro_scratch"):
    """Yield the URL of a new, migrated, empty database; a PostgreSQL one is dropped afterwards.

    `kind` is "sqlite" (a file in `folder`) or "postgresql" (a database created on the server
    `server_url` names; that database itself is never written to).
    """
    if kind == "sqlite":
        url = f"sqlite:///{folder}/{prefix}_{uuid.uuid4().hex[:8]}.db"
        _migrate(url)
        yield url
        return
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
        _migrate(url)
        yield url
    finally:
        with admin.connect() as conn:
            # FORCE: a killed child process's backend may not have noticed the hang-up yet.
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _migrate(url):
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
