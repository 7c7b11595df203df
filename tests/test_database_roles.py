"""The two PostgreSQL roles: an owner migrates, a runtime role runs the app with no more than it needs.

Each test makes throwaway roles and a database owned by the owner role (unique names), migrates
with `pro-app db upgrade` as the owner with PRO_DATABASE_RUNTIME_ROLE set, and drops all of it
afterwards. The runtime role may add and read audit events but not change them, cannot switch the
append-only triggers off, cannot change the schema, and can do the app's ordinary work: enrol,
send, log a nurse in, take a questionnaire to a stored response.
"""

import re
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from conftest import PG_URL
from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url

from pro_app import create_app
from pro_app.db import db
from pro_app.questionnaires import current_instruments
from pro_app.questionnaires import operations as ops
from pro_app.questionnaires.models import Assignment, Response

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL: set PRO_TEST_DATABASE_URL"),
]
PASSWORD = "a long enough staff password"


def url_as(role, database):
    return make_url(PG_URL).set(username=role, password=None, database=database).render_as_string(
        hide_password=False)


def libpq(url):
    """A psycopg connection string for a SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def roles():
    """(owner URL, runtime URL, runtime role name) on a new database that the owner owns."""
    tag = uuid.uuid4().hex[:10]
    owner, runtime, database = f"pro_owner_{tag}", f"pro_app_{tag}", f"pro_roles_{tag}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {owner} LOGIN")
        conn.exec_driver_sql(f"CREATE ROLE {runtime} LOGIN")
        conn.exec_driver_sql(f"CREATE DATABASE {database} OWNER {owner}")
        # PostgreSQL 15 already keeps PUBLIC from creating tables in public; older ones do not.
        with create_engine(url_as(make_url(PG_URL).username, database), isolation_level="AUTOCOMMIT").connect() as c:
            c.exec_driver_sql("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    try:
        yield url_as(owner, database), url_as(runtime, database), runtime
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
            conn.exec_driver_sql(f"DROP ROLE IF EXISTS {runtime}")
            conn.exec_driver_sql(f"DROP ROLE IF EXISTS {owner}")
        admin.dispose()


def migrate(owner_url, runtime_role, tmp_path):
    app = create_app({"DATABASE_URL": owner_url, "DATABASE_RUNTIME_ROLE": runtime_role, "SECRET_KEY": "x"},
                     instance_path=str(tmp_path))
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    app.extensions["pro_db"]["engine"].dispose()
    return result


def refused(url, sql, message):
    """Run sql as the role in url and assert PostgreSQL refuses it with the given message."""
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
            conn.execute(sql)
    assert re.search(message, str(caught.value)), str(caught.value)


def test_runtime_role_adds_audit_rows_but_cannot_change_them_or_the_schema(roles, tmp_path):
    owner_url, runtime_url, runtime = roles
    result = migrate(owner_url, runtime, tmp_path)
    assert result.exit_code == 0, result.output
    assert f"runtime role {runtime} granted" in result.output
    again = migrate(owner_url, runtime, tmp_path)  # re-applying the grants is harmless
    assert again.exit_code == 0, again.output

    with psycopg.connect(libpq(runtime_url), autocommit=True) as conn:
        conn.execute("INSERT INTO audit_events (at, actor, action, entity) "
                     "VALUES (now(), 'test', 'test.inserted', 'test')")
        assert conn.execute("SELECT count(*) FROM audit_events WHERE action = 'test.inserted'").fetchone() == (1,)

    refused(runtime_url, "UPDATE audit_events SET actor = 'someone else'", "permission denied for table audit_events")
    refused(runtime_url, "DELETE FROM audit_events", "permission denied for table audit_events")
    refused(runtime_url, "UPDATE responses SET answers = '{}'", "permission denied for table responses")
    refused(runtime_url, "TRUNCATE audit_events", "permission denied for table audit_events")
    refused(runtime_url, "ALTER TABLE audit_events DISABLE TRIGGER ALL", "must be owner of table audit_events")
    refused(runtime_url, "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete",
            "must be owner of table audit_events")
    refused(runtime_url, "DROP TABLE participants CASCADE", "must be owner of table participants")
    refused(runtime_url, "CREATE TABLE sneaky (id int)", "permission denied for schema public")
    refused(runtime_url, "UPDATE alembic_version SET version_num = '0001'",
            "permission denied for table alembic_version")

    # The row is still there, unchanged: nothing above got through.
    with psycopg.connect(libpq(owner_url), autocommit=True) as conn:
        assert conn.execute("SELECT actor FROM audit_events WHERE action = 'test.inserted'").fetchall() == [("test",)]


def test_migrating_refuses_a_missing_runtime_role(roles, tmp_path):
    owner_url, _runtime_url, _runtime = roles
    result = migrate(owner_url, "no_such_role_here", tmp_path)
    assert result.exit_code != 0
    assert "role 'no_such_role_here' does not exist" in result.output
    with psycopg.connect(libpq(owner_url), autocommit=True) as conn:
        # One transaction: the refused grant took the migration back with it.
        assert conn.execute("SELECT to_regclass('public.participants')").fetchone() == (None,)


def answers_for(section):
    """Mid-scale answers that a section accepts, with every follow-up question shown."""
    out = {}
    for item in section.items:
        if item.type in ("single", "multiple"):
            out[item.id] = str(min(v for v, _label in item.choices))
        elif item.type == "yesno":
            out[item.id] = "no"
        elif item.type == "rating":
            out[item.id] = str(int(item.min))
        elif item.type == "number":
            out[item.id] = f"{item.min:.{item.decimals}f}"
            if item.unit == "temperature":
                out[f"{item.id}__unit"] = "C"
        elif item.type == "date":
            out[item.id] = "2026-01-15"
        else:
            out[item.id] = "ok"
    return out


def test_runtime_role_does_the_apps_normal_work(roles, tmp_path):
    owner_url, runtime_url, runtime = roles
    assert migrate(owner_url, runtime, tmp_path).exit_code == 0
    app = create_app({"DATABASE_URL": runtime_url, "SECRET_KEY": "x", "WTF_CSRF_ENABLED": False,
                      "RATELIMIT_ENABLED": False, "PUBLIC_URL": "http://localhost"}, instance_path=str(tmp_path))
    try:
        cli = app.test_cli_runner()
        now = datetime.now(UTC)
        start = (now + timedelta(days=3)).date()  # baseline questionnaires are open now
        created = cli.invoke(args=["staff", "create", "nurse@example.org", "--role", "nurse", "--lang", "en",
                                   "--phone", "+8613900000001", "--on-call"], input=f"{PASSWORD}\n{PASSWORD}\n")
        assert created.exit_code == 0, created.output
        added = cli.invoke(args=["participant", "add", "R-001", "--start", start.isoformat(), "--tz", "Asia/Shanghai",
                                 "--lang", "en", "--phone", "+8613800138001"])
        assert added.exit_code == 0, added.output
        ticked = cli.invoke(args=["tick", "--now", now.isoformat()])
        assert ticked.exit_code == 0, ticked.output

        assert app.test_client().get("/healthz").status_code == 200
        nurse = app.test_client()
        response = nurse.post("/staff/login", data={"email": "nurse@example.org", "password": PASSWORD})
        assert response.status_code == 303, response.get_data(as_text=True)
        assert nurse.get("/staff/participants/").status_code == 200

        with app.app_context():
            assignment = db.session.scalar(select(Assignment).where(Assignment.instrument_id == "quality-of-life"))
            assert assignment.is_open_at(now)
            token = ops.new_link(db.session, assignment.id, now)
            db.session.commit()
            instrument = current_instruments()["quality-of-life"]
        phone = app.test_client()
        assert phone.get(f"/q/{token}").status_code == 200
        assert phone.post(f"/q/{token}").status_code == 303
        for index, section in enumerate(instrument.sections):
            saved = phone.post("/q/answer", data={"s": str(index), **answers_for(section)})
            assert saved.status_code == 303, saved.get_data(as_text=True)[:500]
        review = phone.get("/q/review").get_data(as_text=True)
        key = re.search(r'name="submit_key" value="([^"]+)"', review).group(1)
        assert phone.post("/q/submit", data={"submit_key": key}).status_code == 303
        with app.app_context():
            stored = db.session.scalars(select(Response).where(Response.assignment_id == assignment.id)).all()
            assert len(stored) == 1
    finally:
        app.extensions["pro_db"]["engine"].dispose()
