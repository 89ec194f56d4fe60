"""Postgres access for top-ups."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, select, update

from offerhub.adapters.postgres.schema import newest_first_page, topups
from offerhub.core.clock import iso, utcnow
from offerhub.core.money import format_amount

# Airtm payins expire after 15 days (reference/providers.md §B.3).
PAYIN_LIFETIME = timedelta(days=15)


def insert(conn: Connection, row: dict[str, Any]) -> dict[str, Any]:
    now = utcnow()
    return dict(conn.execute(topups.insert().values(**row, expires_at=now + PAYIN_LIFETIME, created_at=now,
                                                    updated_at=now).returning(topups)).mappings().one())


def get(conn: Connection, topup_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
    query = select(topups).where(topups.c.id == topup_id)
    row = conn.execute(query.with_for_update() if for_update else query).mappings().first()
    return dict(row) if row else None


def by_payin(conn: Connection, payin_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(topups).where(topups.c.airtm_payin_id == payin_id)).mappings().first()
    return dict(row) if row else None


def exists(conn: Connection, topup_id: str) -> bool:
    return conn.execute(select(topups.c.id).where(topups.c.id == topup_id)).first() is not None


def update_topup(conn: Connection, topup_id: str, **values: Any) -> dict[str, Any]:
    return dict(conn.execute(update(topups).where(topups.c.id == topup_id).values(**values, updated_at=utcnow())
                             .returning(topups)).mappings().one())


def search(conn: Connection, *, user_id: str | None, status: str | None, cursor: str | None, limit: int
           ) -> list[dict[str, Any]]:
    query = select(topups)
    if user_id is not None:
        query = query.where(topups.c.user_id == user_id)
    if status is not None:
        query = query.where(topups.c.status == status)
    return [dict(r) for r in conn.execute(newest_first_page(query, topups, cursor=cursor, limit=limit)).mappings()]


def open_older_than(conn: Connection, age: timedelta, limit: int) -> list[str]:
    """Top-ups not yet terminal whose last change is older than `age`: the reconciliation refreshes them."""
    rows = conn.execute(select(topups.c.id).where(
        topups.c.status.not_in(["TOPUP_SUCCEEDED", "TOPUP_FAILED", "TOPUP_CANCELED"]),
        topups.c.updated_at < utcnow() - age).order_by(topups.c.updated_at).limit(limit))
    return [r.id for r in rows]


def to_public(row: dict[str, Any]) -> dict[str, Any]:
    def money(value: Any) -> str | None:
        return None if value is None else format_amount(value)

    return {
        "id": row["id"], "userId": row["user_id"], "amount": format_amount(row["amount"]), "fee": money(row["fee"]),
        "netAmount": money(row["net_amount"]), "currency": row["currency"], "status": row["status"],
        "description": row["description"], "confirmationUri": row["confirmation_uri"],
        "airtmPayinId": row["airtm_payin_id"], "failureReason": row["failure_reason"],
        "expiresAt": iso(row["expires_at"]), "createdAt": iso(row["created_at"]), "updatedAt": iso(row["updated_at"]),
    }
