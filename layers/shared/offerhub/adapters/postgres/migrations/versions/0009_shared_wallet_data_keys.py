"""Sign-up without a KMS call (issue 11.3): a wallet's secret may be sealed under a data key shared by many wallets
(adapters/aws/kms.py `seal_shared`), whose KMS encryption context names the purpose, not the wallet. The column
says which way each secret was sealed; rows from before are per-secret keys.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE wallets ADD COLUMN sealed_key_shared boolean NOT NULL DEFAULT false")


def downgrade() -> None:
    # Wallets sealed under a shared key would no longer open: refuse rather than strand their money.
    op.execute("""
    DO $$ BEGIN
      IF EXISTS (SELECT 1 FROM wallets WHERE sealed_key_shared) THEN
        RAISE EXCEPTION 'wallets sealed under shared data keys exist; downgrading would leave them unopenable';
      END IF;
    END $$;
    ALTER TABLE wallets DROP COLUMN sealed_key_shared;
    """)
