"""Postgres access for webhook endpoints and their deliveries."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, func, select, text, update

from offerhub.adapters.postgres.schema import newest_first_page, webhook_deliveries, webhook_endpoints
from offerhub.core.clock import iso

ENABLED, DISABLED, DELETED = "ENABLED", "DISABLED", "DELETED"
ENDPOINT_STATUSES = (ENABLED, DISABLED, DELETED)
PENDING, SUCCEEDED, FAILED = "PENDING", "SUCCEEDED", "FAILED"
DELIVERY_STATUSES = (PENDING, SUCCEEDED, FAILED)
_INSERT_CHUNK = 1000

we, wd = webhook_endpoints, webhook_deliveries


# --- endpoints -------------------------------------------------------------------------------------------

def lock_registrations(conn: Connection) -> None:
    """Serialises registrations for the transaction (the endpoint limit is counted under it)."""
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('offerhub.webhook_endpoints'))"))


def count_live(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(we).where(we.c.status != DELETED)).scalar_one())


def insert_endpoint(conn: Connection, row: dict[str, Any]) -> dict[str, Any]:
    return dict(conn.execute(we.insert().values(**row).returning(we)).mappings().one())


def get_endpoint(conn: Connection, endpoint_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
    query = select(we).where(we.c.id == endpoint_id)
    row = conn.execute(query.with_for_update() if for_update else query).mappings().first()
    return dict(row) if row else None


def update_endpoint(conn: Connection, endpoint_id: str, **values: Any) -> dict[str, Any]:
    return dict(conn.execute(update(we).where(we.c.id == endpoint_id).values(**values).returning(we))
                .mappings().one())


def search_endpoints(conn: Connection, *, cursor: str | None, limit: int) -> list[dict[str, Any]]:
    query = select(we).where(we.c.status != DELETED)
    return [dict(r) for r in conn.execute(newest_first_page(query, we, cursor=cursor, limit=limit)).mappings()]


def enabled_endpoints(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(we.c.id, we.c.types, we.c.start_sequence).where(we.c.status == ENABLED))
    return [dict(r._mapping) for r in rows]


def endpoint_to_public(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "url": row["url"], "description": row["description"], "types": list(row["types"]),
        "status": row["status"], "secretVersion": row["secret_version"],
        "previousSecretExpiresAt": iso(row["previous_secret_expires_at"]), "createdBy": row["created_by"],
        "failingSince": iso(row["failing_since"]), "disabledAt": iso(row["disabled_at"]),
        "disabledReason": row["disabled_reason"], "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
    }


# --- deliveries ------------------------------------------------------------------------------------------

_FAN_OUT = text("""
INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, status, attempts, next_attempt_at,
                                created_at, updated_at)
SELECT r.id, r.endpoint_id, r.event_id, r.event_type, 'PENDING', 0, :now, :now, :now
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(id text, endpoint_id text, event_id text, event_type text)
ON CONFLICT (endpoint_id, event_id) DO NOTHING
RETURNING id
""")


def insert_deliveries(conn: Connection, rows: Sequence[dict[str, str]], *, now: datetime) -> int:
    """One row per endpoint and event (`id`, `endpoint_id`, `event_id`, `event_type`), due at `now`, in one
    statement per chunk; a pair that already has one (a batch handed out again) is skipped."""
    created = 0
    for start in range(0, len(rows), _INSERT_CHUNK):
        chunk = json.dumps(list(rows[start:start + _INSERT_CHUNK]))
        created += len(conn.execute(_FAN_OUT, {"rows": chunk, "now": now}).all())
    return created


# The claimed deliveries with what an attempt needs: the endpoint (URL, secrets, state) and the event.
_CLAIMED = """
SELECT c.id, c.endpoint_id, c.event_id, c.status, c.attempts, c.created_at, c.claim_token,
       w.url, w.status AS endpoint_status, w.secret_version, w.sealed_secret, w.sealed_key,
       w.previous_secret_version, w.previous_sealed_secret, w.previous_sealed_key, w.previous_secret_expires_at,
       w.failing_since, e.sequence AS event_sequence, e.type AS event_type, e.aggregate_type, e.aggregate_id,
       e.occurred_at, e.data, e.request_id
