"""connections keep the remote organization's name and time zone; CRM users their time zone

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('connection', schema=None) as batch_op:
        batch_op.add_column(sa.Column('remote_org_name', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('time_zone', sa.String(length=64), nullable=True))
    with op.batch_alter_table('crm_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('time_zone', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('crm_user', schema=None) as batch_op:
        batch_op.drop_column('time_zone')
    with op.batch_alter_table('connection', schema=None) as batch_op:
        batch_op.drop_column('time_zone')
        batch_op.drop_column('remote_org_name')
