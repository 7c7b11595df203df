"""A contact's evening reminder time, and the token of the preferences link in the welcome text.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

import pro_app.db

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        # NULL: the protocol's own evening time.
        batch_op.add_column(sa.Column('evening_time', sa.Time(), nullable=True))
        batch_op.add_column(sa.Column('preferences_token_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('preferences_token_at', pro_app.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_contacts_preferences_token_hash'),
                                          ['preferences_token_hash'])


def downgrade():
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_contacts_preferences_token_hash'), type_='unique')
        batch_op.drop_column('preferences_token_at')
        batch_op.drop_column('preferences_token_hash')
        batch_op.drop_column('evening_time')
