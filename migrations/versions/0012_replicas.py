"""shared state for several bot processes (filled in by the replicas work)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 03:50:00
"""
from __future__ import annotations

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
