"""Postgres access for the ledger."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from offerhub.adapters.postgres import direct
from offerhub.adapters.postgres.schema import ledger_accounts, ledger_entries, ledger_transactions
from offerhub.core.clock import iso, utcnow
from offerhub.core.money import format_amount
from offerhub.ledger.accounts import WITHDRAWAL_PENDING, Account

# Conditional update: a line that would overdraw a non-negative account changes nothing, so the caller can
# report INSUFFICIENT_FUNDS instead of aborting the transaction on the CHECK constraint (still the backstop).
_APPLY_LINE = text(
    """
    UPDATE ledger_accounts SET balance = balance + :amount, updated_at = now()
    WHERE code = :code AND (allow_negative OR balance + :amount >= 0)
    RETURNING balance
    """
)


def open_accounts(conn: Connection, accounts: Iterable[Account]) -> None:
    rows = [
        {"code": a.code, "kind": a.kind, "owner_id": a.owner_id, "currency": "USD", "balance": Decimal(0),
         "allow_negative": a.allow_negative, "updated_at": utcnow()}
        for a in accounts
    ]
    if rows:
        conn.execute(pg_insert(ledger_accounts).on_conflict_do_nothing(index_elements=["code"]), rows)


def apply_line(conn: Connection, code: str, amount: Decimal) -> Decimal | None:
    """New balance, or None when the account is missing or would go below zero."""
    return conn.execute(_APPLY_LINE, {"code": code, "amount": amount}).scalar_one_or_none()


def balance_of(conn: Connection, code: str) -> Decimal | None:
    return conn.execute(
        select(ledger_accounts.c.balance).where(ledger_accounts.c.code == code)
    ).scalar_one_or_none()


# One round trip: the transaction row and its lines (amounts travel as decimal strings, never floats).
_INSERT_TRANSACTION = text(
    """
    WITH t AS (
        INSERT INTO ledger_transactions (id, type, description, reference, request_id, actor_id, created_at)
        VALUES (:id, :type, :description, :reference, :request_id, :actor_id, :now) RETURNING id
    )
    INSERT INTO ledger_entries (transaction_id, account_code, amount, balance_after, created_at)
    SELECT t.id, e.code, e.amount, e.balance_after, :now
    FROM t, jsonb_to_recordset(CAST(:lines AS jsonb)) AS e(code text, amount numeric, balance_after numeric)
    """
)


def insert_transaction(
    conn: Connection,
    *,
    txn_id: str,
    type: str,
    description: str | None,
    reference: str | None,
    request_id: str | None,
    actor_id: str | None,
    lines: Sequence[tuple[str, Decimal, Decimal]],
) -> None:
    conn.execute(_INSERT_TRANSACTION, {
        "id": txn_id, "type": type, "description": description, "reference": reference,
        "request_id": request_id, "actor_id": actor_id, "now": utcnow(),
        "lines": json.dumps([{"code": code, "amount": str(amount), "balance_after": str(after)}
                             for code, amount, after in lines]),
    })


def accounts_of(conn: Connection, codes: Sequence[str], *, for_update: bool = False) -> dict[str, Any]:
    query = select(ledger_accounts).where(ledger_accounts.c.code.in_(list(codes)))
    if for_update:
        query = query.order_by(ledger_accounts.c.code).with_for_update()
    return {r["code"]: r for r in conn.execute(query).mappings().all()}


# A balance read is on the hot path: sent through psycopg directly (offerhub.adapters.postgres.direct).
_BALANCE_ROWS = (
    "SELECT code, kind, balance, updated_at FROM ledger_accounts "
    "WHERE code = ANY(%(codes)s) OR (owner_id = %(owner_id)s AND kind = %(pending)s)"
)


def balance_rows(conn: Connection, user_id: str, codes: Sequence[str]) -> list[dict[str, Any]]:
    """A user's two accounts and their withdrawals' pending accounts, in one round trip."""
    return direct.rows(conn, _BALANCE_ROWS, {"codes": list(codes), "owner_id": user_id, "pending": WITHDRAWAL_PENDING})


def _pending_codes_of(user_id: str) -> Any:
    a = ledger_accounts
    return select(a.c.code).where(a.c.owner_id == user_id, a.c.kind == WITHDRAWAL_PENDING)


_ACCOUNT_NAMES = {"USER_AVAILABLE": "available", "USER_RESERVED": "reserved"}


def entries_for(
    conn: Connection, codes: Sequence[str], *, before_id: int | None, limit: int, owner_id: str | None = None
) -> list[dict[str, Any]]:
    """Lines on these accounts (and, with owner_id, on that user's withdrawals' pending accounts)."""
    e, t, a = ledger_entries, ledger_transactions, ledger_accounts
    query = (
        select(
            e.c.id, e.c.transaction_id, e.c.account_code, e.c.amount, e.c.balance_after, e.c.created_at,
            t.c.type, t.c.description, t.c.reference, t.c.request_id, a.c.kind,
        )
        .join(t, t.c.id == e.c.transaction_id)
        .join(a, a.c.code == e.c.account_code)
        .where(or_(e.c.account_code.in_(list(codes)), e.c.account_code.in_(_pending_codes_of(owner_id)))
               if owner_id else e.c.account_code.in_(list(codes)))
    )
    if before_id is not None:
        query = query.where(e.c.id < before_id)
    rows = conn.execute(query.order_by(e.c.id.desc()).limit(limit)).mappings().all()
    return [
        {
            "id": str(r["id"]),
            "transactionId": r["transaction_id"],
            "account": _ACCOUNT_NAMES.get(r["kind"], "pending"),
            "amount": format_amount(r["amount"]),
            "balanceAfter": format_amount(r["balance_after"]),
            "type": r["type"],
            "description": r["description"],
            "reference": r["reference"],
            "requestId": r["request_id"],
            "createdAt": iso(r["created_at"]),
        }
        for r in rows
    ]
