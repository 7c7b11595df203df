"""The PostgreSQL runtime role: what the app's own connections may do, and no more.

Production uses two roles. The owner owns the database and its tables and runs the migrations;
the runtime role, which gunicorn, the scheduler and the commands log in as, may read and write
rows but may not change the schema, switch the append-only triggers off (only a table's owner
can), or update and delete rows of the append-only tables. `pro-app db upgrade`, run as the owner
with PRO_DATABASE_RUNTIME_ROLE set, applies these grants after migrating, so tables a later
migration adds are covered; applying them again changes nothing.
"""

import re

from sqlalchemy import text

#: Rows may be added and read, never changed or removed (the migrations add triggers as well).
APPEND_ONLY = ("audit_events", "responses")
#: Written by the migrations alone.
READ_ONLY = ("alembic_version",)
ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class RoleError(ValueError):
    """A runtime role that cannot be granted to."""


def grant_runtime_role(connection, role):
    """Give the runtime role exactly the privileges the app needs on this database."""
    if connection.dialect.name != "postgresql":
        raise RoleError("database roles exist on PostgreSQL only")
    if not ROLE_NAME.match(role or ""):
        raise RoleError(f"{role!r} is not a plain lower-case role name")
    exists = connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar()
    if not exists:
        raise RoleError(f"role {role!r} does not exist: create it first (see the README, Deploying)")
    if role == connection.execute(text("SELECT current_user")).scalar():
        raise RoleError(f"{role!r} is the role running the migration: the runtime role must be another one")
    quoted = connection.dialect.identifier_preparer.quote(role)
    database = connection.dialect.identifier_preparer.quote(connection.execute(text("SELECT current_database()"))
                                                             .scalar())
    tables = connection.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars().all()
    statements = [
        f"GRANT CONNECT ON DATABASE {database} TO {quoted}",
        f"GRANT USAGE ON SCHEMA public TO {quoted}",
        # Start from nothing, so that re-applying also takes back what an earlier grant gave.
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {quoted}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}",
    ]
    for table in tables:
        if table in APPEND_ONLY:
            statements.append(f"REVOKE UPDATE, DELETE ON {table} FROM {quoted}")
        elif table in READ_ONLY:
            statements.append(f"REVOKE INSERT, UPDATE, DELETE ON {table} FROM {quoted}")
    for statement in statements:
        connection.exec_driver_sql(statement)
