"""Airtm mode and withdrawals: Airtm links on users, top-ups (payins), withdrawals (Airtm payouts and Stellar
payments), the escrow provider (Trustless Work or the ledger), and the inbox of provider webhooks.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UPGRADE = r"""
ALTER TABLE users
    ADD COLUMN airtm_user_id   text,
    ADD COLUMN airtm_email     text,
    ADD COLUMN airtm_linked_at timestamptz;

-- Where an order's escrow is held: a Trustless Work contract on Stellar (crypto mode) or the ledger's own
-- escrow account of the order in the ledger (airtm mode).
ALTER TABLE escrows
    ADD COLUMN provider text NOT NULL DEFAULT 'TRUSTLESS_WORK' CHECK (provider IN ('TRUSTLESS_WORK', 'LEDGER'));

-- A top-up is one Airtm payin; `code` on Airtm is our id, so a retried create can never make a second one.
CREATE TABLE topups (
    id                text PRIMARY KEY,
    user_id           text NOT NULL REFERENCES users (id),
    amount            numeric(20, 2) NOT NULL CHECK (amount > 0),
    fee               numeric(20, 2) CHECK (fee >= 0),
    net_amount        numeric(20, 2) CHECK (net_amount >= 0),
    currency          text NOT NULL,
    status            text NOT NULL CHECK (status IN ('TOPUP_CREATED', 'TOPUP_AWAITING_USER_CONFIRMATION',
                          'TOPUP_PROCESSING', 'TOPUP_SUCCEEDED', 'TOPUP_FAILED', 'TOPUP_CANCELED')),
    description       text,
    airtm_payin_id    text UNIQUE,
    confirmation_uri  text,
    failure_reason    text,
    -- the ledger transaction that credited netAmount: set once, when the top-up succeeded
    ledger_transaction_id text UNIQUE,
    expires_at        timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'TOPUP_SUCCEEDED') = (ledger_transaction_id IS NOT NULL))
);
CREATE INDEX topups_created ON topups (created_at DESC, id DESC);
CREATE INDEX topups_user ON topups (user_id, created_at DESC);
CREATE INDEX topups_open ON topups (updated_at)
    WHERE status NOT IN ('TOPUP_SUCCEEDED', 'TOPUP_FAILED', 'TOPUP_CANCELED');

-- A withdrawal holds its amount in its own ledger account (its pending account, owned by the user) from
-- creation until the rail confirms (→ external) or fails (→ back to available).
CREATE TABLE withdrawals (
    id                text PRIMARY KEY,
    user_id           text NOT NULL REFERENCES users (id),
    amount            numeric(20, 2) NOT NULL CHECK (amount > 0),
    fee               numeric(20, 2) CHECK (fee >= 0),
    net_amount        numeric(20, 2) CHECK (net_amount >= 0),
    currency          text NOT NULL,
    status            text NOT NULL CHECK (status IN ('WITHDRAWAL_CREATED', 'WITHDRAWAL_COMMITTED',
                          'WITHDRAWAL_PENDING', 'WITHDRAWAL_COMPLETED', 'WITHDRAWAL_FAILED', 'WITHDRAWAL_CANCELED')),
    destination_type  text NOT NULL CHECK (destination_type IN ('airtm', 'crypto')),
    destination_ref   text NOT NULL,
    memo_type         text CHECK (memo_type IN ('text', 'id')),
    memo              text,
    committed         boolean NOT NULL DEFAULT false,
    description       text,
    failure_reason    text,
    airtm_payout_id   text UNIQUE,
    -- crypto: the signed payment and its hash, recorded before it is sent (a retry resends or confirms it)
    transaction_hash  text,
    signed_xdr        text,
    completed_at      timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX withdrawals_created ON withdrawals (created_at DESC, id DESC);
CREATE INDEX withdrawals_user ON withdrawals (user_id, created_at DESC);
-- One signed payment pays one withdrawal: two same-amount withdrawals to one address, built from one
-- sequence number in the same second, are byte for byte one transaction, and only one may record it.
CREATE UNIQUE INDEX withdrawals_transaction_hash ON withdrawals (transaction_hash) WHERE transaction_hash IS NOT NULL;
CREATE INDEX withdrawals_open ON withdrawals (updated_at)
    WHERE status IN ('WITHDRAWAL_CREATED', 'WITHDRAWAL_COMMITTED', 'WITHDRAWAL_PENDING');
CREATE INDEX ledger_accounts_pending ON ledger_accounts (owner_id) WHERE kind = 'WITHDRAWAL_PENDING';

-- Provider webhooks, recorded once by (provider, event id) before they are queued. The worker marks them
-- processed; a delivery that arrives again while its first copy was never queued is queued again.
CREATE TABLE webhook_inbox (
    provider      text NOT NULL CHECK (provider IN ('AIRTM', 'TRUSTLESS_WORK')),
    event_id      text NOT NULL,
    type          text NOT NULL,
    object_id     text,
    payload       jsonb NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    enqueued_at   timestamptz,
    processed_at  timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text,
    PRIMARY KEY (provider, event_id)
);
"""

DOWNGRADE = r"""
DROP TABLE webhook_inbox, withdrawals, topups CASCADE;
DROP INDEX IF EXISTS ledger_accounts_pending;
ALTER TABLE escrows DROP COLUMN provider;
ALTER TABLE users DROP COLUMN airtm_user_id, DROP COLUMN airtm_email, DROP COLUMN airtm_linked_at;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
