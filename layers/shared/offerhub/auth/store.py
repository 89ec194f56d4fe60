"""Postgres access for API keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, text, update

from offerhub.adapters.postgres import direct
from offerhub.adapters.postgres.schema import api_keys, newest_first_page
from offerhub.auth.limits import key_subject
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


# One statement authenticates a request: it reads the key row and moves last_used_at on (at one-minute resolution,
# so a busy key is not rewritten on every request: the UPDATE matches no row in between). Sent outside a
# transaction (autocommit), it is the request's only round trip for both. With the limiter on, the function
# rate_limit_admit (migration 0006) does the same and counts the request, in one call: still one round trip.
_AUTHENTICATE = text("""
WITH key AS (
    SELECT id, name, scopes, secret_hash, revoked_at, last_used_at FROM api_keys WHERE id = :key_id
),
touched AS (
    UPDATE api_keys SET last_used_at = now()
    WHERE id = :key_id AND secret_hash = :secret_hash AND revoked_at IS NULL
      AND (last_used_at IS NULL OR last_used_at < now() - interval '60 seconds')
    RETURNING id
)
SELECT id, name, scopes, secret_hash, revoked_at, last_used_at FROM key""")
# On every request: sent through psycopg directly (offerhub.adapters.postgres.direct), hence `%(name)s`.
_AUTHENTICATE_AND_COUNT = (
    "SELECT * FROM rate_limit_admit(%(key_id)s, %(secret_hash)s, %(key_subject)s, %(key_bucket)s, %(ip_subject)s, "
    "CAST(%(shard)s AS smallint), CAST(%(window_start)s AS timestamptz))"
)
_COUNT = (
    "SELECT * FROM rate_limit_count(%(subject)s, %(bucket)s, CAST(%(shard)s AS smallint), "
    "CAST(%(window_start)s AS timestamptz), CAST(%(stale_before)s AS timestamptz))"
)


@dataclass(frozen=True)
class Counter:
    """Where this request counts unless its key authenticates: the key's bucket, the IP to fall back on."""

    key_bucket: str
    ip_subject: str
    shard: int
    window_start: datetime


def authenticate_row(conn: Connection, key_id: str, secret_hash: str) -> dict[str, Any] | None:
    """The key row (None if there is none), last_used_at moved on when stale."""
    row = conn.execute(_AUTHENTICATE, {"key_id": key_id, "secret_hash": secret_hash}).mappings().first()
    return dict(row) if row else None


def authenticate_and_count(conn: Connection, key_id: str, secret_hash: str, counter: Counter) -> dict[str, Any]:
    """As authenticate_row, and the request counted: against the key when its hash matches an unrevoked row, else
    against the IP. The row has `counted_bucket`, `window_start`, `used` (this request included) and the key's
    columns (all None when there is no such key)."""
    return direct.one(conn, _AUTHENTICATE_AND_COUNT, {
        "key_id": key_id, "secret_hash": secret_hash, "key_subject": key_subject(key_id),
        "key_bucket": counter.key_bucket, "ip_subject": counter.ip_subject, "shard": counter.shard,
        "window_start": counter.window_start,
    })


def count(conn: Connection, *, subject: str, bucket: str, shard: int, window_start: datetime,
          stale_before: datetime | None = None) -> dict[str, Any]:
    """Count one request against a subject with no key row (the master key, a source IP): `window_start` and
    `used`. With `stale_before`, the same statement also prunes a few rows older than that."""
    return direct.one(conn, _COUNT, {"subject": subject, "bucket": bucket, "shard": shard,
                                     "window_start": window_start, "stale_before": stale_before})


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
