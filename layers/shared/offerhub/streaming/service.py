"""The WebSocket routes' use cases: open a connection, change what it receives, close it.

`$connect` authenticates an API key with the `read` scope (header, or `?apiKey=` since browsers cannot set
headers on a WebSocket), checks the filters and fixes where the connection's stream starts: after the `after`
event, or at the head of the log at this moment, so that nothing committed after the connect is missed (the
dispatcher catches the connection up from there). Refusals are OfferHubErrors: the handler answers their status
and API Gateway refuses the handshake.

`$default` messages answer with one frame through the Management API, as pushes do:
`{"action": "subscribe"|"unsubscribe", "types": [...], "resourceId": ...}` → `{"type": "subscribed", "filters": ...}`,
`{"action": "ping"}` → `{"type": "pong"}`, anything else → `{"type": "error", "error": {"code", "message"}}`.
A bad message never closes the connection.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from offerhub.core.errors import OfferHubError, ValidationFailed
from offerhub.streaming.config import stream_settings
from offerhub.streaming.connections import Connection, ConnectionStore
from offerhub.streaming.filters import Filters, from_query, parse_resource_id, parse_types
from offerhub.streaming.management import ConnectionGone, ManagementApi, Pusher

ACTIONS = ("subscribe", "unsubscribe", "ping")


@dataclass(frozen=True)
class ConnectRequest:
    connection_id: str
    headers: Mapping[str, str]  # names in lower case
    query: Mapping[str, str]  # repeated parameters joined with commas
    domain_name: str | None = None
    stage: str | None = None


def connect(request: ConnectRequest, *, store: ConnectionStore | None = None) -> Connection:
    # Postgres and the key check are $connect's alone: $default and $disconnect start without them.
    from offerhub.adapters.postgres.unit_of_work import read_only
    from offerhub.auth.service import authenticate
    from offerhub.events import store as event_store
    from offerhub.events import tail
    from offerhub.http.security import token_from_headers

    token = token_from_headers(request.headers.get("authorization"), request.headers.get("x-api-key"))
    principal = authenticate(token or request.query.get("apiKey") or None)
    principal.require("read")
    filters = from_query(request.query.get("types"), request.query.get("resourceId"))
    after = request.query.get("after")
    with read_only() as conn:
        if after:
            position = event_store.sequence_of(conn, after)
            if position is None:
                raise ValidationFailed("after is not a known event id", details={"field": "after"})
        else:
            position = tail.head(conn)
    now = time.time()
    connection = Connection(
        connection_id=request.connection_id, key_id=principal.key_id, filters=filters, position=position,
        connected_at_ms=int(now * 1000), expires_at=int(now) + stream_settings().connection_ttl_seconds,
        extra={k: v for k, v in (("domainName", request.domain_name), ("stage", request.stage)) if v},
    )
    (store or ConnectionStore()).put(connection)
    return connection


def disconnect(connection_id: str, *, store: ConnectionStore | None = None) -> None:
    (store or ConnectionStore()).delete(connection_id)


def handle_message(connection_id: str, body: str | None, *, store: ConnectionStore | None = None,
                   pusher: Pusher | None = None) -> dict[str, Any]:
    """Answer one client message with one frame (also returned, for the log and the tests)."""
    try:
        reply = _answer(connection_id, body, store or ConnectionStore())
    except OfferHubError as exc:
        reply = error_frame(exc.code, exc.message, exc.details)
    try:
        (pusher or ManagementApi()).post(connection_id, encode(reply))
    except ConnectionGone:
        pass  # the client left while we answered
    return reply


def _answer(connection_id: str, body: str | None, store: ConnectionStore) -> dict[str, Any]:
    try:
        message = json.loads(body or "")
    except ValueError:
        return error_frame("INVALID_MESSAGE", "a message must be a JSON object with an action")
    if not isinstance(message, dict):
        return error_frame("INVALID_MESSAGE", "a message must be a JSON object with an action")
    action = message.get("action")
    if action == "ping":
        return {"type": "pong"}
    if action not in ("subscribe", "unsubscribe"):
        return error_frame("UNKNOWN_ACTION", f"unknown action {action!r}", {"allowed": list(ACTIONS)})
    connection = store.get(connection_id)
    if connection is None:
        return error_frame("CONNECTION_NOT_FOUND", "this connection is closed")
    filters = (_subscribe if action == "subscribe" else _unsubscribe)(connection.filters, message)
    if not store.update_filters(connection_id, filters):
        return error_frame("CONNECTION_NOT_FOUND", "this connection is closed")
    return {"type": f"{action}d", "filters": filters.to_public()}


def _subscribe(current: Filters, message: dict[str, Any]) -> Filters:
    """Adds the given type patterns; `resourceId` replaces the resource filter (null: any resource)."""
    added = parse_types(message.get("types"))
    resource = parse_resource_id(message["resourceId"]) if "resourceId" in message else current.resource_id
    return Filters(types=current.types | added, resource_id=resource)


def _unsubscribe(current: Filters, message: dict[str, Any]) -> Filters:
    """Removes the given type patterns (as written: `order.created` does not cut into `order.*`), or every
    pattern when neither types nor resourceId is given; `resourceId` drops the resource filter."""
    types, resource = current.types, current.resource_id
    if message.get("types") is not None:
        types = types - parse_types(message["types"])
    elif "resourceId" not in message:
        types = frozenset()
    if "resourceId" in message:
        named = parse_resource_id(message["resourceId"])
        if named is None or named == resource:
            resource = None
    return Filters(types=types, resource_id=resource)


def error_frame(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {"type": "error", "error": error}


def encode(frame: dict[str, Any]) -> bytes:
    return json.dumps(frame, separators=(",", ":"), default=str).encode()
