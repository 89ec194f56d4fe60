"""Reading the event log: oldest first, resumable after any event id."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from offerhub.adapters.postgres.unit_of_work import read_only
from offerhub.core.errors import ValidationFailed
from offerhub.core.pagination import Page, PageRequest
from offerhub.events import store
from offerhub.events.catalogue import EVENT_TYPES


def list_events(page: PageRequest, *, types: Sequence[str] = (), resource_id: str | None = None) -> Page:
    unknown = sorted(set(types) - EVENT_TYPES)
    if unknown:
        raise ValidationFailed(
            "unknown event type", details={"field": "type", "unknown": unknown, "known": sorted(EVENT_TYPES)}
        )
    with read_only() as conn:
        after = 0
        if page.cursor:
            seq = store.sequence_of(conn, page.cursor)
            if seq is None:
                raise ValidationFailed("cursor is not a known event id", details={"field": "cursor"})
            after = seq
        rows = store.list_after(
            conn, after_sequence=after, types=types, aggregate_id=resource_id, limit=page.limit + 1
        )
    items: list[dict[str, Any]] = rows[: page.limit]
    # A replaying client resumes after the last event it saw, so the cursor is given on every page.
    next_cursor = items[-1]["id"] if items else page.cursor
    return Page(items=items, has_more=len(rows) > page.limit, next_cursor=next_cursor)
