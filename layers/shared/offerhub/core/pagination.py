"""Cursor pagination: `limit` 1..100 (default 20) and an opaque cursor (the last item's id)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass(frozen=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    has_more: bool
    next_cursor: str | None

    @classmethod
    def from_rows(cls, rows: list[T], limit: int, cursor_of) -> Page[T]:
        """rows were fetched with limit + 1 so we know whether another page exists."""
        has_more = len(rows) > limit
        items = rows[:limit]
        return cls(items=items, has_more=has_more, next_cursor=cursor_of(items[-1]) if has_more else None)
