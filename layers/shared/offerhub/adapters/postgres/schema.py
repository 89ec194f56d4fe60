"""Table definitions for queries (SQLAlchemy Core). The DDL itself lives in the migrations."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    SmallInteger,
    Table,
    Text,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.sql import Select

metadata = MetaData()

Money = Numeric(20, 2, asdecimal=True)
Timestamp = DateTime(timezone=True)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("environment", Text, nullable=False),
    Column("secret_hash", Text, nullable=False),
    Column("scopes", ARRAY(Text), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("revoked_at", Timestamp),
    Column("last_used_at", Timestamp),
)

# Rate limit counters (offerhub.auth.limits; migration 0006). Unlogged: a crash forgets a window's counts.
rate_limit_counters = Table(
    "rate_limit_counters",
    metadata,
    Column("subject", Text, primary_key=True),
    Column("bucket", Text, primary_key=True),
    Column("shard", SmallInteger, primary_key=True),
    Column("window_start", Timestamp, nullable=False),
    Column("hits", Integer, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Text, primary_key=True),
    Column("external_user_id", Text, nullable=False, unique=True),
    Column("email", Text),
    Column("type", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("airtm_user_id", Text),
    Column("airtm_email", Text),
    Column("airtm_linked_at", Timestamp),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

ledger_accounts = Table(
    "ledger_accounts",
    metadata,
    Column("code", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("owner_id", Text),
    Column("currency", Text, nullable=False),
    Column("balance", Money, nullable=False),
    Column("allow_negative", Boolean, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

ledger_transactions = Table(
    "ledger_transactions",
    metadata,
    Column("id", Text, primary_key=True),
    Column("type", Text, nullable=False),
    Column("description", Text),
    Column("reference", Text),
    Column("request_id", Text),
    Column("actor_id", Text),
    Column("created_at", Timestamp, nullable=False),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("transaction_id", Text, ForeignKey("ledger_transactions.id"), nullable=False),
    Column("account_code", Text, ForeignKey("ledger_accounts.code"), nullable=False),
    Column("amount", Money, nullable=False),
    Column("balance_after", Money, nullable=False),
    Column("created_at", Timestamp, nullable=False),
)

audit_logs = Table(
    "audit_logs",
    metadata,
    Column("id", Text, primary_key=True),
    Column("occurred_at", Timestamp, nullable=False),
    Column("action", Text, nullable=False),
    Column("actor_type", Text, nullable=False),
    Column("actor_id", Text, nullable=False),
    Column("resource_type", Text, nullable=False),
    Column("resource_id", Text),
    Column("result", Text, nullable=False),
    Column("error", JSONB),
    Column("before", JSONB),
    Column("after", JSONB),
    Column("request_id", Text),
)

events = Table(
    "events",
    metadata,
    Column("id", Text, primary_key=True),
    Column("sequence", BigInteger, nullable=False, unique=True),
    Column("type", Text, nullable=False),
    Column("aggregate_type", Text, nullable=False),
    Column("aggregate_id", Text, nullable=False),
    Column("occurred_at", Timestamp, nullable=False),
    Column("data", JSONB, nullable=False),
    Column("request_id", Text),
    Column("published_at", Timestamp),
)

wallets = Table(
    "wallets",
    metadata,
    Column("id", Text, primary_key=True),
    Column("user_id", Text),
    Column("kind", Text, nullable=False),
    Column("public_key", Text, nullable=False),
    Column("sealed_secret", LargeBinary, nullable=False),
    Column("sealed_key", LargeBinary, nullable=False),
    Column("sealed_key_shared", Boolean, nullable=False),  # sealed by KmsEnvelope.seal_shared (migration 0009)
    Column("status", Text, nullable=False),
    Column("payments_cursor", Text),
    Column("scanned_at", Timestamp),
    Column("dust_stroops", BigInteger, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

stellar_deposits = Table(
    "stellar_deposits",
    metadata,
    Column("operation_id", Text, primary_key=True),
    Column("transaction_hash", Text, nullable=False),
    Column("wallet_id", Text, nullable=False),
    Column("user_id", Text),  # None: a payment to the platform wallet
    Column("amount", Money, nullable=False),
    Column("ledger_transaction_id", Text),
    Column("created_at", Timestamp, nullable=False),
)

monitor_cursors = Table(
    "monitor_cursors",
    metadata,
    Column("name", Text, primary_key=True),
    Column("cursor", Text, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

orders = Table(
    "orders",
    metadata,
    Column("id", Text, primary_key=True),
    Column("client_order_ref", Text),
    Column("buyer_id", Text, nullable=False),
    Column("seller_id", Text, nullable=False),
    Column("amount", Money, nullable=False),
    Column("currency", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("outcome", Text),
    Column("lease_until", Timestamp),
    Column("title", Text, nullable=False),
    Column("description", Text),
    Column("metadata", JSONB),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

order_milestones = Table(
    "order_milestones",
    metadata,
    Column("order_id", Text, primary_key=True),
    Column("ref", Text, primary_key=True),
    Column("position", Integer, nullable=False),
    Column("title", Text, nullable=False),
    Column("amount", Money, nullable=False),
    Column("status", Text, nullable=False),
    Column("completed_at", Timestamp),
    Column("created_at", Timestamp, nullable=False),
)

escrows = Table(
    "escrows",
    metadata,
    Column("id", Text, primary_key=True),
    Column("order_id", Text, nullable=False),
    Column("contract_id", Text),
    Column("provider", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("amount", Money, nullable=False),
    Column("platform_fee_percent", Numeric(5, 2, asdecimal=True), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("funded_at", Timestamp),
    Column("released_at", Timestamp),
    Column("refunded_at", Timestamp),
)

rail_steps = Table(
    "rail_steps",
    metadata,
    Column("order_id", Text, primary_key=True),
    Column("step", Text, primary_key=True),
    Column("signer", Text, nullable=False),
    Column("tx_hash", Text, nullable=False),
    Column("signed_xdr", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("result", JSONB),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

disputes = Table(
    "disputes",
    metadata,
    Column("id", Text, primary_key=True),
    Column("order_id", Text, nullable=False),
    Column("opened_by", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("evidence", JSONB, nullable=False),
    Column("status", Text, nullable=False),
    Column("decision", Text),
    Column("release_amount", Money),
    Column("refund_amount", Money),
    Column("decision_note", Text),
    Column("resolved_by", Text),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("resolved_at", Timestamp),
    Column("assigned_to", Text),  # 0007: the support agent reviewing it (POST /disputes/{id}/assign)
    Column("assigned_at", Timestamp),
)

dispute_comments = Table(
    "dispute_comments",
    metadata,
    Column("id", Text, primary_key=True),
    Column("dispute_id", Text, nullable=False),
    Column("author_id", Text, nullable=False),
    Column("author_role", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", Timestamp, nullable=False),
)

topups = Table(
    "topups",
    metadata,
    Column("id", Text, primary_key=True),
    Column("user_id", Text, nullable=False),
    Column("amount", Money, nullable=False),
    Column("fee", Money),
    Column("net_amount", Money),
    Column("currency", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("description", Text),
    Column("airtm_payin_id", Text),
    Column("confirmation_uri", Text),
    Column("failure_reason", Text),
    Column("ledger_transaction_id", Text),
    Column("expires_at", Timestamp),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

withdrawals = Table(
    "withdrawals",
    metadata,
    Column("id", Text, primary_key=True),
    Column("user_id", Text, nullable=False),
    Column("amount", Money, nullable=False),
    Column("fee", Money),
    Column("net_amount", Money),
    Column("currency", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("destination_type", Text, nullable=False),
    Column("destination_ref", Text, nullable=False),
    Column("memo_type", Text),
    Column("memo", Text),
    Column("committed", Boolean, nullable=False),
    Column("description", Text),
    Column("failure_reason", Text),
    Column("airtm_payout_id", Text),
    Column("transaction_hash", Text),
    Column("signed_xdr", Text),
    Column("completed_at", Timestamp),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

webhook_inbox = Table(
    "webhook_inbox",
    metadata,
    Column("provider", Text, primary_key=True),
    Column("event_id", Text, primary_key=True),
    Column("type", Text, nullable=False),
    Column("object_id", Text),
    Column("payload", JSONB, nullable=False),
    Column("received_at", Timestamp, nullable=False),
    Column("enqueued_at", Timestamp),
    Column("processed_at", Timestamp),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
)


# Outbound webhooks to integrators (offerhub.outbound; migration 0005).
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", Text, primary_key=True),
    Column("url", Text, nullable=False),
    Column("description", Text),
    Column("types", ARRAY(Text), nullable=False),
    Column("status", Text, nullable=False),
    Column("secret_version", Integer, nullable=False),
    Column("sealed_secret", LargeBinary),
    Column("sealed_key", LargeBinary),
    Column("previous_secret_version", Integer),
    Column("previous_sealed_secret", LargeBinary),
    Column("previous_sealed_key", LargeBinary),
    Column("previous_secret_expires_at", Timestamp),
    Column("start_sequence", BigInteger, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("failing_since", Timestamp),
    Column("disabled_at", Timestamp),
    Column("disabled_reason", Text),
    Column("deleted_at", Timestamp),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Text, primary_key=True),
    Column("endpoint_id", Text, ForeignKey("webhook_endpoints.id"), nullable=False),
    Column("event_id", Text, ForeignKey("events.id"), nullable=False),
    Column("event_type", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("next_attempt_at", Timestamp),
    Column("claim_token", Text),
    Column("claimed_until", Timestamp),
    Column("last_attempt_at", Timestamp),
    Column("delivered_at", Timestamp),
    Column("completed_at", Timestamp),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)


def newest_first_page(query: Select, table: Table, *, cursor: str | None, limit: int) -> Select:
    """A page of a list ordered (created, id) DESC, starting strictly after the cursor row (keyset).

    Stable under inserts: a row created after the walk began sorts before the cursor and never shows up.
    """
    created = table.c.occurred_at if "occurred_at" in table.c else table.c.created_at
    if cursor:
        anchor = select(created, table.c.id).where(table.c.id == cursor).scalar_subquery()
        query = query.where(tuple_(created, table.c.id) < anchor)
    return query.order_by(created.desc(), table.c.id.desc()).limit(limit)
