"""Who is acting and on behalf of which request: carried into audit rows and events."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    type: str  # "api_key" | "master_key" | "system"
    id: str


SYSTEM = Actor(type="system", id="system")


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    actor: Actor = SYSTEM
