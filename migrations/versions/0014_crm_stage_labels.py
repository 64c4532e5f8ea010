"""crm stage labels: what people call each opportunity stage id, and the CRM's order of stages

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('crm_stage',
    sa.Column('label', sa.String(length=255), nullable=True),
    sa.Column('pipeline_remote_id', sa.String(length=64), nullable=True),
    sa.Column('pipeline_label', sa.String(length=255), nullable=True),
    sa.Column('pipeline_order', sa.Integer(), nullable=True),
    sa.Column('display_order', sa.Integer(), nullable=True),
    sa.Column('probability', sa.Float(), nullable=True),
    sa.Column('is_closed', sa.Boolean(), nullable=False),
    sa.Column('is_won', sa.Boolean(), nullable=False),
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
    with op.batch_alter_table('crm_stage', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crm_stage_organization_id'), ['organization_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('crm_stage', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crm_stage_organization_id'))
    op.drop_table('crm_stage')
