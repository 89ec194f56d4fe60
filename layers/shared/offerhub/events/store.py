"""Postgres access for the event log."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select, text

from offerhub.adapters.postgres.schema import events
from offerhub.audit import store as audit_store
from offerhub.core.clock import iso, utcnow
from offerhub.core.ids import new_id

# One round trip: take the counter row lock (the last statement before commit, so sequences follow commit
# order), reserve n numbers, and insert the events numbered from them.
_APPEND = text(
    """
    WITH seq AS (UPDATE event_sequence SET value = value + :n RETURNING value)
    INSERT INTO events (id, sequence, type, aggregate_type, aggregate_id, occurred_at, data, request_id)
    SELECT e.id, seq.value - :n + e.ord, e.type, e.aggregate_type, e.aggregate_id, :now, e.data, :request_id
    FROM seq, jsonb_to_recordset(CAST(:rows AS jsonb))
        AS e(ord int, id text, type text, aggregate_type text, aggregate_id text, data jsonb)
    """
)
# The same, the audit rows inserted by a data-modifying CTE (run to completion whether or not the query reads it).
_APPEND_WITH_AUDIT = text("WITH audit AS (" + audit_store.INSERT_ROWS + "),"
                          + _APPEND.text.strip().removeprefix("WITH"))


def append_events(conn: Connection, pending: Sequence[Any], request_id: str | None,
                  audit_rows: list[dict[str, Any]] | None = None) -> None:
    """The unit of work's events, and its audit rows (if any) in the same statement: a round trip saved."""
    rows = [
        {"ord": i + 1, "id": new_id("evt"), "type": e.type, "aggregate_type": e.aggregate_type,
         "aggregate_id": e.aggregate_id, "data": e.data}
        for i, e in enumerate(pending)
    ]
    params = {"n": len(rows), "rows": json.dumps(rows), "now": utcnow(), "request_id": request_id}
    if not audit_rows:
        conn.execute(_APPEND, params)
        return
    conn.execute(_APPEND_WITH_AUDIT, {**params, **audit_store.rows_parameter(audit_rows)})


def sequence_of(conn: Connection, event_id: str) -> int | None:
    return conn.execute(select(events.c.sequence).where(events.c.id == event_id)).scalar_one_or_none()


def list_after(
    conn: Connection, *, after_sequence: int, types: Sequence[str], aggregate_id: str | None, limit: int
) -> list[dict[str, Any]]:
    query = select(events).where(events.c.sequence > after_sequence)
    if types:
        query = query.where(events.c.type.in_(list(types)))
    if aggregate_id:
        query = query.where(events.c.aggregate_id == aggregate_id)
    rows = conn.execute(query.order_by(events.c.sequence).limit(limit)).mappings().all()
    return [to_public(r) for r in rows]


def to_public(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "type": row["type"],
        "occurredAt": iso(row["occurred_at"]),
        "aggregateType": row["aggregate_type"],
        "aggregateId": row["aggregate_id"],
        "sequence": row["sequence"],
        "data": row["data"],
        "requestId": row["request_id"],
    }
