"""technology needs and expert-evaluation requests (filled in by the workflow work)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 03:50:00
"""
from __future__ import annotations

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
