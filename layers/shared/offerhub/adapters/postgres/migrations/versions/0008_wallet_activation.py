"""Sign-up off the critical path (issue 11.3): a wallet is activated on chain by a queue worker after POST /users
returns, so a wallet reports `CREATED → ACTIVE` (upstream's wording: its wallets are "active"); `READY` was the
name of `ACTIVE` before.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UPGRADE = r"""
ALTER TABLE wallets DROP CONSTRAINT wallets_status_check;
UPDATE wallets SET status = 'ACTIVE' WHERE status = 'READY';
ALTER TABLE wallets ADD CONSTRAINT wallets_status_check CHECK (status IN ('CREATED', 'ACTIVE'));
-- The reconciliation re-queues activations that stalled (wallets/activation.requeue_stalled): few rows, read often.
CREATE INDEX wallets_awaiting_activation ON wallets (created_at) WHERE status = 'CREATED';
"""

DOWNGRADE = r"""
DROP INDEX IF EXISTS wallets_awaiting_activation;
ALTER TABLE wallets DROP CONSTRAINT wallets_status_check;
UPDATE wallets SET status = 'READY' WHERE status = 'ACTIVE';
ALTER TABLE wallets ADD CONSTRAINT wallets_status_check CHECK (status IN ('CREATED', 'READY'));
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
