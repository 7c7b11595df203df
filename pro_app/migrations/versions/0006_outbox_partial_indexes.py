"""Partial indexes that keep the sender's queries small however many finished texts the outbox holds.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

PENDING = sa.text("state = 'pending'")
STAFF_ALERTS = sa.text("template = 'staff_alert'")


def upgrade():
    # Only pending rows: the claim and the stale-text sweep never walk the finished millions.
    op.create_index('ix_messages_pending_due', 'messages', ['due_at'], unique=False,
                    postgresql_where=PENDING, sqlite_where=PENDING)
    # Each tick looks for staff alert texts that came back undelivered in the last day.
    op.create_index('ix_messages_staff_alert_updated', 'messages', ['updated_at'], unique=False,
                    postgresql_where=STAFF_ALERTS, sqlite_where=STAFF_ALERTS)


def downgrade():
    op.drop_index('ix_messages_staff_alert_updated', table_name='messages')
    op.drop_index('ix_messages_pending_due', table_name='messages')
