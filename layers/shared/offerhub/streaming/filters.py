"""What a connection wants: a set of type patterns and, optionally, one resource (aggregate) id.

A pattern is `*` (every type), an exact type of the catalogue (`order.created`) or a family (`order.*`: every
type that starts with `order.`). A pattern that matches no type of the catalogue is refused, so a typo is an
error at once rather than a silent stream. A connection opened without `types` gets `*`; one whose set is empty
(everything unsubscribed) gets no events but stays open. `resourceId` narrows to one aggregate, as in
`GET /events`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from offerhub.core.errors import ValidationFailed
from offerhub.events.catalogue import EVENT_TYPES

EVERYTHING = "*"
MAX_PATTERNS = 50
MAX_RESOURCE_ID = 255
_FAMILIES = frozenset(t.split(".", 1)[0] for t in EVENT_TYPES)


@dataclass(frozen=True)
class Filters:
    types: frozenset[str] = frozenset({EVERYTHING})
    resource_id: str | None = None

    def matches(self, event: Mapping[str, Any]) -> bool:
        if self.resource_id is not None and event["aggregateId"] != self.resource_id:
            return False
        return _type_matches(self.types, event["type"])

    @property
    def exact_types(self) -> frozenset[str] | None:
        """The catalogue types the patterns cover (for SQL), or None for every type."""
        if EVERYTHING in self.types:
            return None
        return frozenset(t for t in EVENT_TYPES if _type_matches(self.types, t))

    def to_public(self) -> dict[str, Any]:
        return {"types": sorted(self.types), "resourceId": self.resource_id}

    def key(self) -> tuple[tuple[str, ...], str | None]:
        return tuple(sorted(self.types)), self.resource_id


def _type_matches(patterns: frozenset[str], type_: str) -> bool:
    if EVERYTHING in patterns or type_ in patterns:
        return True
    return f"{type_.split('.', 1)[0]}.*" in patterns


def parse_types(value: str | Iterable[Any] | None, *, field: str = "types", comma_list: bool = False
                ) -> frozenset[str]:
    """A list of patterns (a message's body), or a comma list (the query string), each checked against the
    catalogue."""
    if value is None:
        return frozenset()
    if isinstance(value, str) and comma_list:
        raw: list[Any] = value.split(",")
    elif isinstance(value, list | tuple):
        raw = list(value)
    else:
        raise ValidationFailed(f"{field} must be a list of event types", details={"field": field})
    if not all(isinstance(p, str) for p in raw):
        raise ValidationFailed(f"{field} must be a list of event types", details={"field": field})
    patterns = {p.strip() for p in raw if p.strip()}
    if len(patterns) > MAX_PATTERNS:
        raise ValidationFailed(f"at most {MAX_PATTERNS} type patterns", details={"field": field})
    unknown = sorted(p for p in patterns if not _known(p))
    if unknown:
        raise ValidationFailed(
            "unknown event type", details={"field": field, "unknown": unknown,
                                           "known": sorted(EVENT_TYPES), "wildcards": ["*", "<family>.*"]}
        )
    return frozenset(patterns)


def _known(pattern: str) -> bool:
    if pattern == EVERYTHING or pattern in EVENT_TYPES:
        return True
    return pattern.endswith(".*") and pattern[:-2] in _FAMILIES


def parse_resource_id(value: Any, *, field: str = "resourceId") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_RESOURCE_ID:
        raise ValidationFailed(f"{field} must be a string of 1 to {MAX_RESOURCE_ID} characters",
                               details={"field": field})
    return value


def from_query(types: str | None, resource_id: str | None) -> Filters:
    """The filters a connection opens with: `types` absent (or blank) means every type."""
    patterns = parse_types(types, comma_list=True) if types and types.strip() else frozenset({EVERYTHING})
    return Filters(types=patterns, resource_id=parse_resource_id(resource_id))
