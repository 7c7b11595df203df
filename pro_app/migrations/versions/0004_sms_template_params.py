"""Texts carry their template parameters; routes per provider.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import pro_app.db

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        # What a provider with approved templates fills in (Alibaba); Twilio sends the body.
        batch_op.add_column(sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'),
                                      nullable=True))
        batch_op.add_column(sa.Column('route', sa.String(length=20), nullable=True))

    op.create_table(
        'sms_routes',
        sa.Column('name', sa.String(length=20), nullable=False),
        sa.Column('stopped_at', pro_app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('stop_code', sa.String(length=60), nullable=True),
        sa.Column('stop_reason', sa.String(length=200), nullable=True),
        sa.Column('updated_at', pro_app.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_sms_routes')),
    )


def downgrade():
    op.drop_table('sms_routes')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('route')
        batch_op.drop_column('params')
