"""Postgres access for the audit log. Rows are only ever inserted (the database refuses the rest)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, text

from offerhub.adapters.postgres.schema import audit_logs, newest_first_page
from offerhub.core.clock import iso, utcnow
from offerhub.core.context import RequestContext
from offerhub.core.ids import new_id


@dataclass(frozen=True)
class AuditFilter:
    resource_type: str | None = None
    resource_id: str | None = None
    action: str | None = None
    actor_id: str | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None
    # Upstream's userId: the rows about that user (their User and Balance rows are keyed by the user id).
    user_id: str | None = None


def new_row(
    ctx: RequestContext,
    *,
    action: str,
    resource_type: str,
    resource_id: str | None,
    result: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An audit row, stamped now: what `insert_row` writes at once and a unit of work at its commit."""
    return {"id": new_id("aud"), "occurred_at": utcnow(), "action": action, "actor_type": ctx.actor.type,
            "actor_id": ctx.actor.id, "resource_type": resource_type, "resource_id": resource_id, "result": result,
            "before": before, "after": after, "error": error, "request_id": ctx.request_id}


def insert_row(conn: Connection, ctx: RequestContext, **fields: Any) -> str:
    """One audit row written now (a refused action's, in a transaction of its own); the same statement as a unit of
    work's rows at its commit."""
    row = new_row(ctx, **fields)
    insert_rows(conn, [row])
    return row["id"]


# A unit of work's audit rows in one statement, from one JSON parameter (events/store.py makes it a part of the
# events' append when the unit of work has events too: one round trip for both). A JSON null stays a JSON null, as
# SQLAlchemy's JSONB writes it.
INSERT_ROWS = """
    INSERT INTO audit_logs (id, occurred_at, action, actor_type, actor_id, resource_type, resource_id, result,
                            error, before, after, request_id)
    SELECT a.id, a.occurred_at, a.action, a.actor_type, a.actor_id, a.resource_type, a.resource_id, a.result,
           coalesce(a.error, 'null'), coalesce(a.before, 'null'), coalesce(a.after, 'null'), a.request_id
    FROM jsonb_to_recordset(CAST(:audit AS jsonb)) AS a(
        id text, occurred_at timestamptz, action text, actor_type text, actor_id text, resource_type text,
        resource_id text, result text, error jsonb, before jsonb, after jsonb, request_id text)
"""
_INSERT_ROWS = text(INSERT_ROWS)


def rows_parameter(rows: list[dict[str, Any]]) -> dict[str, str]:
    return {"audit": json.dumps([{**r, "occurred_at": r["occurred_at"].isoformat()} for r in rows])}


def insert_rows(conn: Connection, rows: list[dict[str, Any]]) -> None:
    conn.execute(_INSERT_ROWS, rows_parameter(rows))


def get(conn: Connection, audit_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(audit_logs).where(audit_logs.c.id == audit_id)).mappings().first()
    return to_public(row) if row else None


def search(conn: Connection, f: AuditFilter, *, cursor: str | None, limit: int) -> list[dict[str, Any]]:
    query = select(audit_logs)
    for column, value in (
        (audit_logs.c.resource_type, f.resource_type),
        (audit_logs.c.resource_id, f.resource_id),
        (audit_logs.c.action, f.action),
        (audit_logs.c.actor_id, f.actor_id),
        (audit_logs.c.resource_id, f.user_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if f.occurred_from:
        query = query.where(audit_logs.c.occurred_at >= f.occurred_from)
    if f.occurred_to:
        query = query.where(audit_logs.c.occurred_at <= f.occurred_to)
    query = newest_first_page(query, audit_logs, cursor=cursor, limit=limit)
    return [to_public(r) for r in conn.execute(query).mappings().all()]


def exists(conn: Connection, audit_id: str) -> bool:
    return conn.execute(select(audit_logs.c.id).where(audit_logs.c.id == audit_id)).first() is not None


def to_public(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "occurredAt": iso(row["occurred_at"]),
        "action": row["action"],
        "actorType": row["actor_type"],
        "actorId": row["actor_id"],
        "resourceType": row["resource_type"],
        "resourceId": row["resource_id"],
        "result": row["result"],
        "error": row["error"],
        "before": row["before"],
        "after": row["after"],
        "requestId": row["request_id"],
    }


