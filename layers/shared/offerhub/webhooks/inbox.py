"""The webhook inbox: every verified delivery recorded once by (provider, event id), before it is queued.

A delivery seen again is a duplicate, answered 200 without queueing, unless its first copy never reached
the queue (the ingress died or SQS refused between the two): then it is queued again, so nothing is lost.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from offerhub.adapters.postgres.schema import webhook_inbox as inbox
from offerhub.core.clock import utcnow


def record(conn: Connection, provider: str, event_id: str, type: str, object_id: str | None,
           payload: dict[str, Any]) -> tuple[bool, bool]:
    """(is new, must be queued)."""
    stmt = (pg_insert(inbox).values(provider=provider, event_id=event_id, type=type, object_id=object_id,
                                    payload=payload, received_at=utcnow(), attempts=0)
            .on_conflict_do_nothing(index_elements=["provider", "event_id"]).returning(inbox.c.event_id))
    if conn.execute(stmt).first() is not None:
        return True, True
    enqueued = conn.execute(select(inbox.c.enqueued_at).where(
        inbox.c.provider == provider, inbox.c.event_id == event_id)).scalar()
    return False, enqueued is None


def mark_enqueued(conn: Connection, provider: str, event_id: str) -> None:
    conn.execute(update(inbox).where(inbox.c.provider == provider, inbox.c.event_id == event_id)
                 .values(enqueued_at=utcnow()))


def get(conn: Connection, provider: str, event_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(inbox).where(inbox.c.provider == provider, inbox.c.event_id == event_id)
                       ).mappings().first()
    return dict(row) if row else None


def mark_processed(conn: Connection, provider: str, event_id: str, outcome: str) -> None:
    """Done (an attempt counted). `outcome` other than `applied` is kept for whoever looks (ignored, …)."""
    conn.execute(update(inbox).where(inbox.c.provider == provider, inbox.c.event_id == event_id)
                 .values(processed_at=utcnow(), attempts=inbox.c.attempts + 1,
                         last_error=None if outcome == "applied" else outcome))


def mark_failed(conn: Connection, provider: str, event_id: str, error: str) -> None:
    conn.execute(update(inbox).where(inbox.c.provider == provider, inbox.c.event_id == event_id)
                 .values(attempts=inbox.c.attempts + 1, last_error=error[:500]))
