"""the team panel's deal rollup per owner, stage, outcome and close month and its stage entries per month,
next month and whole days (and per owner), backfilled; the stage facts' indexes for what a window's edges read; a partial
index on the deals whose amount has no rate to the corporate currency

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

# Created from the model: the last is PostgreSQL's alone.
FACT_INDEXES = ('ix_stage_fact_org_irregular', 'ix_stage_fact_org_next', 'ix_stage_fact_org_stage_days')


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
    op.create_table(
        'stage_entry_month',
        sa.Column('connection_id', sa.Integer(), nullable=False),
        sa.Column('stage', sa.String(length=64), nullable=False),
        sa.Column('changed_month', sa.Date(), nullable=False),
        sa.Column('next_stage_key', sa.String(length=64), nullable=False),
        sa.Column('next_month', sa.Date(), nullable=False),
        sa.Column('day_bucket', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('entries', sa.Integer(), nullable=False),
        sa.Column('stay_us', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['connection_id'], ['connection.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('connection_id', 'stage', 'changed_month', 'next_stage_key', 'next_month',
                                'day_bucket'),
    )
    op.create_index('ix_stage_entry_month_org_month', 'stage_entry_month', ['organization_id', 'changed_month'],
                    postgresql_include=['stage', 'next_stage_key', 'next_month', 'day_bucket', 'entries', 'stay_us'])
    op.create_table(
        'stage_entry_owner_month',
        sa.Column('connection_id', sa.Integer(), nullable=False),
        sa.Column('owner_key', sa.String(length=64), nullable=False),
        sa.Column('stage', sa.String(length=64), nullable=False),
        sa.Column('changed_month', sa.Date(), nullable=False),
        sa.Column('next_stage_key', sa.String(length=64), nullable=False),
        sa.Column('next_month', sa.Date(), nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('entries', sa.Integer(), nullable=False),
        sa.Column('stay_us', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['connection_id'], ['connection.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('connection_id', 'owner_key', 'stage', 'changed_month', 'next_stage_key',
                                'next_month'),
    )
    op.create_index('ix_stage_entry_owner_month_org_month', 'stage_entry_owner_month',
                    ['organization_id', 'changed_month'],
                    postgresql_include=['owner_key', 'stage', 'next_stage_key', 'next_month', 'entries', 'stay_us'])
    # The model's own definitions (the predicate and the stay's length are the readers' expressions).
    from sync.store.rollups import OpportunityStageFact

    bind = op.get_bind()
    for index in OpportunityStageFact.__table__.indexes:
        if index.name in FACT_INDEXES and (bind.dialect.name == 'postgresql' or index.name != FACT_INDEXES[-1]):
            index.create(bind)
    # Backfill with the statements the sync engine keeps the rows with.
    from sync import deal_months, stage_months

    session = Session(bind=bind)
    for connection_id in list(session.scalars(sa.text('SELECT id FROM connection'))):
        deal_months.rebuild_connection(session, connection_id)
        stage_months.rebuild_connection(session, connection_id)
    session.flush()


def downgrade() -> None:
    for name in FACT_INDEXES:
        op.execute(f'DROP INDEX IF EXISTS {name}')
    op.drop_index('ix_stage_entry_owner_month_org_month', table_name='stage_entry_owner_month')
    op.drop_table('stage_entry_owner_month')
    op.drop_index('ix_stage_entry_month_org_month', table_name='stage_entry_month')
    op.drop_table('stage_entry_month')
    op.drop_index('ix_opportunity_unconverted', table_name='opportunity')
    op.drop_index('ix_opportunity_month_rollup_org_month', table_name='opportunity_month_rollup')
    op.drop_table('opportunity_month_rollup')
