"""revocation and personal-data columns (filled in by the trust work)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 03:50:00
"""
from __future__ import annotations

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
