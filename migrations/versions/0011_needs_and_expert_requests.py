"""technology needs and expert-evaluation requests

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 03:50:00
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa

import bot.models

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def _at(name: str, nullable: bool) -> sa.Column:
    return sa.Column(name, bot.models.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        'tech_needs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('enterprise_id', sa.Integer(), nullable=False),
        sa.Column('author_id', sa.BigInteger(), nullable=False),
        sa.Column('problem', sa.Text(), nullable=False),
        sa.Column('industry', sa.String(length=64), nullable=False),
        sa.Column('budget', sa.String(length=32), nullable=False),
        sa.Column('cooperation', sa.String(length=16), nullable=False),
        sa.Column('deadline', sa.Date(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        _at('created_at', False), _at('updated_at', False), _at('closed_at', True),
        sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_tech_needs_author_id_users')),
        sa.ForeignKeyConstraint(['enterprise_id'], ['enterprises.id'],
                                name=op.f('fk_tech_needs_enterprise_id_enterprises')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_tech_needs')),
    )
    with op.batch_alter_table('tech_needs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tech_needs_enterprise_id'), ['enterprise_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tech_needs_status'), ['status'], unique=False)

    op.create_table(
        'need_deliveries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('need_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.BigInteger(), nullable=False),
        sa.Column('patent_id', sa.String(length=64), nullable=False),
        sa.Column('institution_id', sa.Integer(), nullable=True),
        sa.Column('answer', sa.String(length=8), nullable=True),
        _at('answered_at', True),
        sa.Column('lead_status', sa.String(length=16), nullable=True),
        _at('lead_decided_at', True), _at('created_at', False),
        sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'],
                                name=op.f('fk_need_deliveries_institution_id_institutions')),
        sa.ForeignKeyConstraint(['need_id'], ['tech_needs.id'], name=op.f('fk_need_deliveries_need_id_tech_needs'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['patent_id'], ['patents.id'], name=op.f('fk_need_deliveries_patent_id_patents'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_need_deliveries_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_need_deliveries')),
        sa.UniqueConstraint('need_id', 'user_id', name='uq_need_deliveries_need_user'),
    )
    with op.batch_alter_table('need_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_need_deliveries_need_id'), ['need_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_need_deliveries_user_id'), ['user_id'], unique=False)

    op.create_table(
        'expert_requests',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('patent_id', sa.String(length=64), nullable=False),
        sa.Column('requester_id', sa.BigInteger(), nullable=False),
        sa.Column('industry', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('expert_id', sa.BigInteger(), nullable=True),
        sa.Column('round', sa.Integer(), nullable=False),
        _at('round_started_at', False), _at('accepted_at', True), _at('reminded_at', True), _at('done_at', True),
        _at('created_at', False),
        sa.ForeignKeyConstraint(['expert_id'], ['users.id'], name=op.f('fk_expert_requests_expert_id_users')),
        sa.ForeignKeyConstraint(['patent_id'], ['patents.id'], name=op.f('fk_expert_requests_patent_id_patents'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['requester_id'], ['users.id'], name=op.f('fk_expert_requests_requester_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_expert_requests')),
    )
    with op.batch_alter_table('expert_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_expert_requests_patent_id'), ['patent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_expert_requests_status'), ['status'], unique=False)

    op.create_table(
        'expert_invitations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('request_id', sa.Integer(), nullable=False),
        sa.Column('expert_id', sa.BigInteger(), nullable=False),
        sa.Column('round', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        _at('created_at', False),
        sa.ForeignKeyConstraint(['expert_id'], ['users.id'], name=op.f('fk_expert_invitations_expert_id_users')),
        sa.ForeignKeyConstraint(['request_id'], ['expert_requests.id'],
                                name=op.f('fk_expert_invitations_request_id_expert_requests'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_expert_invitations')),
        sa.UniqueConstraint('request_id', 'expert_id', name='uq_expert_invitations_request_expert'),
    )
    with op.batch_alter_table('expert_invitations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_expert_invitations_expert_id'), ['expert_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_expert_invitations_request_id'), ['request_id'], unique=False)


def downgrade() -> None:
    op.drop_table('expert_invitations')
    op.drop_table('expert_requests')
    op.drop_table('need_deliveries')
    op.drop_table('tech_needs')
