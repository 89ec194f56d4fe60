"""Crypto mode: wallets, Stellar deposits, orders and milestones, escrows, resumable rail steps, disputes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPGRADE = r"""
-- Invisible Stellar wallets. The secret is sealed with a per-wallet KMS data key (envelope encryption);
-- only the KMS-wrapped data key and the AES-GCM ciphertext are stored.
CREATE TABLE wallets (
    id             text PRIMARY KEY,
    user_id        text UNIQUE REFERENCES users (id),
    kind           text NOT NULL CHECK (kind IN ('USER', 'PLATFORM')),
    public_key     text NOT NULL UNIQUE,
    sealed_secret  bytea NOT NULL,
    sealed_key     bytea NOT NULL,
    status         text NOT NULL CHECK (status IN ('CREATED', 'READY')),
    -- MONITOR_SCAN=wallets: where this wallet's own payment history was read up to, and when.
    payments_cursor  text,
    scanned_at       timestamptz,
    -- USDC the wallet holds beyond its ledger balance, below one cent (Stellar has 7 decimals, the ledger 2).
    dust_stroops     bigint NOT NULL DEFAULT 0 CHECK (dust_stroops >= 0 AND dust_stroops < 100000),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'USER') = (user_id IS NOT NULL))
);
CREATE UNIQUE INDEX wallets_one_platform ON wallets (kind) WHERE kind = 'PLATFORM';
CREATE INDEX wallets_scan_order ON wallets (scanned_at NULLS FIRST, id) WHERE kind = 'USER';

-- A deposit is credited once per Stellar payment operation (not per transaction).
CREATE TABLE stellar_deposits (
    operation_id      text PRIMARY KEY,
    transaction_hash  text NOT NULL,
    wallet_id         text NOT NULL REFERENCES wallets (id),
    user_id           text NOT NULL REFERENCES users (id),
    amount            numeric(20, 2) NOT NULL CHECK (amount >= 0),
    -- null when the payment was below one cent: it only added to the wallet's carried dust
    ledger_transaction_id text,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stellar_deposits_user ON stellar_deposits (user_id, created_at DESC);

CREATE TABLE monitor_cursors (
    name        text PRIMARY KEY,
    cursor      text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE orders (
    id                text PRIMARY KEY,
    client_order_ref  text UNIQUE,
    buyer_id          text NOT NULL REFERENCES users (id),
    seller_id         text NOT NULL REFERENCES users (id),
    amount            numeric(20, 2) NOT NULL CHECK (amount > 0),
    currency          text NOT NULL,
    status            text NOT NULL,
    outcome           text,
    -- While a money movement runs on chain the order is leased (not locked: a Lambda holds one connection
    -- and must not keep a transaction open across HTTP calls). A crashed run's lease simply expires.
    lease_until       timestamptz,
    title             text NOT NULL,
    description       text,
    metadata          jsonb,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (buyer_id <> seller_id)
);
CREATE INDEX orders_created ON orders (created_at DESC, id DESC);
CREATE INDEX orders_buyer ON orders (buyer_id, created_at DESC);
CREATE INDEX orders_seller ON orders (seller_id, created_at DESC);
CREATE INDEX orders_status ON orders (status, created_at DESC);

CREATE TABLE order_milestones (
    order_id      text NOT NULL REFERENCES orders (id),
    position      integer NOT NULL,
    ref           text NOT NULL,
    title         text NOT NULL,
    amount        numeric(20, 2) NOT NULL CHECK (amount > 0),
    status        text NOT NULL CHECK (status IN ('OPEN', 'COMPLETED')),
    completed_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, ref),
    UNIQUE (order_id, position)
);

CREATE TABLE escrows (
    id                    text PRIMARY KEY,
    order_id              text NOT NULL UNIQUE REFERENCES orders (id),
    contract_id           text UNIQUE,
    status                text NOT NULL,
    amount                numeric(20, 2) NOT NULL CHECK (amount > 0),
    platform_fee_percent  numeric(5, 2) NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    funded_at             timestamptz,
    released_at           timestamptz,
    refunded_at           timestamptz
);

-- One row per on-chain step of an order (deploy, fund, each milestone's status and approval, release,
-- dispute, resolve). The signed transaction and its hash are stored before submission, so a retry can
-- ask the chain whether it landed instead of signing (and paying) again.
CREATE TABLE rail_steps (
    order_id    text NOT NULL REFERENCES orders (id),
    step        text NOT NULL,
    signer      text NOT NULL,
    tx_hash     text NOT NULL,
    signed_xdr  text NOT NULL,
    status      text NOT NULL CHECK (status IN ('SUBMITTED', 'CONFIRMED')),
    result      jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, step)
);

CREATE TABLE disputes (
    id              text PRIMARY KEY,
    order_id        text NOT NULL REFERENCES orders (id),
    opened_by       text NOT NULL CHECK (opened_by IN ('BUYER', 'SELLER')),
    reason          text NOT NULL,
    evidence        jsonb NOT NULL DEFAULT '[]',
    status          text NOT NULL CHECK (status IN ('OPEN', 'RESOLVING', 'RESOLVED')),
    decision        text CHECK (decision IN ('FULL_RELEASE', 'FULL_REFUND', 'SPLIT')),
    release_amount  numeric(20, 2),
    refund_amount   numeric(20, 2),
    decision_note   text,
    resolved_by     text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz
);
CREATE UNIQUE INDEX disputes_one_per_order ON disputes (order_id);
CREATE INDEX disputes_created ON disputes (created_at DESC, id DESC);

CREATE TABLE dispute_comments (
    id          text PRIMARY KEY,
    dispute_id  text NOT NULL REFERENCES disputes (id),
    author_id   text NOT NULL,
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dispute_comments_dispute ON dispute_comments (dispute_id, created_at);
"""

DOWNGRADE = r"""
DROP TABLE dispute_comments, disputes, rail_steps, escrows, order_milestones, orders, monitor_cursors,
    stellar_deposits, wallets CASCADE;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
