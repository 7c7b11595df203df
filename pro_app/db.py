"""Database engine, session and model base (SQLAlchemy 2.0 style)."""

import contextvars
import time
from datetime import UTC, datetime
from enum import StrEnum  # noqa: F401  (re-exported for the models)
from pathlib import Path

import click
from flask import current_app, g, request
from flask.cli import AppGroup
from flask.globals import app_ctx
from sqlalchemy import JSON, DateTime, Enum, MetaData, create_engine, event, exc, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import DeclarativeBase, scoped_session, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

#: Whether transactions in this context may write. Ticks and commands always may; a GET request
#: only reads, and on SQLite a read need not take the write lock.
may_write = contextvars.ContextVar("pro_may_write", default=True)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """An instant stored in UTC; aware datetimes in, aware UTC datetimes out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        value = value.astimezone(UTC)
        # SQLite has no zone type: keep the naive UTC wall time there.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


def value_enum(enum_cls, length=20):
    """Store a Python enum by its value, as plain text."""
    return Enum(
        enum_cls,
        values_callable=lambda members: [m.value for m in members],
        native_enum=False,
        create_constraint=False,
        length=length,
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime()}


def make_engine(url, *, connect_timeout=None, statement_timeout_ms=None, pool_timeout=None):
    """Create an engine; SQLite gets WAL, a busy timeout and BEGIN IMMEDIATE.

    PostgreSQL gets a connect timeout and a statement timeout when given, so a database that is
    down or hangs turns into a quick error (and a 503 page) instead of a stuck worker.
    """
    if not url.startswith("sqlite"):
        connect_args = {}
        if url.startswith("postgresql"):
            if connect_timeout:
                connect_args["connect_timeout"] = max(2, int(connect_timeout))  # libpq's minimum is 2 s
            if statement_timeout_ms:
                connect_args["options"] = f"-c statement_timeout={int(statement_timeout_ms)}"
        extra = {"pool_timeout": pool_timeout} if pool_timeout else {}
        engine = create_engine(url, connect_args=connect_args, **extra)
        _ping_after_idle(engine)
        return engine
    memory = url in ("sqlite://", "sqlite:///:memory:")
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 15},
        poolclass=StaticPool if memory else None,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # Take the write lock up front: a deferred transaction that later writes cannot wait
        # on the busy timeout and fails instead, so every unit of work that may write is
        # IMMEDIATE. Reads (GET requests) begin deferred and never block each other.
        connection.exec_driver_sql("BEGIN IMMEDIATE" if may_write.get() else "BEGIN")

    return engine


#: A pooled connection idle this long is pinged before use; one in steady use is not.
PING_AFTER_IDLE_S = 10.0


def _ping_after_idle(engine):
    """Ping a pooled connection on checkout only when it has sat idle, and replace it if dead."""
    # pool_pre_ping costs a round trip on every checkout, i.e. on every page. A connection handed
    # back moments ago is alive; one idle for a while may have been dropped by a restart or a
    # firewall, and DisconnectionError makes the pool retry with a fresh one.

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection, record):
        record.info["pro_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection, record, _proxy):
        idle_since = record.info.pop("pro_idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
            dbapi_connection.rollback()
        except Exception as error:  # any driver error means this connection is unusable
            raise exc.DisconnectionError() from error


def insert_new(session, model, index_elements=None):
    """Return an INSERT of model's table that skips rows already there (ON CONFLICT DO NOTHING).

    It inserts into the table, not through the ORM's bulk path: that one splits the rows into
    one statement per run of rows with the same None columns.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    return insert(model.__table__).on_conflict_do_nothing(index_elements=index_elements)


def _mark_reads():
    g.may_write_token = may_write.set(request.method not in ("GET", "HEAD", "OPTIONS"))


def _unmark_reads(_exc=None):
    # Server threads are reused, and a test client runs requests in the caller's context.
    token = g.pop("may_write_token", None)
    if token is not None:
        may_write.reset(token)


def _scope():
    return id(app_ctx._get_current_object())


class Database:
    """The app's engine and a session scoped to the current app context."""

    def __init__(self):
        self.session = scoped_session(self._new_session, scopefunc=_scope)

    def init_app(self, app):
        config = app.config
        engine = make_engine(config["DATABASE_URL"], connect_timeout=config["DATABASE_CONNECT_TIMEOUT"],
                             statement_timeout_ms=config["DATABASE_STATEMENT_TIMEOUT_MS"],
                             pool_timeout=config["DATABASE_POOL_TIMEOUT"])
        app.extensions["pro_db"] = {
            "engine": engine,
            "sessionmaker": sessionmaker(bind=engine, expire_on_commit=False),
        }
        app.teardown_appcontext(self._remove)
        app.before_request(_mark_reads)
        app.teardown_request(_unmark_reads)
        app.cli.add_command(db_cli)

    @staticmethod
    def _new_session():
        return current_app.extensions["pro_db"]["sessionmaker"]()

    def _remove(self, _exc=None):
        self.session.remove()

    @property
    def engine(self):
        return current_app.extensions["pro_db"]["engine"]

    def bind_for_tests(self, app, connection):
        """Run every session of this app inside an outer test transaction."""
        app.extensions["pro_db"]["sessionmaker"].configure(
            bind=connection, join_transaction_mode="create_savepoint"
        )

    def ping(self):
        """Tell whether the database answers."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))


db = Database()


def alembic_config(connection):
    """Return an alembic Config that migrates over an open connection."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine, revision="head", runtime_role=None):
    """Migrate a database to the given revision, then grant the runtime role its privileges."""
    from alembic import command

    from pro_app.dbroles import grant_runtime_role

    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Building an index on a large table may take longer than any web request may.
            connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
        command.upgrade(alembic_config(connection), revision)
        if runtime_role:
            grant_runtime_role(connection, runtime_role)


@click.group("db", cls=AppGroup)
def db_cli():
    """Manage the database schema."""


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def upgrade_command(revision):
    """Migrate the database to the latest schema."""
    from pro_app.dbroles import RoleError

    role = current_app.config.get("DATABASE_RUNTIME_ROLE")
    try:
        upgrade(db.engine, revision, runtime_role=role)
    except RoleError as exc:
        raise click.ClickException(f"{exc}; nothing was migrated") from None
    click.echo(f"database at {revision}" + (f"; runtime role {role} granted" if role else ""))


@db_cli.command("grant")
@click.argument("role")
def grant_command(role):
    """Grant a runtime role what the app needs on this PostgreSQL database (run as the owner)."""
    from pro_app.dbroles import RoleError, grant_runtime_role

    try:
        with db.engine.begin() as connection:
            grant_runtime_role(connection, role)
    except RoleError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"runtime role {role} granted")


@db_cli.command("current")
def current_command():
    """Print the database's schema revision."""
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as connection:
        click.echo(MigrationContext.configure(connection).get_current_revision() or "empty")
