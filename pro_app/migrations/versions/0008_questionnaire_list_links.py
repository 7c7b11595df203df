"""Links of a text naming several questionnaires share the hash of its one link.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('questionnaire_links', schema=None) as batch_op:
        batch_op.add_column(sa.Column('list_hash', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_questionnaire_links_list_hash'), ['list_hash'], unique=False)


def downgrade():
    with op.batch_alter_table('questionnaire_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_questionnaire_links_list_hash'))
        batch_op.drop_column('list_hash')
