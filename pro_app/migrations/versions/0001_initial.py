"""Initial schema: participants, contacts, visits, staff, texts, questionnaires, alerts, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import pro_app.db

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('instrument_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('instrument_id', sa.String(length=40), nullable=False),
    sa.Column('version_hash', sa.String(length=64), nullable=False),
    sa.Column('definition', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', pro_app.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_instrument_versions')),
    sa.UniqueConstraint('version_hash', name=op.f('uq_instrument_versions_version_hash'))
    )
    with op.batch_alter_table('instrument_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_instrument_versions_instrument_id'), ['instrument_id'], unique=False)

    op.create_table('participants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.String(length=32), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('age', sa.Integer(), nullable=True),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Enum('active', 'paused', 'withdrawn', 'completed', 'deceased', name='participantstatus', native_enum=False, length=20), nullable=False),
    sa.Column('created_at', pro_app.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_participants')),
    sa.UniqueConstraint('study_id', name=op.f('uq_participants_study_id'))
    )
    with op.batch_alter_table('participants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_participants_status'), ['status'], unique=False)

    op.create_table('phone_numbers',
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('opted_out_at', pro_app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('opt_out_source', sa.String(length=20), nullable=True),
    sa.Column('unreachable_at', pro_app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('unreachable_code', sa.Integer(), nullable=True),
    sa.Column('updated_at', pro_app.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('phone', name=op.f('pk_phone_numbers'))
    )
    op.create_table('staff_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('role', sa.Enum('nurse', 'investigator', 'admin', 'monitor', name='staffrole', native_enum=False, length=20), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('on_call', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('created_at', pro_app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', pro_app.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_users')),
    sa.UniqueConstraint('email', name=op.f('uq_staff_users_email'))
    )
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', pro_app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=160), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=60), nullable=False),
    sa.Column('entity', sa.String(length=40), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=True),
    sa.Column('participant_id', sa.Integer(), nullable=True),
    sa.Column('before', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('after', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['participant_id'], ['participants.id'], name=op.f('fk_audit_events_participant_id_participants'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_audit_events_staff_id_staff_users'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_at'), ['at'], unique=False)
        batch_op.create_index('ix_audit_events_participant_at', ['participant_id', 'at'], unique=False)

    op.create_table('contacts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.Enum('patient', 'caregiver', name='contactrole', native_enum=False, length=20), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=True),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('receives_visit_reminders', sa.Boolean(), nullable=False),
    sa.Column('receives_questionnaires', sa.Boolean(), nullable=False),
    sa.Column('quiet_start', sa.Time(), nullable=False),
    sa.Column('quiet_end', sa.Time(), nullable=False),
    sa.Column('consent_at', pro_app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('calendar_token_hash', sa.String(length=64), nullable=True),
    sa.Column('created_at', pro_app.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['participant_id'], ['participants.id'], name=op.f('fk_contacts_participant_id_participants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contacts')),
    sa.UniqueConstraint('calendar_token_hash', name=op.f('uq_contacts_calendar_token_hash')),
    sa.UniqueConstraint('participant_id', 'phone', name=op.f('uq_contacts_participant_id'))
    )
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contacts_participant_id'), ['participant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_contacts_phone'), ['phone'], unique=False)

    op.create_table('inbound_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider_sid', sa.String(length=64), nullable=False),
    sa.Column('from_phone', sa.String(length=20), nullable=False),
    sa.Column('to_phone', sa.String(length=20), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=True),
    sa.Column('received_at', pro_app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('handled_at', pro_app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('handled_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['handled_by'], ['staff_users.id'], name=op.f('fk_inbound_messages_handled_by_staff_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['participant_id'], ['participants.id'], name=op.f('fk_inbound_messages_participant_id_participants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_messages')),
    sa.UniqueConstraint('provider_sid', name=op.f('uq_inbound_messages_provider_sid'))
    )
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbound_messages_from_phone'), ['from_phone'], unique=False)
        batch_op.create_index('ix_inbound_messages_open', ['handled_at', 'received_at'], unique=False)

    op.create_table('visits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('infusion', 'marrow', 'other', name='visitkind', native_enum=False, length=20), nullable=False),
    sa.Column('protocol_key', sa.String(length=40), nullable=True),
    sa.Column('label', sa.String(length=80), nullable=True),
    sa.Column('dose_number', sa.Integer(), nullable=True),
    sa.Column('starts_at', pro_app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('duration_minutes', sa.Integer(), nullable=False),
    sa.Column('window_opens_on', sa.Date(), nullable=False),
    sa.Column('window_closes_on', sa.Date(), nullable=False),
    sa.Column('status', sa.Enum('scheduled', 'confirmed', 'done', 'missed', 'cancelled', name='visitstatus', native_enum=False, length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('created_at', pro_app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', pro_app.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['participant_id'], ['participants.id'], name=op.f('fk_visits_participant_id_participants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visits'))
    )
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.create_index('ix_visits_participant_starts', ['participant_id', 'starts_at'], unique=False)
        batch_op.create_index('ix_visits_status_starts', ['status', 'starts_at'], unique=False)

    op.create_table('assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('respondent', sa.String(length=8), nullable=False),
    sa.Column('instrument_id', sa.String(length=40), nullable=False),
    sa.Column('occasion', sa.String(length=40), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=True),
    sa.Column('opens_at', pro_app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closes_at', pro_app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('state', sa.Enum('pending', 'in_progress', 'completed', 'expired', 'superseded', name='assignmentstate', native_enum=False, length=20), nullable=False),
    sa.Column('completed_at', pro_app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', pro_app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', pro_app.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_assignments_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['participant_id'], ['participants.id'], name=op.f('fk_assignments_participant_id_participants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['visit_id'], ['visits.id'], name=op.f('fk_assignments_visit_id_visits'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assignments')),
    sa.UniqueConstraint('participant_id', 'contact_id', 'instrument_id', 'occasion', name=op.f('uq_assignments_participant_id'))
    )
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assignments_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index('ix_assignments_participant_opens', ['participant_id', 'opens_at'], unique=False)
        batch_op.create_index('ix_assignments_state_closes', ['state', 'closes_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_assignments_visit_id'), ['visit_id'], unique=False)

    op.create_table('messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=120), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=True),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('visit_id', sa.Integer(), nullable=True),
    sa.Column('assignment_id', sa.Integer(), nullable=True),
    sa.Column('to_phone', sa.String(length=20), nullable=False),
    sa.Column('template', sa.String(length=40), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('due_at', pro_app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', pro_app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ignore_quiet_hours', sa.Boolean(), nullable=False),
    sa.Column('state', sa.Enum('pending', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'suppressed', 'cancelled', 'unknown', name='messagestate', native_enum=False, length=20), nullable=False),
    sa.Column('state_reason', sa.String(length=80), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('claimed_at', pro_app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('claimed_by', sa.String(length=32), nullable=True),
    sa.Column('attempted_at', pro_app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sent_at', pro_app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', pro_app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('provider_sid', sa.String(length=64), nullable=True),
    sa.Column('error_code', sa.Integer(), nullable=True),
    sa.Column('error_message', sa.String(length=200), nullable=True),
    sa.Column('created_at', pro_app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', pro_app.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['assignment_id'], ['assignments.id'], name=op.f('fk_messages_assignment_id_assignments'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_messages_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['participant_id'], ['participants.id'], name=op.f('fk_messages_participant_id_participants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['visit_id'], ['visits.id'], name=op.f('fk_messages_visit_id_visits'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_messages_dedupe_key')),
    sa.UniqueConstraint('provider_sid', name=op.f('uq_messages_provider_sid'))
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_messages_assignment_id'), ['assignment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index('ix_messages_participant_due', ['participant_id', 'due_at'], unique=False)
        batch_op.create_index('ix_messages_state_due', ['state', 'due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_to_phone'), ['to_phone'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_visit_id'), ['visit_id'], unique=False)

    op.create_table('questionnaire_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('assignment_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', pro_app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('superseded_at', pro_app.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['assignment_id'], ['assignments.id'], name=op.f('fk_questionnaire_links_assignment_id_assignments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_questionnaire_links')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_questionnaire_links_token_hash'))
    )
    with op.batch_alter_table('questionnaire_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_questionnaire_links_assignment_id'), ['assignment_id'], unique=False)

    op.create_table('response_drafts',
    sa.Column('assignment_id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('answers', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('section', sa.Integer(), nullable=False),
    sa.Column('submit_key', sa.String(length=32), nullable=False),
    sa.Column('started_at', pro_app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', pro_app.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['assignment_id'], ['assignments.id'], name=op.f('fk_response_drafts_assignment_id_assignments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['version_id'], ['instrument_versions.id'], name=op.f('fk_response_drafts_version_id_instrument_versions')),
    sa.PrimaryKeyConstraint('assignment_id', name=op.f('pk_response_drafts'))
    )
    op.create_table('responses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('assignment_id', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('instrument_id', sa.String(length=40), nullable=False),
    sa.Column('respondent', sa.String(length=8), nullable=False),
    sa.Column('proxy', sa.Boolean(), nullable=False),
    sa.Column('answers', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('scores', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('started_at', pro_app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('submitted_at', pro_app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('submit_key', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['assignment_id'], ['assignments.id'], name=op.f('fk_responses_assignment_id_assignments'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_responses_contact_id_contacts'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['participant_id'], ['participants.id'], name=op.f('fk_responses_participant_id_participants'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['version_id'], ['instrument_versions.id'], name=op.f('fk_responses_version_id_instrument_versions'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_responses')),
    sa.UniqueConstraint('assignment_id', name=op.f('uq_responses_assignment_id')),
    sa.UniqueConstraint('submit_key', name=op.f('uq_responses_submit_key'))
    )
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.create_index('ix_responses_contact_instrument_submitted', ['contact_id', 'instrument_id', 'submitted_at'], unique=False)

    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_responses_participant_id'), ['participant_id'], unique=False)

    op.create_table('alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=False),
    sa.Column('rule', sa.String(length=80), nullable=False),
    sa.Column('severity', sa.String(length=8), nullable=False),
    sa.Column('state', sa.Enum('open', 'acknowledged', 'resolved', name='alertstate', native_enum=False, length=20), nullable=False),
    sa.Column('detail', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('response_id', sa.Integer(), nullable=True),
    sa.Column('occurrences', sa.Integer(), nullable=False),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('next_escalation_at', pro_app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('claimed_at', pro_app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_at', pro_app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', pro_app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('action', sa.String(length=40), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('opened_at', pro_app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', pro_app.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['staff_users.id'], name=op.f('fk_alerts_owner_id_staff_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['participant_id'], ['participants.id'], name=op.f('fk_alerts_participant_id_participants'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['response_id'], ['responses.id'], name=op.f('fk_alerts_response_id_responses'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts'))
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index('ix_alerts_escalation', ['state', 'next_escalation_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_participant_id'), ['participant_id'], unique=False)
        batch_op.create_index('ix_alerts_worklist', ['state', 'severity', 'opened_at'], unique=False)
        batch_op.create_index('uq_alerts_active_rule', ['participant_id', 'rule'], unique=True, postgresql_where=sa.text("state <> 'resolved'"), sqlite_where=sa.text("state <> 'resolved'"))

    op.create_table('alert_occurrences',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('at', pro_app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('severity', sa.String(length=8), nullable=False),
    sa.Column('detail', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('response_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_alert_occurrences_alert_id_alerts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['response_id'], ['responses.id'], name=op.f('fk_alert_occurrences_response_id_responses'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_occurrences'))
    )
    with op.batch_alter_table('alert_occurrences', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_occurrences_alert_id'), ['alert_id'], unique=False)



    protect_append_only()

def downgrade():
    unprotect_append_only()
    with op.batch_alter_table('alert_occurrences', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_occurrences_alert_id'))

    op.drop_table('alert_occurrences')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index('uq_alerts_active_rule', postgresql_where=sa.text("state <> 'resolved'"), sqlite_where=sa.text("state <> 'resolved'"))
        batch_op.drop_index('ix_alerts_worklist')
        batch_op.drop_index(batch_op.f('ix_alerts_participant_id'))
        batch_op.drop_index('ix_alerts_escalation')

    op.drop_table('alerts')
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_responses_participant_id'))

    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.drop_index('ix_responses_contact_instrument_submitted')

    op.drop_table('responses')
    op.drop_table('response_drafts')
    with op.batch_alter_table('questionnaire_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_questionnaire_links_assignment_id'))

    op.drop_table('questionnaire_links')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_messages_visit_id'))
        batch_op.drop_index(batch_op.f('ix_messages_to_phone'))
        batch_op.drop_index('ix_messages_state_due')
        batch_op.drop_index('ix_messages_participant_due')
        batch_op.drop_index(batch_op.f('ix_messages_contact_id'))
        batch_op.drop_index(batch_op.f('ix_messages_assignment_id'))

    op.drop_table('messages')
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assignments_visit_id'))
        batch_op.drop_index('ix_assignments_state_closes')
        batch_op.drop_index('ix_assignments_participant_opens')
        batch_op.drop_index(batch_op.f('ix_assignments_contact_id'))

    op.drop_table('assignments')
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_index('ix_visits_status_starts')
        batch_op.drop_index('ix_visits_participant_starts')

    op.drop_table('visits')
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_inbound_messages_open')
        batch_op.drop_index(batch_op.f('ix_inbound_messages_from_phone'))

    op.drop_table('inbound_messages')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contacts_phone'))
        batch_op.drop_index(batch_op.f('ix_contacts_participant_id'))

    op.drop_table('contacts')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_participant_at')
        batch_op.drop_index(batch_op.f('ix_audit_events_at'))

    op.drop_table('audit_events')
    op.drop_table('staff_users')
    op.drop_table('phone_numbers')
    with op.batch_alter_table('participants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_participants_status'))

    op.drop_table('participants')
    with op.batch_alter_table('instrument_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_instrument_versions_instrument_id'))

    op.drop_table('instrument_versions')


#: Tables whose rows may be added but never changed or removed.
APPEND_ONLY = ("audit_events", "responses")

GUARD_FUNCTION_PG = """
CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""


def protect_append_only():
    """Make the audit log and submitted responses append-only in the database itself."""
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(GUARD_FUNCTION_PG)
    for table in APPEND_ONLY:
        if dialect == "postgresql":
            op.execute(f"CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION refuse_change()")
            op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()")
        elif dialect == "sqlite":
            for verb in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                           f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END")


def unprotect_append_only():
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY:
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update_delete ON {table}")
        elif dialect == "sqlite":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS refuse_change()")
