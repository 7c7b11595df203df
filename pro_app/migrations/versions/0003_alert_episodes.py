"""Alert episodes: one alert per participant and response, each fired rule (with its label) in its occurrences.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import pro_app.db

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    # Never rebuild `alerts` on SQLite: dropping the old table would cascade-delete its occurrences.
    with op.batch_alter_table('alerts', schema=None, recreate='never') as batch_op:
        # An episode holds many rules, and a participant may have more than one episode open.
        batch_op.drop_index('uq_alerts_active_rule', postgresql_where=sa.text("state <> 'resolved'"),
                            sqlite_where=sa.text("state <> 'resolved'"))
        batch_op.add_column(sa.Column('nurse_texted_at', pro_app.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_alerts_participant_state_opened', ['participant_id', 'state', 'opened_at'],
                              unique=False)

    with op.batch_alter_table('alert_occurrences', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rule', sa.String(length=80), nullable=False, server_default=''))
        batch_op.add_column(sa.Column(
            'label', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))
        batch_op.add_column(sa.Column('assignment_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_alert_occurrences_assignment_id_assignments'), 'assignments',
                                    ['assignment_id'], ['id'], ondelete='SET NULL')
        batch_op.create_index(batch_op.f('ix_alert_occurrences_assignment_id'), ['assignment_id'], unique=False)
    # Occurrences written before episodes were all of their alert's one rule.
    op.execute("UPDATE alert_occurrences SET rule = (SELECT alerts.rule FROM alerts "
               "WHERE alerts.id = alert_occurrences.alert_id)")
    with op.batch_alter_table('alert_occurrences', schema=None) as batch_op:
        batch_op.alter_column('rule', server_default=None)


def downgrade():
    with op.batch_alter_table('alert_occurrences', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_occurrences_assignment_id'))
        batch_op.drop_constraint(batch_op.f('fk_alert_occurrences_assignment_id_assignments'), type_='foreignkey')
        batch_op.drop_column('assignment_id')
        batch_op.drop_column('label')
        batch_op.drop_column('rule')

    with op.batch_alter_table('alerts', schema=None, recreate='never') as batch_op:
        batch_op.drop_index('ix_alerts_participant_state_opened')
        batch_op.drop_column('nurse_texted_at')
        # Episodes may hold several active alerts of one rule; the old index only fits if they do not.
        batch_op.create_index('uq_alerts_active_rule', ['participant_id', 'rule'], unique=True,
                              postgresql_where=sa.text("state <> 'resolved'"),
                              sqlite_where=sa.text("state <> 'resolved'"))
