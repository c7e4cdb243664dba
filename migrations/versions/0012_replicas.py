"""shared state for several bot processes: the patent change log every process follows to keep its
search index fresh (bot/search/freshness.py)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 03:50:00
"""
from __future__ import annotations

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

import bot.models

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('patent_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('patent_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patent_changes'))
    )
    with op.batch_alter_table('patent_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patent_changes_created_at'), ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('patent_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patent_changes_created_at'))
    op.drop_table('patent_changes')
