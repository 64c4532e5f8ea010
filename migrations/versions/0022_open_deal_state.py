"""the team panel's open-deal state (latest activity and current stage entry per open deal) and
activity counts per owner, kind and month or day, backfilled; the stage facts' window index carries the
columns the stage views read (PostgreSQL)

Revision ID: 0022
Revises: 0018
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.orm import Session


revision = '0022'
down_revision = '0018'
branch_labels = None
depends_on = None

# The columns as this revision wrote them (the model's list may grow later).
WINDOW_COLUMNS = ['owner_remote_id', 'stage', 'is_entry', 'previous_at', 'deal_created_at', 'deal_is_closed',
                  'deal_close_date', 'next_stage', 'next_at', 'connection_id', 'opportunity_remote_id', 'deal_stage']


def upgrade() -> None:
    op.create_table(
        'open_deal_state',
        sa.Column('connection_id', sa.Integer(), nullable=False),
        sa.Column('opportunity_remote_id', sa.String(length=64), nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('owner_remote_id', sa.String(length=64), nullable=True),
        sa.Column('stage', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=True),
        sa.Column('last_activity_at', sa.DateTime(), nullable=True),
        sa.Column('stage_entered_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['connection_id'], ['connection.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('connection_id', 'opportunity_remote_id'),
    )
    op.create_index('ix_open_deal_state_org_owner', 'open_deal_state', ['organization_id', 'owner_remote_id'])
    for table in ('activity_month_count', 'activity_day_count'):
        op.create_table(
            table,
            sa.Column('connection_id', sa.Integer(), nullable=False),
            sa.Column('owner_key', sa.String(length=64), nullable=False),
            sa.Column('kind_key', sa.String(length=32), nullable=False),
            sa.Column('starts_on', sa.Date(), nullable=False),
            sa.Column('organization_id', sa.Integer(), nullable=False),
            sa.Column('activities', sa.Integer(), nullable=False),
            sa.ForeignKeyConstraint(['connection_id'], ['connection.id'], ondelete='CASCADE'),
            sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], ondelete='CASCADE'),
            sa.PrimaryKeyConstraint('connection_id', 'owner_key', 'kind_key', 'starts_on'),
        )
        op.create_index(f'ix_{table}_org_starts', table, ['organization_id', 'starts_on'],
                        postgresql_include=['owner_key', 'kind_key', 'activities'])
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_stage_fact_org_changed', table_name='opportunity_stage_fact')
        op.create_index('ix_stage_fact_org_changed', 'opportunity_stage_fact', ['organization_id', 'changed_at'],
                        postgresql_include=list(WINDOW_COLUMNS))
    # Backfill with the statement the sync engine keeps the rows with.
    from sync import activity_counts, deal_state

    session = Session(bind=op.get_bind())
    for connection_id in list(session.scalars(sa.text('SELECT id FROM connection'))):
        deal_state.rebuild_connection(session, connection_id)
        activity_counts.rebuild_connection(session, connection_id)
    session.flush()


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_stage_fact_org_changed', table_name='opportunity_stage_fact')
        op.create_index('ix_stage_fact_org_changed', 'opportunity_stage_fact', ['organization_id', 'changed_at'])
    for table in ('activity_day_count', 'activity_month_count'):
        op.drop_index(f'ix_{table}_org_starts', table_name=table)
        op.drop_table(table)
    op.drop_index('ix_open_deal_state_org_owner', table_name='open_deal_state')
    op.drop_table('open_deal_state')