FROM claimed c JOIN webhook_endpoints w ON w.id = c.endpoint_id JOIN events e ON e.id = c.event_id
"""

_CLAIM_DUE = text("""
WITH due AS (
    SELECT id FROM webhook_deliveries
    WHERE status = 'PENDING' AND next_attempt_at <= :now AND (claimed_until IS NULL OR claimed_until <= :now)
    ORDER BY next_attempt_at
    LIMIT :n
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE webhook_deliveries d SET claim_token = :token, claimed_until = :until, updated_at = :now
    FROM due WHERE d.id = due.id
    RETURNING d.*
)""" + _CLAIMED)

_CLAIM_ONE = text("""
WITH claimed AS (
    UPDATE webhook_deliveries SET claim_token = :token, claimed_until = :until, updated_at = :now
    WHERE id = :id AND (claimed_until IS NULL OR claimed_until <= :now)
    RETURNING *
)""" + _CLAIMED)


def claim_due(conn: Connection, *, now: datetime, until: datetime, token: str, n: int) -> list[dict[str, Any]]:
    """Up to n pending deliveries that are due, claimed until `until`. SKIP LOCKED: two senders claiming at
    once take different rows; the claim itself (a token and a deadline) keeps them from being taken again
    until the attempt is recorded, or until the deadline passes (the sender died)."""
    params = {"now": now, "until": until, "token": token, "n": n}
    return [dict(r) for r in conn.execute(_CLAIM_DUE, params).mappings()]


def claim_one(conn: Connection, delivery_id: str, *, now: datetime, until: datetime, token: str
              ) -> dict[str, Any] | None:
    """This delivery, in whatever state, unless an attempt on it is in flight (a manual retry)."""
    row = conn.execute(_CLAIM_ONE, {"id": delivery_id, "now": now, "until": until, "token": token}
                       ).mappings().first()
    return dict(row) if row else None


def get_delivery(conn: Connection, delivery_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
    query = select(wd).where(wd.c.id == delivery_id)
    row = conn.execute(query.with_for_update() if for_update else query).mappings().first()
    return dict(row) if row else None


def claimed_for_update(conn: Connection, delivery_id: str, token: str) -> dict[str, Any] | None:
    """The delivery, locked, if this claim still holds it."""
    row = conn.execute(select(wd).where(wd.c.id == delivery_id, wd.c.claim_token == token).with_for_update()
                       ).mappings().first()
    return dict(row) if row else None


def release_claim(conn: Connection, delivery_id: str, token: str) -> None:
    """Give the delivery back without an attempt (we could not sign it: the key service failed)."""
    conn.execute(update(wd).where(wd.c.id == delivery_id, wd.c.claim_token == token)
                 .values(claim_token=None, claimed_until=None))


# Delivery rows are locked in id order, here and when an endpoint's pending deliveries are ended (fail_pending):
# two transactions locking several of them can then never wait on each other in a cycle.
_SUCCEEDED = text("""
WITH v AS (
    SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS v(id text, token text, code int, at timestamptz)
), locked AS MATERIALIZED (
    SELECT d.id FROM webhook_deliveries d WHERE d.id IN (SELECT id FROM v) ORDER BY d.id FOR UPDATE
)
UPDATE webhook_deliveries d
SET status = 'SUCCEEDED', attempts = d.attempts + 1, last_status_code = v.code, last_error = NULL,
    last_attempt_at = v.at, delivered_at = v.at, next_attempt_at = NULL, claim_token = NULL, claimed_until = NULL,
    -- a delivery that had already succeeded (a manual resend) keeps the time it first did
    completed_at = CASE WHEN d.status = 'SUCCEEDED' THEN d.completed_at ELSE v.at END, updated_at = v.at
FROM v, locked
WHERE d.id = v.id AND d.id = locked.id AND d.claim_token = v.token
""")


def record_successes(conn: Connection, outcomes: Sequence[tuple[str, str, int, datetime]]) -> None:
    """(delivery id, claim token, HTTP status, when) for each successful attempt, in one statement. A delivery
    whose claim lapsed and was taken by another attempt is left to that one."""
    rows = [{"id": i, "token": t, "code": c, "at": at.isoformat()} for i, t, c, at in outcomes]
    conn.execute(_SUCCEEDED, {"rows": json.dumps(rows)})


def record_failure(conn: Connection, delivery_id: str, *, now: datetime, status: str, status_code: int | None,
                   error: str | None, next_attempt_at: datetime | None, counted: bool = True) -> None:
    values: dict[str, Any] = {
        "status": status, "last_error": (error or "")[:500] or None, "next_attempt_at": next_attempt_at,
        "claim_token": None, "claimed_until": None, "updated_at": now}
    if counted:
        values.update(attempts=wd.c.attempts + 1, last_status_code=status_code, last_attempt_at=now)
    if status != PENDING:
        values["completed_at"] = func.coalesce(wd.c.completed_at, now)
    conn.execute(update(wd).where(wd.c.id == delivery_id).values(**values))


def fail_pending(conn: Connection, endpoint_id: str, *, now: datetime, reason: str) -> int:
    """Every pending delivery of the endpoint ends FAILED (it was disabled or deleted). One being attempted
    right now still records its attempt: a success makes it SUCCEEDED, a failure leaves it FAILED."""
    pending = (select(wd.c.id).where(wd.c.endpoint_id == endpoint_id, wd.c.status == PENDING)
               .order_by(wd.c.id).with_for_update())  # in id order: see _SUCCEEDED
    result = conn.execute(update(wd).where(wd.c.id.in_(pending.scalar_subquery())).values(
        status=FAILED, next_attempt_at=None, completed_at=now, updated_at=now,
        last_error=case((wd.c.attempts == 0, reason), else_=wd.c.last_error)))
    return result.rowcount


def succeeded_since(conn: Connection, endpoint_id: str, since: datetime) -> bool:
    query = select(wd.c.id).where(wd.c.endpoint_id == endpoint_id, wd.c.delivered_at >= since).limit(1)
    return conn.execute(query).first() is not None


def search_deliveries(conn: Connection, endpoint_id: str, *, status: str | None, cursor: str | None, limit: int
                      ) -> list[dict[str, Any]]:
    query = select(wd).where(wd.c.endpoint_id == endpoint_id)
    if status is not None:
        query = query.where(wd.c.status == status)
    return [dict(r) for r in conn.execute(newest_first_page(query, wd, cursor=cursor, limit=limit)).mappings()]


def delivery_of(conn: Connection, endpoint_id: str, delivery_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(wd).where(and_(wd.c.id == delivery_id, wd.c.endpoint_id == endpoint_id))
                       ).mappings().first()
    return dict(row) if row else None


def delivery_to_public(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "endpointId": row["endpoint_id"], "eventId": row["event_id"],
        "eventType": row["event_type"], "status": row["status"], "attempts": row["attempts"],
        "lastStatusCode": row["last_status_code"], "lastError": row["last_error"],
        "nextAttemptAt": iso(row["next_attempt_at"]), "lastAttemptAt": iso(row["last_attempt_at"]),
        "deliveredAt": iso(row["delivered_at"]), "completedAt": iso(row["completed_at"]),
        "createdAt": iso(row["created_at"]), "updatedAt": iso(row["updated_at"]),
    }
