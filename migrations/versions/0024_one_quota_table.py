"""one quota table: the synced crm_quota becomes quota, and an admin's figures join it without a connection

The team panel's quota table was a copy of the synced CRM quotas plus the figures admins set. The copies
are dropped (the synced rows are the CRM's figures); the admin's figures move in with no connection.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04
"""
from datetime import date, datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None

ADMIN = sa.text('connection_id IS NULL')


def _period_start(label: str) -> date | None:
    """The first day of a period label (2017-Q4 or 2017-10), None when it is neither."""
    try:
        year, part = label.split('-')
        month = (int(part[1:]) - 1) * 3 + 1 if part.startswith('Q') else int(part)
        return date(int(year), month, 1)
    except ValueError:
        return None


def upgrade() -> None:
    bind = op.get_bind()
    old = sa.table('quota', sa.column('organization_id', sa.Integer), sa.column('owner_remote_id', sa.String),
                   sa.column('period', sa.String), sa.column('amount', sa.Float), sa.column('updated_at', sa.DateTime),
                   sa.column('source', sa.String))
    admin = bind.execute(sa.select(old.c.organization_id, old.c.owner_remote_id, old.c.period, old.c.amount,
                                   old.c.updated_at).where(old.c.source == 'admin')).all()
    op.drop_table('quota')
    with op.batch_alter_table('crm_quota', schema=None) as batch_op:
        batch_op.drop_index('ix_crm_quota_organization_id')
        batch_op.alter_column('connection_id', existing_type=sa.Integer(), nullable=True)
    op.rename_table('crm_quota', 'quota')
    op.create_index('ix_quota_organization_id', 'quota', ['organization_id'], unique=False)
    op.create_index('uq_quota_admin_owner_period', 'quota', ['organization_id', 'owner_remote_id', 'period'],
                    unique=True, postgresql_where=ADMIN, sqlite_where=ADMIN)
    quota = sa.table('quota', sa.column('organization_id', sa.Integer), sa.column('connection_id', sa.Integer),
                     sa.column('remote_id', sa.String), sa.column('remote_data', sa.JSON),
                     sa.column('content_hash', sa.String), sa.column('remote_modified_at', sa.DateTime),
                     sa.column('remote_deleted', sa.Boolean), sa.column('synced_at', sa.DateTime),
                     sa.column('owner_remote_id', sa.String), sa.column('period', sa.String),
                     sa.column('period_start', sa.Date), sa.column('amount', sa.Float),
                     sa.column('deal_amount', sa.Float))
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    # Few rows: one per person and period an admin typed in. Entered in the corporate currency.
    op.bulk_insert(quota, [
        {'organization_id': org, 'connection_id': None, 'remote_id': f'admin:{owner}:{period}', 'remote_data': {},
         'content_hash': 'admin', 'remote_modified_at': updated or now, 'remote_deleted': False,
         'synced_at': updated or now, 'owner_remote_id': owner, 'period': period,
         'period_start': _period_start(period), 'amount': amount, 'deal_amount': amount}
        for org, owner, period, amount, updated in admin])


def downgrade() -> None:
    bind = op.get_bind()
    new = sa.table('quota', sa.column('organization_id', sa.Integer), sa.column('owner_remote_id', sa.String),
                   sa.column('period', sa.String), sa.column('amount', sa.Float), sa.column('synced_at', sa.DateTime),
                   sa.column('connection_id', sa.Integer))
    admin = bind.execute(sa.select(new.c.organization_id, new.c.owner_remote_id, new.c.period, new.c.amount,
                                   new.c.synced_at).where(new.c.connection_id.is_(None))).all()
    op.execute('DELETE FROM quota WHERE connection_id IS NULL')
    op.drop_index('uq_quota_admin_owner_period', table_name='quota')
    op.drop_index('ix_quota_organization_id', table_name='quota')
    op.rename_table('quota', 'crm_quota')
    with op.batch_alter_table('crm_quota', schema=None) as batch_op:
        batch_op.alter_column('connection_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_index('ix_crm_quota_organization_id', ['organization_id'], unique=False)
    table = op.create_table(
        'quota',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('owner_remote_id', sa.String(length=64), nullable=False),
        sa.Column('period', sa.String(length=16), nullable=False),
        sa.Column('amount', sa.Float(), nullable=False),
        sa.Column('source', sa.String(length=8), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('organization_id', 'owner_remote_id', 'period', name='uq_quota_owner_period'),
    )
    # The CRM's figures are copied again by the scoring job of that version on its next run.
    op.bulk_insert(table, [{'organization_id': org, 'owner_remote_id': owner, 'period': period, 'amount': amount,
                            'source': 'admin', 'updated_at': at} for org, owner, period, amount, at in admin])
