"""Postgres access for the event log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert, select, update

from offerhub.adapters.postgres.schema import event_sequence, events
from offerhub.core.clock import iso, utcnow
from offerhub.core.ids import new_id


def append_events(conn: Connection, pending: Sequence[Any], request_id: str | None) -> None:
    # Taking the counter row lock here (last statement before commit) orders sequences by commit.
    last = conn.execute(
        update(event_sequence).values(value=event_sequence.c.value + len(pending)).returning(
            event_sequence.c.value
        )
    ).scalar_one()
    first = last - len(pending) + 1
    now = utcnow()
    conn.execute(
        insert(events),
        [
            {
                "id": new_id("evt"),
                "sequence": first + i,
                "type": e.type,
                "aggregate_type": e.aggregate_type,
                "aggregate_id": e.aggregate_id,
                "occurred_at": now,
                "data": e.data,
                "request_id": request_id,
            }
            for i, e in enumerate(pending)
        ],
    )


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
