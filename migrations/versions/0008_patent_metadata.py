"""patents.filing_date and patents.patent_type: what the base library carries beside the grant date

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 03:50:00
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('patents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('filing_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('patent_type', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('patents', schema=None) as batch_op:
        batch_op.drop_column('patent_type')
        batch_op.drop_column('filing_date')
