"""sandbox messenger: users, chats, memberships, media, messages, notices (sandbox_* tables)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 23:08:59.693701
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('sandbox_media',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('mime_type', sa.String(length=100), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=True),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('quarantined_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('quarantine_reason', sa.Text(), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_media')),
    sa.UniqueConstraint('sha256', name=op.f('uq_sandbox_media_sha256'))
    )
    op.create_table('sandbox_users',
    sa.Column('handle', sa.String(length=32), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_users')),
    sa.UniqueConstraint('handle', name=op.f('uq_sandbox_users_handle'))
    )
    op.create_table('sandbox_chats',
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('is_public', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['sandbox_users.id'], name=op.f('fk_sandbox_chats_created_by_id_sandbox_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_chats'))
    )
    op.create_table('sandbox_notices',
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('chat_ref', sa.String(length=40), nullable=True),
    sa.Column('message_ref', sa.String(length=40), nullable=True),
    sa.Column('dedupe_key', sa.String(length=64), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['sandbox_users.id'], name=op.f('fk_sandbox_notices_user_id_sandbox_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_notices')),
    sa.UniqueConstraint('user_id', 'dedupe_key', name=op.f('uq_sandbox_notices_user_id'))
    )
    op.create_table('sandbox_memberships',
    sa.Column('chat_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['chat_id'], ['sandbox_chats.id'], name=op.f('fk_sandbox_memberships_chat_id_sandbox_chats')),
    sa.ForeignKeyConstraint(['user_id'], ['sandbox_users.id'], name=op.f('fk_sandbox_memberships_user_id_sandbox_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_memberships')),
    sa.UniqueConstraint('chat_id', 'user_id', name=op.f('uq_sandbox_memberships_chat_id'))
    )
    with op.batch_alter_table('sandbox_memberships', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sandbox_memberships_user_id'), ['user_id'], unique=False)

    op.create_table('sandbox_messages',
    sa.Column('chat_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sender_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('media_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('forwarded_from_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('removed_reason', sa.Text(), nullable=True),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('restored_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['chat_id'], ['sandbox_chats.id'], name=op.f('fk_sandbox_messages_chat_id_sandbox_chats')),
    sa.ForeignKeyConstraint(['forwarded_from_id'], ['sandbox_messages.id'], name=op.f('fk_sandbox_messages_forwarded_from_id_sandbox_messages')),
    sa.ForeignKeyConstraint(['media_id'], ['sandbox_media.id'], name=op.f('fk_sandbox_messages_media_id_sandbox_media')),
    sa.ForeignKeyConstraint(['sender_id'], ['sandbox_users.id'], name=op.f('fk_sandbox_messages_sender_id_sandbox_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_messages'))
    )
    with op.batch_alter_table('sandbox_messages', schema=None) as batch_op:
        batch_op.create_index('ix_sandbox_messages_chat_order', ['chat_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sandbox_messages_forwarded_from_id'), ['forwarded_from_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sandbox_messages_media_id'), ['media_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sandbox_messages_sender_id'), ['sender_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('sandbox_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sandbox_messages_sender_id'))
        batch_op.drop_index(batch_op.f('ix_sandbox_messages_media_id'))
        batch_op.drop_index(batch_op.f('ix_sandbox_messages_forwarded_from_id'))
        batch_op.drop_index('ix_sandbox_messages_chat_order')

    op.drop_table('sandbox_messages')
    with op.batch_alter_table('sandbox_memberships', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sandbox_memberships_user_id'))

    op.drop_table('sandbox_memberships')
    op.drop_table('sandbox_notices')
    op.drop_table('sandbox_chats')
    op.drop_table('sandbox_users')
    op.drop_table('sandbox_media')
