"""crm role hierarchy: the CRM's roles, and each user's role

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('crm_role',
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('parent_remote_id', sa.String(length=64), nullable=True),
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
    with op.batch_alter_table('crm_role', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crm_role_organization_id'), ['organization_id'], unique=False)
    with op.batch_alter_table('crm_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('crm_role_remote_id', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('crm_user', schema=None) as batch_op:
        batch_op.drop_column('crm_role_remote_id')
    with op.batch_alter_table('crm_role', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crm_role_organization_id'))
    op.drop_table('crm_role')
