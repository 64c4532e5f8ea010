"""the team panel's stage facts (rollup of stage changes per deal), backfilled for existing data

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.orm import Session


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'opportunity_stage_fact',
        sa.Column('change_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('connection_id', sa.Integer(), nullable=False),
        sa.Column('opportunity_remote_id', sa.String(length=64), nullable=False),
        sa.Column('owner_remote_id', sa.String(length=64), nullable=True),
        sa.Column('deal_stage', sa.String(length=64), nullable=True),
        sa.Column('deal_is_closed', sa.Boolean(), nullable=False),
        sa.Column('deal_close_date', sa.Date(), nullable=True),
        sa.Column('deal_created_at', sa.DateTime(), nullable=True),
        sa.Column('stage', sa.String(length=64), nullable=False),
        sa.Column('changed_at', sa.DateTime(), nullable=False),
        sa.Column('previous_at', sa.DateTime(), nullable=True),
        sa.Column('is_entry', sa.Boolean(), nullable=False),
        sa.Column('next_stage', sa.String(length=64), nullable=True),
        sa.Column('next_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['connection_id'], ['connection.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('change_id'),
    )
    op.create_index('ix_stage_fact_org_changed', 'opportunity_stage_fact', ['organization_id', 'changed_at'])
    op.create_index('ix_stage_fact_org_owner_changed', 'opportunity_stage_fact',
                    ['organization_id', 'owner_remote_id', 'changed_at'])
    op.create_index('ix_stage_fact_deal', 'opportunity_stage_fact', ['connection_id', 'opportunity_remote_id'])
    # Backfill with the same statements the sync engine keeps the facts with.
    from sync.rollups import rebuild_organization

    session = Session(bind=op.get_bind())
    for organization_id in list(session.scalars(sa.text('SELECT id FROM organization'))):
        rebuild_organization(session, organization_id)
    session.flush()


def downgrade() -> None:
    op.drop_index('ix_stage_fact_deal', table_name='opportunity_stage_fact')
    op.drop_index('ix_stage_fact_org_owner_changed', table_name='opportunity_stage_fact')
    op.drop_index('ix_stage_fact_org_changed', table_name='opportunity_stage_fact')
    op.drop_table('opportunity_stage_fact')
