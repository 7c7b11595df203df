"""Two-factor sign-in, account locks, the on-call rota, consent records and dates of birth.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

import pro_app.db

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_secret', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('totp_enrolled_at', pro_app.db.UTCDateTime(timezone=True), nullable=True))
        # The last time step a code was taken for: the same code never signs in twice.
        batch_op.add_column(sa.Column('totp_last_step', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('failed_logins', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('lock_count', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('locked_until', pro_app.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('nurse_lead', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('invited_at', pro_app.db.UTCDateTime(timezone=True), nullable=True))

    op.create_table(
        'staff_recovery_codes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('staff_id', sa.Integer(), nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', pro_app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('used_at', pro_app.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_staff_recovery_codes_staff_id_staff_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_recovery_codes')),
        sa.UniqueConstraint('code_hash', name=op.f('uq_staff_recovery_codes_code_hash')),
    )
    op.create_index(op.f('ix_staff_recovery_codes_staff_id'), 'staff_recovery_codes', ['staff_id'])

    op.create_table(
        'oncall_shifts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('staff_id', sa.Integer(), nullable=False),
        sa.Column('starts_at', pro_app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('ends_at', pro_app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('created_at', pro_app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_oncall_shifts_staff_id_staff_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_oncall_shifts')),
        sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_oncall_shifts_ends_after_start')),
    )
    op.create_index('ix_oncall_shifts_span', 'oncall_shifts', ['starts_at', 'ends_at'])

    op.create_table(
        'consents',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('participant_id', sa.Integer(), nullable=False),
        sa.Column('contact_id', sa.Integer(), nullable=True),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('document_version', sa.String(length=40), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=False),
        sa.Column('taken_by', sa.String(length=160), nullable=False),
        sa.Column('staff_id', sa.Integer(), nullable=True),
        sa.Column('given_at', pro_app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('withdrawn_at', pro_app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('withdrawn_reason', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['participant_id'], ['participants.id'], name=op.f('fk_consents_participant_id_participants'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_consents_contact_id_contacts'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_consents_staff_id_staff_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_consents')),
    )
    op.create_index(op.f('ix_consents_participant_id'), 'consents', ['participant_id'])
    op.create_index(op.f('ix_consents_contact_id'), 'consents', ['contact_id'])

    with op.batch_alter_table('participants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('birth_date', sa.Date(), nullable=True))


def downgrade():
    with op.batch_alter_table('participants', schema=None) as batch_op:
        batch_op.drop_column('birth_date')
    op.drop_table('consents')
    op.drop_table('oncall_shifts')
    op.drop_table('staff_recovery_codes')
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        for name in ('invited_at', 'nurse_lead', 'locked_until', 'lock_count', 'failed_logins', 'totp_last_step',
                     'totp_enrolled_at', 'totp_secret'):
            batch_op.drop_column(name)
