"""users.privacy_notice_at: when the user was shown the privacy notice (once, at the first /start)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 03:50:00
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa

import bot.models

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # when the user was shown the privacy notice (the first /start); NULL: not yet
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('privacy_notice_at', bot.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite drops a column in place (3.35+); batch mode would recreate ``users``, which every other
        # table references, and the DROP TABLE fails under the enforced foreign keys
        op.execute("ALTER TABLE users DROP COLUMN privacy_notice_at")
    else:
        op.drop_column('users', 'privacy_notice_at')
