"""Outbound webhooks to integrators: the endpoints (signing secrets sealed with KMS) and one delivery per
endpoint and event, with its attempts, its retry schedule and its claim.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UPGRADE = r"""
-- An endpoint's signing secret is sealed with KMS (envelope encryption; the context names the endpoint and the
-- secret's version). During a rotation the previous secret keeps signing until previous_secret_expires_at.
CREATE TABLE webhook_endpoints (
    id                         text PRIMARY KEY,
    url                        text NOT NULL,
    description                text,
    types                      text[] NOT NULL,
    status                     text NOT NULL CHECK (status IN ('ENABLED', 'DISABLED', 'DELETED')),
    secret_version             integer NOT NULL CHECK (secret_version > 0),
    sealed_secret              bytea,
    sealed_key                 bytea,
    previous_secret_version    integer,
    previous_sealed_secret     bytea,
    previous_sealed_key        bytea,
    previous_secret_expires_at timestamptz,
    -- events with a higher sequence are delivered to it (those committed after it was created)
    start_sequence             bigint NOT NULL,
    created_by                 text NOT NULL,
    -- the first failed attempt since the last success (the disable rule)
    failing_since              timestamptz,
    disabled_at                timestamptz,
    disabled_reason            text,
    deleted_at                 timestamptz,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'DELETED') = (sealed_secret IS NULL)),
    CHECK ((previous_sealed_secret IS NULL) = (previous_secret_expires_at IS NULL))
);
CREATE INDEX webhook_endpoints_created ON webhook_endpoints (created_at DESC, id DESC) WHERE status <> 'DELETED';

CREATE TABLE webhook_deliveries (
    id               text PRIMARY KEY,
    endpoint_id      text NOT NULL REFERENCES webhook_endpoints (id),
    event_id         text NOT NULL REFERENCES events (id),
    event_type       text NOT NULL,
    status           text NOT NULL CHECK (status IN ('PENDING', 'SUCCEEDED', 'FAILED')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_status_code integer,
    last_error       text,
    next_attempt_at  timestamptz,
    -- who is sending it right now, and until when (a sender that died lets its claim run out)
    claim_token      text,
    claimed_until    timestamptz,
    last_attempt_at  timestamptz,
    delivered_at     timestamptz,
    completed_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (endpoint_id, event_id),
    CHECK ((status = 'PENDING') = (next_attempt_at IS NOT NULL))
);
-- The senders' claim: the pending deliveries that are due, oldest due first.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'PENDING';
-- An endpoint's deliveries, newest first (the API's list; the disable rule's look for a recent success).
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);
"""

DOWNGRADE = r"""
DROP TABLE webhook_deliveries, webhook_endpoints;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
