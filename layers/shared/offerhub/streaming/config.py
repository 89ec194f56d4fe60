"""Settings of the event stream, read once per container (like offerhub.config)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

from offerhub.core.errors import ServiceUnavailable


@dataclass(frozen=True)
class StreamSettings:
    connections_table: str | None
    # The Management API of the WebSocket stage (https://{api}.execute-api.{region}.amazonaws.com/{stage});
    # the local stack points it at its own gateway, which emulates /@connections.
    management_url: str | None
    connection_ttl_seconds: int
    # Threads posting frames for different connections at once. 16 overlap API Gateway's round trips; where the
    # Management API is served in the same process (make run), fewer contend less for the GIL.
    push_workers: int

    @classmethod
    def from_env(cls) -> StreamSettings:
        env = os.environ
        return cls(
            connections_table=env.get("CONNECTIONS_TABLE") or None,
            management_url=(env.get("WS_MANAGEMENT_URL") or "").rstrip("/") or None,
            connection_ttl_seconds=int(env.get("WS_CONNECTION_TTL_SECONDS", "86400")),
            push_workers=max(1, int(env.get("WS_PUSH_WORKERS", "16"))),
        )

    def table(self) -> str:
        if not self.connections_table:
            raise ServiceUnavailable("the connections table is not configured (CONNECTIONS_TABLE)",
                                     code="STREAM_UNAVAILABLE")
        return self.connections_table


@cache
def stream_settings() -> StreamSettings:
    return StreamSettings.from_env()
