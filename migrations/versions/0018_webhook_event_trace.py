"""webhook events keep their trace: when each stage from intake to the CRM field began or ended

Revision ID: 0018
Revises: 0021
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0021'
branch_labels = None
depends_on = None

STAGES = ('verified_at', 'sync_started_at', 'sync_finished_at', 'scoring_started_at', 'scoring_finished_at',
          'writeback_sent_at', 'writeback_acked_at')


def upgrade() -> None:
    with op.batch_alter_table('webhook_event', schema=None) as batch_op:
        for name in STAGES:
            batch_op.add_column(sa.Column(name, sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('webhook_event', schema=None) as batch_op:
        for name in reversed(STAGES):
            batch_op.drop_column(name)
