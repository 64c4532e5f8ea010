"""sync cursors keep the remote's opaque change token (Dataverse delta links)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sync_cursor', schema=None) as batch_op:
        batch_op.add_column(sa.Column('change_token', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sync_cursor', schema=None) as batch_op:
        batch_op.drop_column('change_token')
