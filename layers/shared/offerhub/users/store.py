"""Postgres access for users."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from offerhub.adapters.postgres.schema import newest_first_page, users
from offerhub.core.clock import iso, utcnow


def insert_if_new(conn: Connection, row: dict[str, Any]) -> dict[str, Any] | None:
    """The new row, or None when the externalUserId already exists (concurrent creates are safe)."""
    now = utcnow()
    stmt = (
        pg_insert(users)
        .values(**row, status="ACTIVE", created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["external_user_id"])
        .returning(users)
    )
    result = conn.execute(stmt).mappings().first()
    return dict(result) if result else None


def by_external_id(conn: Connection, external_user_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(users).where(users.c.external_user_id == external_user_id)).mappings().first()
    return dict(row) if row else None


def by_id(conn: Connection, user_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(users).where(users.c.id == user_id)).mappings().first()
    return dict(row) if row else None


def exists(conn: Connection, user_id: str) -> bool:
    return conn.execute(select(users.c.id).where(users.c.id == user_id)).first() is not None


def search(
    conn: Connection, *, external_user_id: str | None, cursor: str | None, limit: int
) -> list[dict[str, Any]]:
    query = select(users)
    if external_user_id is not None:
        query = query.where(users.c.external_user_id == external_user_id)
    query = newest_first_page(query, users, cursor=cursor, limit=limit)
    return [dict(r) for r in conn.execute(query).mappings().all()]


def set_airtm_link(conn: Connection, user_id: str, airtm_user_id: str, email: str) -> dict[str, Any]:
    now = utcnow()
    row = conn.execute(update(users).where(users.c.id == user_id)
                       .values(airtm_user_id=airtm_user_id, airtm_email=email, airtm_linked_at=now, updated_at=now)
                       .returning(users)).mappings().one()
    return dict(row)


def to_public(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "externalUserId": row["external_user_id"],
        "email": row["email"],
        "type": row["type"],
        "status": row["status"],
        "airtmLinked": row.get("airtm_user_id") is not None,
        "airtmUserId": row.get("airtm_user_id"),
        "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
    }
