"""inventor_patents.status, decided_by, decided_at: a link is a request the patent's office decides

Existing links migrate by one rule (docs/OWNERSHIP.md):
- the patent has an institution and the inventor holds an unrevoked inventor grant there → confirmed;
- the patent has an institution and the inventor holds none there → declined (a claim across
  institutions, which the bot no longer allows);
- the patent has no institution → pending (its office decides once the base library names it).
Links decided here carry decided_at = the migration time and decided_by = NULL.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 03:50:00
"""
from __future__ import annotations

import datetime as dt

from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inventor_patents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=16), server_default='pending', nullable=False))
        batch_op.add_column(sa.Column('decided_by', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_inventor_patents_patent_id'), ['patent_id'], unique=False)

    links = sa.table('inventor_patents', sa.column('user_id', sa.BigInteger()), sa.column('patent_id', sa.String()),
                     sa.column('status', sa.String()), sa.column('decided_at', sa.DateTime(timezone=True)))
    patents = sa.table('patents', sa.column('id', sa.String()), sa.column('institution_id', sa.Integer()))
    grants = sa.table('role_grants', sa.column('user_id', sa.BigInteger()), sa.column('role', sa.String()),
                      sa.column('institution_id', sa.Integer()), sa.column('revoked_at', sa.DateTime(timezone=True)))
    institution = (sa.select(patents.c.institution_id).where(patents.c.id == links.c.patent_id)
                   .correlate(links).scalar_subquery())
    same_institution = (sa.select(grants.c.user_id).where(
        grants.c.user_id == links.c.user_id, grants.c.role == 'inventor', grants.c.institution_id == institution,
        grants.c.revoked_at.is_(None)).correlate(links).exists())
    now = dt.datetime.now(dt.timezone.utc)
    op.execute(links.update().where(institution.is_not(None), same_institution)
               .values(status='confirmed', decided_at=now))
    op.execute(links.update().where(institution.is_not(None), ~same_institution)
               .values(status='declined', decided_at=now))


def downgrade() -> None:
    with op.batch_alter_table('inventor_patents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inventor_patents_patent_id'))
        batch_op.drop_column('decided_at')
        batch_op.drop_column('decided_by')
        batch_op.drop_column('status')
