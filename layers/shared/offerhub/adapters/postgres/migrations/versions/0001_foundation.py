"""Foundation: API keys, users, the double-entry ledger, the audit log and the event log.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE TABLE api_keys (
    id            text PRIMARY KEY,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    environment   text NOT NULL CHECK (environment IN ('live', 'test')),
    secret_hash   text NOT NULL,
    scopes        text[] NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    last_used_at  timestamptz
);
CREATE INDEX api_keys_created ON api_keys (created_at DESC, id DESC);

CREATE TABLE users (
    id                text PRIMARY KEY,
    external_user_id  text NOT NULL UNIQUE,
    email             text,
    type              text NOT NULL CHECK (type IN ('BUYER', 'SELLER', 'BOTH')),
    status            text NOT NULL DEFAULT 'ACTIVE',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_created ON users (created_at DESC, id DESC);

-- Double-entry ledger. A user's balance is two accounts (available, reserved); orders, fees and the
-- outside world have their own. The CHECK is what makes overdrafts impossible, whatever the code does.
CREATE TABLE ledger_accounts (
    code            text PRIMARY KEY,
    kind            text NOT NULL,
    owner_id        text,
    currency        text NOT NULL DEFAULT 'USD',
    balance         numeric(20, 2) NOT NULL DEFAULT 0,
    allow_negative  boolean NOT NULL DEFAULT false,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ledger_accounts_balance_non_negative CHECK (allow_negative OR balance >= 0)
);
CREATE INDEX ledger_accounts_owner ON ledger_accounts (owner_id);

CREATE TABLE ledger_transactions (
    id           text PRIMARY KEY,
    type         text NOT NULL,
    description  text,
    reference    text,
    request_id   text,
    actor_id     text,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ledger_entries (
    id              bigserial PRIMARY KEY,
    transaction_id  text NOT NULL REFERENCES ledger_transactions (id),
    account_code    text NOT NULL REFERENCES ledger_accounts (code),
    amount          numeric(20, 2) NOT NULL CHECK (amount <> 0),
    balance_after   numeric(20, 2) NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_entries_account ON ledger_entries (account_code, id DESC);
CREATE INDEX ledger_entries_transaction ON ledger_entries (transaction_id);

-- Every ledger transaction sums to zero, checked at commit.
CREATE FUNCTION ledger_transaction_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT sum(amount) FROM ledger_entries WHERE transaction_id = NEW.transaction_id) <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % does not sum to zero', NEW.transaction_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_transaction_balanced();

-- Append-only tables refuse UPDATE, DELETE and TRUNCATE in the database itself.
CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER ledger_transactions_append_only BEFORE UPDATE OR DELETE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER ledger_transactions_no_truncate BEFORE TRUNCATE ON ledger_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

CREATE TABLE audit_logs (
    id             text PRIMARY KEY,
    occurred_at    timestamptz NOT NULL DEFAULT now(),
    action         text NOT NULL,
    actor_type     text NOT NULL,
    actor_id       text NOT NULL,
    resource_type  text NOT NULL,
    resource_id    text,
    result         text NOT NULL CHECK (result IN ('SUCCESS', 'FAILURE')),
    error          jsonb,
    before         jsonb,
    after          jsonb,
    request_id     text
);
CREATE INDEX audit_logs_occurred ON audit_logs (occurred_at DESC, id DESC);
CREATE INDEX audit_logs_resource ON audit_logs (resource_id, occurred_at DESC);
CREATE TRIGGER audit_logs_append_only BEFORE UPDATE OR DELETE ON audit_logs
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER audit_logs_no_truncate BEFORE TRUNCATE ON audit_logs
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- Event log / transactional outbox. `sequence` is handed out from a single counter row locked until
-- commit, so sequence order is commit order and a reader resuming after an event never skips one.
CREATE TABLE event_sequence (
    id     boolean PRIMARY KEY DEFAULT true CHECK (id),
    value  bigint NOT NULL
);
INSERT INTO event_sequence (id, value) VALUES (true, 0);

CREATE TABLE events (
    id              text PRIMARY KEY,
    sequence        bigint NOT NULL UNIQUE,
    type            text NOT NULL,
    aggregate_type  text NOT NULL,
    aggregate_id    text NOT NULL,
    occurred_at     timestamptz NOT NULL DEFAULT now(),
    data            jsonb NOT NULL,
    request_id      text,
    published_at    timestamptz
);
CREATE INDEX events_aggregate ON events (aggregate_id, sequence);
CREATE INDEX events_type ON events (type, sequence);
CREATE INDEX events_unpublished ON events (sequence) WHERE published_at IS NULL;

-- Only the outbox publisher may touch an event, and only to stamp published_at.
CREATE FUNCTION events_only_publish() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.id, NEW.sequence, NEW.type, NEW.aggregate_type, NEW.aggregate_id, NEW.occurred_at, NEW.data,
        NEW.request_id) IS DISTINCT FROM
       (OLD.id, OLD.sequence, OLD.type, OLD.aggregate_type, OLD.aggregate_id, OLD.occurred_at, OLD.data,
        OLD.request_id) THEN
        RAISE EXCEPTION 'events are append-only' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER events_append_only BEFORE UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION events_only_publish();
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
"""

DOWNGRADE = r"""
DROP TABLE events, event_sequence, audit_logs, ledger_entries, ledger_transactions, ledger_accounts,
    users, api_keys CASCADE;
DROP FUNCTION events_only_publish, refuse_change, ledger_transaction_balanced;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
