"""Postgres reads of the event stream: a connection's catch-up range, and which API keys still stand."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, select

from offerhub.adapters.postgres.schema import api_keys, events
from offerhub.auth.service import MASTER_ID
from offerhub.events.store import to_public
from offerhub.streaming.filters import Filters


def read_range(conn: Connection, *, after: int, upto: int, filters: Filters, limit: int) -> list[dict[str, Any]]:
    """Matching events with after < sequence <= upto, oldest first (the filters run in SQL, on the
    (type, sequence) and (aggregate_id, sequence) indexes)."""
    query = select(events).where(events.c.sequence > after, events.c.sequence <= upto)
    exact = filters.exact_types
    if exact is not None:
        query = query.where(events.c.type.in_(sorted(exact)))
    if filters.resource_id is not None:
        query = query.where(events.c.aggregate_id == filters.resource_id)
    rows = conn.execute(query.order_by(events.c.sequence).limit(limit)).mappings().all()
    return [to_public(r) for r in rows]


def revoked_keys(conn: Connection, key_ids: Iterable[str]) -> set[str]:
    """Of these key ids, the ones that no longer authenticate (revoked, or unknown). The master key is not a
    row: it stands as long as the configuration holds it."""
    wanted = {k for k in key_ids if k != MASTER_ID}
    if not wanted:
        return set()
    rows = conn.execute(select(api_keys.c.id, api_keys.c.revoked_at).where(api_keys.c.id.in_(sorted(wanted))))
    active = {r.id for r in rows if r.revoked_at is None}
    return wanted - active
