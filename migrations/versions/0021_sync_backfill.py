"""backfills resume after a crash: their start time and resume point per cursor, and the ids they stored

Revision ID: 0021
Revises: 0017
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0021'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sync_cursor', schema=None) as batch_op:
        batch_op.add_column(sa.Column('backfill_started_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('backfill_token', sa.Text(), nullable=True))
    op.create_table(
        'sync_backfill_seen',
        sa.Column('connection_id', sa.Integer(), nullable=False),
        sa.Column('stream', sa.String(length=64), nullable=False),
        sa.Column('remote_id', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['connection_id'], ['connection.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('connection_id', 'stream', 'remote_id'),
    )


def downgrade() -> None:
    op.drop_table('sync_backfill_seen')
    with op.batch_alter_table('sync_cursor', schema=None) as batch_op:
        batch_op.drop_column('backfill_token')
        batch_op.drop_column('backfill_started_at')
