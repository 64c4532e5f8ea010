"""forecast calls, feature overrides, scheduled forecast snapshots

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('forecast_call',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('owner_remote_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('commit', sa.Float(), nullable=False),
    sa.Column('best_case', sa.Float(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('submitted_by', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('organization_id', 'period', 'owner_remote_id', 'kind', 'version',
                        name='uq_forecast_call_version')
    )
    with op.batch_alter_table('forecast_call', schema=None) as batch_op:
        batch_op.create_index('ix_forecast_call_period', ['organization_id', 'period'], unique=False)

    op.create_table('feature_override',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('target', sa.String(length=32), nullable=False),
    sa.Column('feature', sa.String(length=128), nullable=False),
    sa.Column('kept_by', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('organization_id', 'target', 'feature', name='uq_feature_override')
    )
    with op.batch_alter_table('forecast_snapshot', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sa.String(length=16), server_default='manual', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('forecast_snapshot', schema=None) as batch_op:
        batch_op.drop_column('source')
    op.drop_table('feature_override')
    with op.batch_alter_table('forecast_call', schema=None) as batch_op:
        batch_op.drop_index('ix_forecast_call_period')
    op.drop_table('forecast_call')
