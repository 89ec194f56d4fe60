"""Which events an endpoint receives: `types`, a list of exact event types (`order.released`), wildcards over
one family (`order.*`) or `*` for every event (the default). Each is checked against the catalogue, so a typo
is a 400 at registration rather than an endpoint that silently never receives anything."""

from __future__ import annotations

from collections.abc import Sequence

from offerhub.core.errors import ValidationFailed
from offerhub.events.catalogue import EVENT_TYPES

ALL = "*"
FAMILIES = frozenset(t.split(".", 1)[0] for t in EVENT_TYPES)


def _known(pattern: str) -> bool:
    if pattern == ALL or pattern in EVENT_TYPES:
        return True
    family, dot, rest = pattern.partition(".")
    return bool(dot) and rest == "*" and family in FAMILIES


def normalise(types: Sequence[str] | None) -> list[str]:
    """The patterns in the order given, without repeats; `["*"]` when none are given."""
    if types is None:
        return [ALL]
    patterns = list(dict.fromkeys(types))
    if not patterns:
        raise ValidationFailed("types must name at least one event type (or be left out for every event)",
                               details={"field": "types"})
    unknown = [p for p in patterns if not _known(p)]
    if unknown:
        raise ValidationFailed("unknown event type", details={
            "field": "types", "unknown": unknown[:20],
            "known": sorted(EVENT_TYPES) + sorted(f"{f}.*" for f in FAMILIES) + [ALL]})
    return [ALL] if ALL in patterns else patterns


def matches(patterns: Sequence[str], event_type: str) -> bool:
    for pattern in patterns:
        if pattern == ALL or pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False
