"""The database: migrations match the models, the audit log is append-only, health."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from pro_app import create_app
from pro_app.db import Base, db, make_engine, upgrade


def test_migrations_match_the_models(app):
    with app.app_context():
        connection = db.session.connection()
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == []


def test_audit_log_refuses_update_and_delete(app, make_staff):
    make_staff("nurse")  # writes a staff.created audit event
    with app.app_context():
        statements = ["UPDATE audit_events SET reason = 'edited'", "DELETE FROM audit_events"]
        if db.engine.dialect.name == "postgresql":
            statements.append("TRUNCATE audit_events")
        for statement in statements:
            with pytest.raises(DatabaseError, match="append-only"):
                with db.session.begin_nested():
                    db.session.execute(text(statement))
        assert db.session.scalar(text("SELECT count(*) FROM audit_events WHERE reason IS NULL")) == 1


def test_sqlite_file_database_uses_wal_and_immediate_transactions(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'pro.db'}")
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 15000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    statements = []
    from sqlalchemy import event

    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with engine.begin() as conn:
        conn.exec_driver_sql("SELECT 1")
    assert statements[0] == "BEGIN IMMEDIATE"
    engine.dispose()


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "db": "ok"}


def test_healthz_reports_an_unreachable_database(tmp_path):
    app = create_app({"DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none", "SECRET_KEY": "x"},
                     instance_path=str(tmp_path))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["db"] == "unreachable"


def test_secret_key_is_created_once_per_instance(tmp_path):
    first = create_app({"DATABASE_URL": "sqlite://"}, instance_path=str(tmp_path))
    second = create_app({"DATABASE_URL": "sqlite://"}, instance_path=str(tmp_path))
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"] and len(first.config["SECRET_KEY"]) == 64
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_configuration_comes_from_prefixed_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PRO_TIMEZONE", "Europe/London")
    monkeypatch.setenv("PRO_SMS_RATE", "5")
    (tmp_path / "config.py").write_text("PUBLIC_URL = 'https://pro.example.org'\nSMS_BACKEND = 'twilio'\n")
    app = create_app({"DATABASE_URL": "sqlite://"}, instance_path=str(tmp_path))
    assert app.config["TIMEZONE"] == "Europe/London" and app.config["SMS_RATE"] == 5
    assert app.config["PUBLIC_URL"] == "https://pro.example.org"


def test_get_requests_read_without_the_sqlite_write_lock(tmp_path):
    from sqlalchemy import event

    url = f"sqlite:///{tmp_path / 'pro.db'}"
    upgrade(make_engine(url))
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "x", "WTF_CSRF_ENABLED": False},
                     instance_path=str(tmp_path))
    begins = []
    event.listen(app.extensions["pro_db"]["engine"], "before_cursor_execute",
                 lambda *a: begins.append(a[2]) if a[2].startswith("BEGIN") else None)
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    assert begins == ["BEGIN"]
    client.post("/staff/login", data={"email": "nobody@example.org", "password": "wrong password"})
    assert begins[-1] == "BEGIN IMMEDIATE"
    assert client.get("/staff/login").status_code == 200
