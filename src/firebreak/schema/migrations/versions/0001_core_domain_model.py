"""core domain model

Revision ID: 0001
Revises: 
Create Date: 2026-11-27 22:59:21.862688
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0001'
down_revision: str | None = None
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('audit_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=80), nullable=False),
    sa.Column('object_type', sa.String(length=40), nullable=False),
    sa.Column('object_id', sa.String(length=80), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events')),
    sa.UniqueConstraint('seq', name=op.f('uq_audit_events_seq'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_object_id'), ['object_id'], unique=False)

    op.create_table('authorities',
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('jurisdiction', sa.String(length=200), nullable=False),
    sa.Column('legal_bases', sa.JSON(), nullable=False),
    sa.Column('mail_domains', sa.JSON(), nullable=False),
    sa.Column('mail_addresses', sa.JSON(), nullable=False),
    sa.Column('default_deadlines', sa.JSON(), nullable=False),
    sa.Column('trust_level', sa.String(length=40), nullable=False),
    sa.Column('trusted_categories', sa.JSON(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('escalation_webhook', sa.String(length=1000), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_authorities')),
    sa.UniqueConstraint('name', name=op.f('uq_authorities_name'))
    )
    op.create_table('banks',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('jurisdictions', sa.JSON(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('pdq_distance', sa.Integer(), nullable=False),
    sa.Column('policy_category', sa.String(length=80), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_banks')),
    sa.UniqueConstraint('name', name=op.f('uq_banks_name'))
    )
    op.create_table('media',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('md5', sa.String(length=32), nullable=True),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('mime_type', sa.String(length=100), nullable=True),
    sa.Column('size_bytes', sa.Integer(), nullable=True),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('duration_seconds', sa.Double(), nullable=True),
    sa.Column('pdq', sa.String(length=64), nullable=True),
    sa.Column('pdq_quality', sa.Integer(), nullable=True),
    sa.Column('blob_key', sa.String(length=200), nullable=True),
    sa.Column('source_url', sa.String(length=2000), nullable=True),
    sa.Column('hash_status', sa.String(length=40), nullable=False),
    sa.Column('hash_error', sa.Text(), nullable=True),
    sa.Column('hash_attempts', sa.Integer(), nullable=False),
    sa.Column('quarantined_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_media')),
    sa.UniqueConstraint('sha256', name=op.f('uq_media_sha256'))
    )
    with op.batch_alter_table('media', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_media_md5'), ['md5'], unique=False)

    op.create_table('platform_integrations',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('adapter', sa.String(length=40), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('secret_encrypted', sa.String(length=500), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_platform_integrations')),
    sa.UniqueConstraint('name', name=op.f('uq_platform_integrations_name'))
    )
    op.create_table('scheduled_tasks',
    sa.Column('job', sa.String(length=80), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('dedupe_key', sa.String(length=200), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduled_tasks')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_scheduled_tasks_dedupe_key'))
    )
    with op.batch_alter_table('scheduled_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_scheduled_tasks_status_due', ['status', 'due_at'], unique=False)

    op.create_table('seen_signatures',
    sa.Column('signature', sa.String(length=64), nullable=False),
    sa.Column('integration_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['integration_id'], ['platform_integrations.id'], name=op.f('fk_seen_signatures_integration_id_platform_integrations')),
    sa.PrimaryKeyConstraint('signature', name=op.f('pk_seen_signatures'))
    )
    with op.batch_alter_table('seen_signatures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_seen_signatures_seen_at'), ['seen_at'], unique=False)

    op.create_table('staff_users',
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=40), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_users')),
    sa.UniqueConstraint('username', name=op.f('uq_staff_users_username'))
    )
    op.create_table('api_credentials',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('scope', sa.String(length=40), nullable=False),
    sa.Column('authority_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('integration_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('staff_user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['authority_id'], ['authorities.id'], name=op.f('fk_api_credentials_authority_id_authorities')),
    sa.ForeignKeyConstraint(['integration_id'], ['platform_integrations.id'], name=op.f('fk_api_credentials_integration_id_platform_integrations')),
    sa.ForeignKeyConstraint(['staff_user_id'], ['staff_users.id'], name=op.f('fk_api_credentials_staff_user_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_credentials')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_credentials_token_hash'))
    )
    with op.batch_alter_table('api_credentials', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_credentials_prefix'), ['prefix'], unique=False)

    op.create_table('authority_contacts',
    sa.Column('authority_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('phone', sa.String(length=64), nullable=True),
    sa.Column('password_hash', sa.String(length=200), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('extra', sa.JSON(), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['authority_id'], ['authorities.id'], name=op.f('fk_authority_contacts_authority_id_authorities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_authority_contacts')),
    sa.UniqueConstraint('email', name=op.f('uq_authority_contacts_email'))
    )
    with op.batch_alter_table('authority_contacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_authority_contacts_authority_id'), ['authority_id'], unique=False)

    op.create_table('bank_entries',
    sa.Column('bank_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('signal_type', sa.String(length=32), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('value_digest', sa.String(length=64), nullable=False),
    sa.Column('quality', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('provenance', sa.String(length=40), nullable=False),
    sa.Column('source_ref', sa.String(length=200), nullable=True),
    sa.Column('media_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('external_id', sa.String(length=200), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('extra', sa.JSON(), nullable=False),
    sa.Column('blocked_uploads', sa.Integer(), nullable=False),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['bank_id'], ['banks.id'], name=op.f('fk_bank_entries_bank_id_banks')),
    sa.ForeignKeyConstraint(['media_id'], ['media.id'], name=op.f('fk_bank_entries_media_id_media')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bank_entries')),
    sa.UniqueConstraint('bank_id', 'signal_type', 'value_digest', name=op.f('uq_bank_entries_bank_id'))
    )
    with op.batch_alter_table('bank_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bank_entries_bank_id'), ['bank_id'], unique=False)
        batch_op.create_index('ix_bank_entries_signal_digest', ['signal_type', 'value_digest'], unique=False)

    op.create_table('cases',
    sa.Column('reference', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('category', sa.String(length=80), nullable=True),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('legal_hold', sa.Boolean(), nullable=False),
    sa.Column('legal_hold_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('media_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['media_id'], ['media.id'], name=op.f('fk_cases_media_id_media')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cases')),
    sa.UniqueConstraint('reference', name=op.f('uq_cases_reference'))
    )
    op.create_table('chats',
    sa.Column('integration_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('external_id', sa.String(length=255), nullable=False),
    sa.Column('title', sa.String(length=255), nullable=True),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('is_public', sa.Boolean(), nullable=False),
    sa.Column('member_count', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('strikes', sa.Integer(), nullable=False),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['integration_id'], ['platform_integrations.id'], name=op.f('fk_chats_integration_id_platform_integrations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chats')),
    sa.UniqueConstraint('integration_id', 'external_id', name=op.f('uq_chats_integration_id'))
    )
    op.create_table('media_signals',
    sa.Column('media_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('signal_type', sa.String(length=32), nullable=False),
    sa.Column('value', sa.String(length=128), nullable=False),
    sa.Column('quality', sa.Integer(), nullable=True),
    sa.Column('frame_number', sa.Integer(), nullable=True),
    sa.Column('timestamp_seconds', sa.Double(), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['media_id'], ['media.id'], name=op.f('fk_media_signals_media_id_media'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_media_signals'))
    )
    with op.batch_alter_table('media_signals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_media_signals_media_id'), ['media_id'], unique=False)
        batch_op.create_index('ix_media_signals_type_value', ['signal_type', 'value'], unique=False)

    op.create_table('platform_accounts',
    sa.Column('integration_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('external_id', sa.String(length=255), nullable=False),
    sa.Column('display_name', sa.String(length=255), nullable=True),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('strikes', sa.Integer(), nullable=False),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['integration_id'], ['platform_integrations.id'], name=op.f('fk_platform_accounts_integration_id_platform_integrations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_platform_accounts')),
    sa.UniqueConstraint('integration_id', 'external_id', name=op.f('uq_platform_accounts_integration_id'))
    )
    op.create_table('matches',
    sa.Column('media_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('bank_entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('signal_type', sa.String(length=32), nullable=False),
    sa.Column('distance', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('review', sa.String(length=40), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['bank_entry_id'], ['bank_entries.id'], name=op.f('fk_matches_bank_entry_id_bank_entries')),
    sa.ForeignKeyConstraint(['media_id'], ['media.id'], name=op.f('fk_matches_media_id_media')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_matches')),
    sa.UniqueConstraint('media_id', 'bank_entry_id', name=op.f('uq_matches_media_id'))
    )
    with op.batch_alter_table('matches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_matches_bank_entry_id'), ['bank_entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_matches_media_id'), ['media_id'], unique=False)

    op.create_table('orders',
    sa.Column('tracking_id', sa.String(length=40), nullable=False),
    sa.Column('authority_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('submitted_by_contact_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('channel', sa.String(length=40), nullable=False),
    sa.Column('authority_reference', sa.String(length=200), nullable=True),
    sa.Column('legal_basis', sa.String(length=500), nullable=True),
    sa.Column('category', sa.String(length=80), nullable=False),
    sa.Column('requested_action', sa.String(length=40), nullable=False),
    sa.Column('territorial_scope', sa.JSON(), nullable=False),
    sa.Column('free_text', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('deadline_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('actioned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reported_back_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reminded_50_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reminded_90_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('receipt', sa.JSON(), nullable=True),
    sa.Column('sender_address', sa.String(length=320), nullable=True),
    sa.Column('source_message_id', sa.String(length=500), nullable=True),
    sa.Column('sender_authentication', sa.JSON(), nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['authority_id'], ['authorities.id'], name=op.f('fk_orders_authority_id_authorities')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_orders_case_id_cases')),
    sa.ForeignKeyConstraint(['submitted_by_contact_id'], ['authority_contacts.id'], name=op.f('fk_orders_submitted_by_contact_id_authority_contacts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('tracking_id', name=op.f('uq_orders_tracking_id'))
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_orders_authority_id'), ['authority_id'], unique=False)

    op.create_table('placements',
    sa.Column('integration_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('media_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('chat_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('sender_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('chat_external_id', sa.String(length=255), nullable=False),
    sa.Column('message_external_id', sa.String(length=255), nullable=False),
    sa.Column('media_external_id', sa.String(length=500), nullable=True),
    sa.Column('posted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('forwarded_from_chat', sa.String(length=255), nullable=True),
    sa.Column('forwarded_from_message', sa.String(length=255), nullable=True),
    sa.Column('forwarded_from_placement_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['chat_id'], ['chats.id'], name=op.f('fk_placements_chat_id_chats')),
    sa.ForeignKeyConstraint(['forwarded_from_placement_id'], ['placements.id'], name=op.f('fk_placements_forwarded_from_placement_id_placements')),
    sa.ForeignKeyConstraint(['integration_id'], ['platform_integrations.id'], name=op.f('fk_placements_integration_id_platform_integrations')),
    sa.ForeignKeyConstraint(['media_id'], ['media.id'], name=op.f('fk_placements_media_id_media')),
    sa.ForeignKeyConstraint(['sender_id'], ['platform_accounts.id'], name=op.f('fk_placements_sender_id_platform_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_placements')),
    sa.UniqueConstraint('integration_id', 'chat_external_id', 'message_external_id', 'media_id', name=op.f('uq_placements_integration_id'))
    )
    with op.batch_alter_table('placements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_placements_chat_id'), ['chat_id'], unique=False)
        batch_op.create_index('ix_placements_media_status', ['media_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_placements_sender_id'), ['sender_id'], unique=False)

    op.create_table('propagations',
    sa.Column('bank_entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('cursor_media_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('media_found', sa.Integer(), nullable=False),
    sa.Column('media_done', sa.Integer(), nullable=False),
    sa.Column('placements_actioned', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.String(length=2000), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['bank_entry_id'], ['bank_entries.id'], name=op.f('fk_propagations_bank_entry_id_bank_entries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_propagations')),
    sa.UniqueConstraint('bank_entry_id', name=op.f('uq_propagations_bank_entry_id'))
    )
    op.create_table('victim_reports',
    sa.Column('reference', sa.String(length=40), nullable=False),
    sa.Column('access_code_hash', sa.String(length=64), nullable=False),
    sa.Column('reporter_relation', sa.String(length=40), nullable=False),
    sa.Column('contact_email', sa.String(length=320), nullable=True),
    sa.Column('category', sa.String(length=80), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('message_links', sa.JSON(), nullable=False),
    sa.Column('client_hashes', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_victim_reports_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_victim_reports')),
    sa.UniqueConstraint('reference', name=op.f('uq_victim_reports_reference'))
    )
    op.create_table('order_items',
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('signal_type', sa.String(length=32), nullable=True),
    sa.Column('media_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('placement_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('resolution', sa.String(length=40), nullable=False),
    sa.Column('resolution_reason', sa.Text(), nullable=True),
    sa.Column('outcome', sa.String(length=40), nullable=False),
    sa.Column('outcome_reason', sa.Text(), nullable=True),
    sa.Column('bank_entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('actioned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['bank_entry_id'], ['bank_entries.id'], name=op.f('fk_order_items_bank_entry_id_bank_entries')),
    sa.ForeignKeyConstraint(['media_id'], ['media.id'], name=op.f('fk_order_items_media_id_media')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_items_order_id_orders')),
    sa.ForeignKeyConstraint(['placement_id'], ['placements.id'], name=op.f('fk_order_items_placement_id_placements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_items'))
    )
    with op.batch_alter_table('order_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_items_order_id'), ['order_id'], unique=False)

    op.create_table('order_messages',
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('direction', sa.String(length=40), nullable=False),
    sa.Column('channel', sa.String(length=40), nullable=False),
    sa.Column('author', sa.String(length=320), nullable=False),
    sa.Column('subject', sa.String(length=500), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('mail_message_id', sa.String(length=500), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_messages_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_messages'))
    )
    with op.batch_alter_table('order_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_messages_mail_message_id'), ['mail_message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_order_messages_order_id'), ['order_id'], unique=False)

    op.create_table('decisions',
    sa.Column('media_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('placement_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('order_item_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('report_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('match_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('outcome', sa.String(length=40), nullable=False),
    sa.Column('policy_ground', sa.String(length=40), nullable=False),
    sa.Column('policy_category', sa.String(length=80), nullable=False),
    sa.Column('legal_reference', sa.String(length=500), nullable=True),
    sa.Column('explanation', sa.Text(), nullable=True),
    sa.Column('automated', sa.Boolean(), nullable=False),
    sa.Column('decided_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('territorial_scope', sa.String(length=500), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_decisions_case_id_cases')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['staff_users.id'], name=op.f('fk_decisions_decided_by_id_staff_users')),
    sa.ForeignKeyConstraint(['match_id'], ['matches.id'], name=op.f('fk_decisions_match_id_matches')),
    sa.ForeignKeyConstraint(['media_id'], ['media.id'], name=op.f('fk_decisions_media_id_media')),
    sa.ForeignKeyConstraint(['order_item_id'], ['order_items.id'], name=op.f('fk_decisions_order_item_id_order_items')),
    sa.ForeignKeyConstraint(['placement_id'], ['placements.id'], name=op.f('fk_decisions_placement_id_placements')),
    sa.ForeignKeyConstraint(['report_id'], ['victim_reports.id'], name=op.f('fk_decisions_report_id_victim_reports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_decisions'))
    )
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_decisions_media_id'), ['media_id'], unique=False)

    op.create_table('actions',
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('integration_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('placement_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('media_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('chat_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('match_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('order_item_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('decision_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['platform_accounts.id'], name=op.f('fk_actions_account_id_platform_accounts')),
    sa.ForeignKeyConstraint(['chat_id'], ['chats.id'], name=op.f('fk_actions_chat_id_chats')),
    sa.ForeignKeyConstraint(['decision_id'], ['decisions.id'], name=op.f('fk_actions_decision_id_decisions')),
    sa.ForeignKeyConstraint(['integration_id'], ['platform_integrations.id'], name=op.f('fk_actions_integration_id_platform_integrations')),
    sa.ForeignKeyConstraint(['match_id'], ['matches.id'], name=op.f('fk_actions_match_id_matches')),
    sa.ForeignKeyConstraint(['media_id'], ['media.id'], name=op.f('fk_actions_media_id_media')),
    sa.ForeignKeyConstraint(['order_item_id'], ['order_items.id'], name=op.f('fk_actions_order_item_id_order_items')),
    sa.ForeignKeyConstraint(['placement_id'], ['placements.id'], name=op.f('fk_actions_placement_id_placements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_actions')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_actions_idempotency_key'))
    )
    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_actions_placement_id'), ['placement_id'], unique=False)
        batch_op.create_index('ix_actions_status_next_attempt', ['status', 'next_attempt_at'], unique=False)

    op.create_table('appeals',
    sa.Column('decision_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('appellant_account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('statement', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('resolved_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolution_note', sa.Text(), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['appellant_account_id'], ['platform_accounts.id'], name=op.f('fk_appeals_appellant_account_id_platform_accounts')),
    sa.ForeignKeyConstraint(['decision_id'], ['decisions.id'], name=op.f('fk_appeals_decision_id_decisions')),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['staff_users.id'], name=op.f('fk_appeals_resolved_by_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appeals'))
    )
    with op.batch_alter_table('appeals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_appeals_decision_id'), ['decision_id'], unique=False)

    op.create_table('statements_of_reasons',
    sa.Column('puid', sa.String(length=500), nullable=False),
    sa.Column('decision_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('order_item_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('placement_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('sent_to_user_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('submission_error', sa.String(length=2000), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['decision_id'], ['decisions.id'], name=op.f('fk_statements_of_reasons_decision_id_decisions')),
    sa.ForeignKeyConstraint(['order_item_id'], ['order_items.id'], name=op.f('fk_statements_of_reasons_order_item_id_order_items')),
    sa.ForeignKeyConstraint(['placement_id'], ['placements.id'], name=op.f('fk_statements_of_reasons_placement_id_placements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_statements_of_reasons')),
    sa.UniqueConstraint('puid', name=op.f('uq_statements_of_reasons_puid'))
    )
    with op.batch_alter_table('statements_of_reasons', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_statements_of_reasons_decision_id'), ['decision_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('statements_of_reasons', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_statements_of_reasons_decision_id'))

    op.drop_table('statements_of_reasons')
    with op.batch_alter_table('appeals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_appeals_decision_id'))

    op.drop_table('appeals')
    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.drop_index('ix_actions_status_next_attempt')
        batch_op.drop_index(batch_op.f('ix_actions_placement_id'))

    op.drop_table('actions')
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_decisions_media_id'))

    op.drop_table('decisions')
    with op.batch_alter_table('order_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_messages_order_id'))
        batch_op.drop_index(batch_op.f('ix_order_messages_mail_message_id'))

    op.drop_table('order_messages')
    with op.batch_alter_table('order_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_items_order_id'))

    op.drop_table('order_items')
    op.drop_table('victim_reports')
    op.drop_table('propagations')
    with op.batch_alter_table('placements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_placements_sender_id'))
        batch_op.drop_index('ix_placements_media_status')
        batch_op.drop_index(batch_op.f('ix_placements_chat_id'))

    op.drop_table('placements')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_authority_id'))

    op.drop_table('orders')
    with op.batch_alter_table('matches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_matches_media_id'))
        batch_op.drop_index(batch_op.f('ix_matches_bank_entry_id'))

    op.drop_table('matches')
    op.drop_table('platform_accounts')
    with op.batch_alter_table('media_signals', schema=None) as batch_op:
        batch_op.drop_index('ix_media_signals_type_value')
        batch_op.drop_index(batch_op.f('ix_media_signals_media_id'))

    op.drop_table('media_signals')
    op.drop_table('chats')
    op.drop_table('cases')
    with op.batch_alter_table('bank_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_bank_entries_signal_digest')
        batch_op.drop_index(batch_op.f('ix_bank_entries_bank_id'))

    op.drop_table('bank_entries')
    with op.batch_alter_table('authority_contacts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_authority_contacts_authority_id'))

    op.drop_table('authority_contacts')
    with op.batch_alter_table('api_credentials', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_credentials_prefix'))

    op.drop_table('api_credentials')
    op.drop_table('staff_users')
    with op.batch_alter_table('seen_signatures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_seen_signatures_seen_at'))

    op.drop_table('seen_signatures')
    with op.batch_alter_table('scheduled_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_scheduled_tasks_status_due')

    op.drop_table('scheduled_tasks')
    op.drop_table('platform_integrations')
    with op.batch_alter_table('media', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_media_md5'))

    op.drop_table('media')
    op.drop_table('banks')
    op.drop_table('authorities')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_object_id'))

    op.drop_table('audit_events')

