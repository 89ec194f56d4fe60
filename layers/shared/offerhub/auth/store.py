"""Postgres access for API keys."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, text, update

from offerhub.adapters.postgres.schema import api_keys, newest_first_page
from offerhub.core.clock import iso, utcnow


def insert_key(conn: Connection, *, key_id: str, name: str, environment: str, secret_hash: str,
               scopes: list[str]) -> dict[str, Any]:
    row = conn.execute(
        insert(api_keys)
        .values(id=key_id, name=name, environment=environment, secret_hash=secret_hash, scopes=scopes,
                created_at=utcnow())
        .returning(api_keys)
    ).mappings().one()
    return dict(row)


def by_id(conn: Connection, key_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).mappings().first()
    return dict(row) if row else None


def revoke(conn: Connection, key_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .returning(api_keys)
    ).mappings().first()
    return dict(row) if row else None


TOUCH_RESOLUTION = timedelta(seconds=60)
_TOUCH = text(
    "UPDATE api_keys SET last_used_at = now() WHERE id = :id "
    "AND (last_used_at IS NULL OR last_used_at < now() - interval '60 seconds')"
)


def stale_use(last_used_at: datetime | None) -> bool:
    """Whether last_used_at is worth an UPDATE (the row just read says; the UPDATE re-checks in SQL)."""
    return last_used_at is None or utcnow() - last_used_at >= TOUCH_RESOLUTION


def touch(conn: Connection, key_id: str) -> None:
    """last_used_at at one-minute resolution, so a busy key is not rewritten on every request."""
    conn.execute(_TOUCH, {"id": key_id})


def page(conn: Connection, *, cursor: str | None, limit: int) -> list[dict[str, Any]]:
    query = newest_first_page(select(api_keys), api_keys, cursor=cursor, limit=limit)
    return [dict(r) for r in conn.execute(query).mappings().all()]


def to_public(row: dict[str, Any]) -> dict[str, Any]:
    """Never the secret nor its hash."""
    return {
        "id": row["id"],
        "name": row["name"],
        "environment": row["environment"],
        "scopes": list(row["scopes"]),
        "status": "REVOKED" if row["revoked_at"] else "ACTIVE",
        "createdAt": iso(row["created_at"]),
        "lastUsedAt": iso(row["last_used_at"]),
        "revokedAt": iso(row["revoked_at"]),
    }
