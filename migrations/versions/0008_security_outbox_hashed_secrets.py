"""webhook secrets stored as hashes; the webhook outbox (targets, attempts)

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-03
"""
import hashlib

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('connection') as batch:
        batch.add_column(sa.Column('webhook_secret_hash', sa.String(length=64), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, webhook_secret FROM connection")).all()
    for row_id, secret in rows:
        # The endpoints already pasted into CRMs keep working: the hash of the same secret.
        connection.execute(sa.text("UPDATE connection SET webhook_secret_hash = :h WHERE id = :id"),
                           {"h": hashlib.sha256((secret or "").encode()).hexdigest(), "id": row_id})
    with op.batch_alter_table('connection') as batch:
        batch.alter_column('webhook_secret_hash', existing_type=sa.String(length=64), nullable=False)
        batch.drop_column('webhook_secret')
    with op.batch_alter_table('webhook_event') as batch:
        batch.add_column(sa.Column('targets', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('enqueued_at', sa.DateTime(), nullable=True))
        batch.create_index('ix_webhook_event_outbox', ['processed_at', 'received_at'])


def downgrade() -> None:
    # A hash cannot be turned back into the secret: every endpoint must be rotated after a downgrade.
    with op.batch_alter_table('webhook_event') as batch:
        batch.drop_index('ix_webhook_event_outbox')
        batch.drop_column('enqueued_at')
        batch.drop_column('attempts')
        batch.drop_column('targets')
    with op.batch_alter_table('connection') as batch:
        batch.add_column(sa.Column('webhook_secret', sa.String(length=64), nullable=False, server_default='rotate-me'))
        batch.drop_column('webhook_secret_hash')
