"""A pooled PostgreSQL connection is checked only after it sat idle, and replaced when dead."""

import os

import pytest
from sqlalchemy import text

from pro_app import db as db_module
from pro_app.db import make_engine

PG_URL = os.environ.get("PRO_TEST_DATABASE_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL: set PRO_TEST_DATABASE_URL")


def _backend_pid(engine):
    with engine.connect() as conn:
        return conn.scalar(text("SELECT pg_backend_pid()"))


def _kill(pid):
    admin = make_engine(PG_URL)
    with admin.connect() as conn:
        assert conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        conn.commit()
    admin.dispose()


def test_a_connection_dropped_while_idle_is_replaced_before_use(monkeypatch):
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 0.0)
    engine = make_engine(PG_URL)
    try:
        first = _backend_pid(engine)
        _kill(first)
        # The pool still holds the dead connection; the ping finds it dead and the pool
        # hands out a new one, so the caller sees no error.
        assert _backend_pid(engine) != first
    finally:
        engine.dispose()


def test_a_connection_in_steady_use_is_not_pinged(monkeypatch):
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 3600.0)
    engine = make_engine(PG_URL)
    try:
        first = _backend_pid(engine)
        _kill(first)
        # Not idle long enough to be pinged: the dead connection is handed out as it is, and
        # the statement fails (then the pool drops it, and the next checkout gets a new one).
        with pytest.raises(Exception, match="terminat|closed|connection"):
            _backend_pid(engine)
        assert _backend_pid(engine) != first
    finally:
        engine.dispose()
