"""the team panel's deal rollup per owner, stage, outcome and close month, backfilled; a partial index on
the deals whose amount has no rate to the corporate currency

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.orm import Session


revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'opportunity_month_rollup',
        sa.Column('connection_id', sa.Integer(), nullable=False),
        sa.Column('owner_key', sa.String(length=64), nullable=False),
        sa.Column('stage_key', sa.String(length=64), nullable=False),
        sa.Column('is_closed', sa.Boolean(), nullable=False),
        sa.Column('is_won', sa.Boolean(), nullable=False),
        sa.Column('close_month', sa.Date(), nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('deals', sa.Integer(), nullable=False),
        sa.Column('amount_sum', sa.Float(), nullable=False),
        sa.Column('amounts', sa.Integer(), nullable=False),
        sa.Column('cycle_days_sum', sa.Float(), nullable=False),
        sa.Column('cycles', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['connection_id'], ['connection.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('connection_id', 'owner_key', 'stage_key', 'is_closed', 'is_won', 'close_month'),
    )
    op.create_index('ix_opportunity_month_rollup_org_month', 'opportunity_month_rollup',
                    ['organization_id', 'close_month'])
    unconverted = sa.text('deal_amount IS NOT NULL AND amount IS NULL')
    op.create_index('ix_opportunity_unconverted', 'opportunity', ['organization_id', 'owner_remote_id', 'currency'],
                    postgresql_where=unconverted, sqlite_where=unconverted)
    # Backfill with the statement the sync engine keeps the rows with.
    from sync import deal_months

    session = Session(bind=op.get_bind())
    for connection_id in list(session.scalars(sa.text('SELECT id FROM connection'))):
        deal_months.rebuild_connection(session, connection_id)
    session.flush()


def downgrade() -> None:
    op.drop_index('ix_opportunity_unconverted', table_name='opportunity')
    op.drop_index('ix_opportunity_month_rollup_org_month', table_name='opportunity_month_rollup')
    op.drop_table('opportunity_month_rollup')
