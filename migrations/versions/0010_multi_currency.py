"""multi-currency: each amount's currency, the CRM's amount beside the corporate one, and the rates

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

CONVERTED = ('opportunity', 'opportunity_stage_change', 'crm_quota')


def upgrade() -> None:
    op.create_table('currency_rate',
    sa.Column('iso_code', sa.String(length=3), nullable=True),
    sa.Column('is_corporate', sa.Boolean(), nullable=False),
    sa.Column('to_corporate', sa.Float(), nullable=True),
    sa.Column('start_date', sa.Date(), nullable=True),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('remote_id', sa.String(length=64), nullable=False),
    sa.Column('remote_data', sa.JSON(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('remote_modified_at', sa.DateTime(), nullable=True),
    sa.Column('remote_created_at', sa.DateTime(), nullable=True),
    sa.Column('remote_deleted', sa.Boolean(), nullable=False),
    sa.Column('deleted_at', sa.DateTime(), nullable=True),
    sa.Column('synced_at', sa.DateTime(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['connection.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('connection_id', 'remote_id')
    )
    with op.batch_alter_table('currency_rate', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_currency_rate_organization_id'), ['organization_id'], unique=False)
    for table in CONVERTED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('deal_amount', sa.Float(), nullable=True))
            batch_op.add_column(sa.Column('currency', sa.String(length=3), nullable=True))
        # Rows synced before: one currency, so the CRM's amount is the corporate one.
        op.execute(f'UPDATE {table} SET deal_amount = amount')


def downgrade() -> None:
    for table in CONVERTED:
        op.execute(f'UPDATE {table} SET amount = deal_amount')
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('currency')
            batch_op.drop_column('deal_amount')
    with op.batch_alter_table('currency_rate', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_currency_rate_organization_id'))
    op.drop_table('currency_rate')
