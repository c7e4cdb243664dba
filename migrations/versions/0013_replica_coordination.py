"""several bot processes on one PostgreSQL: per-chat arrival order of webhook updates and the shared
per-user flood-control buckets

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 04:00:00
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import bot.models


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('chat_turns',
    sa.Column('chat_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('update_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('received_at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('chat_id', 'update_id', name=op.f('pk_chat_turns'))
    )
    op.create_table('flood_buckets',
    sa.Column('user_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('tokens', sa.Float(), nullable=False),
    sa.Column('updated_at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('allowed', sa.Boolean(), nullable=False),
    sa.Column('noticed_at', bot.models.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_flood_buckets'))
    )


def downgrade() -> None:
    op.drop_table('flood_buckets')
    op.drop_table('chat_turns')
