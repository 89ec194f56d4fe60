"""Postgres access for withdrawals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError

from offerhub.adapters.postgres.schema import newest_first_page, withdrawals
from offerhub.core.clock import iso, utcnow
from offerhub.core.money import format_amount

OPEN = ("WITHDRAWAL_CREATED", "WITHDRAWAL_COMMITTED", "WITHDRAWAL_PENDING")


def insert(conn: Connection, row: dict[str, Any]) -> dict[str, Any]:
    now = utcnow()
    return dict(conn.execute(withdrawals.insert().values(**row, created_at=now, updated_at=now)
                             .returning(withdrawals)).mappings().one())


def get(conn: Connection, withdrawal_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
    query = select(withdrawals).where(withdrawals.c.id == withdrawal_id)
    row = conn.execute(query.with_for_update() if for_update else query).mappings().first()
    return dict(row) if row else None


def by_payout(conn: Connection, payout_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(withdrawals).where(withdrawals.c.airtm_payout_id == payout_id)).mappings().first()
    return dict(row) if row else None


def exists(conn: Connection, withdrawal_id: str) -> bool:
    return conn.execute(select(withdrawals.c.id).where(withdrawals.c.id == withdrawal_id)).first() is not None


def update_withdrawal(conn: Connection, withdrawal_id: str, **values: Any) -> dict[str, Any]:
    return dict(conn.execute(update(withdrawals).where(withdrawals.c.id == withdrawal_id)
                             .values(**values, updated_at=utcnow()).returning(withdrawals)).mappings().one())


RECORDED, LOST, TAKEN = "recorded", "lost", "taken"


def record_payment(conn: Connection, withdrawal_id: str, tx_hash: str, signed_xdr: str,
                   replacing: str | None) -> str:
    """Record the signed payment before it is sent. Compare-and-swap on the hash it replaces (None for the
    first), so two concurrent commits can never both record (and send) an envelope of their own: LOST means
    another request recorded one first. TAKEN: this very transaction is another withdrawal's (the unique
    index on the hash)."""
    w = withdrawals
    query = update(w).where(w.c.id == withdrawal_id, (w.c.transaction_hash == replacing) if replacing
                            else w.c.transaction_hash.is_(None))
    try:
        with conn.begin_nested():
            result = conn.execute(query.values(transaction_hash=tx_hash, signed_xdr=signed_xdr, updated_at=utcnow()))
    except IntegrityError:
        return TAKEN
    return RECORDED if result.rowcount == 1 else LOST


def search(conn: Connection, *, user_id: str | None, status: str | None, cursor: str | None, limit: int
           ) -> list[dict[str, Any]]:
    query = select(withdrawals)
    if user_id is not None:
        query = query.where(withdrawals.c.user_id == user_id)
    if status is not None:
        query = query.where(withdrawals.c.status == status)
    return [dict(r) for r in conn.execute(newest_first_page(query, withdrawals, cursor=cursor, limit=limit))
            .mappings()]


def open_older_than(conn: Connection, age: timedelta, limit: int) -> list[str]:
    """Withdrawals in flight whose last change is older than `age` (the reconciliation finishes them)."""
    w = withdrawals
    rows = conn.execute(select(w.c.id).where(w.c.status.in_(OPEN), w.c.updated_at < utcnow() - age)
                        .order_by(w.c.updated_at).limit(limit))
    return [r.id for r in rows]


def to_public(row: dict[str, Any]) -> dict[str, Any]:
    def money(value: Any) -> str | None:
        return None if value is None else format_amount(value)

    return {
        "id": row["id"], "userId": row["user_id"], "amount": format_amount(row["amount"]), "fee": money(row["fee"]),
        "netAmount": money(row["net_amount"]), "currency": row["currency"], "status": row["status"],
        "destinationType": row["destination_type"], "destinationRef": row["destination_ref"],
        "memo": row["memo"], "memoType": row["memo_type"], "committed": row["committed"],
        "description": row["description"], "airtmPayoutId": row["airtm_payout_id"],
        "transactionHash": row["transaction_hash"], "failureReason": row["failure_reason"],
        "completedAt": iso(row["completed_at"]), "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
    }
