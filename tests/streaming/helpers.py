"""Helpers of the event stream's tests: a recording pusher, WebSocket events for the handlers, a writer of
events."""

from __future__ import annotations

import json
import secrets
import threading
import uuid
from collections import defaultdict
from typing import Any

TABLE = "offerhub-connections-test"
# moto's Management API records frames per connection for a realistic endpoint (it never answers 410).
MANAGEMENT_URL = "https://stream.execute-api.us-east-1.amazonaws.com/test"


class FakePusher:
    """Records frames per connection; answers 410 for the ids in `gone`; fails (PushFailed, as after the
    retries) the post number `fail_on[id]` of a connection, once."""

    def __init__(self) -> None:
        self.frames: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.closed: list[str] = []
        self.gone: set[str] = set()
        self.fail_on: dict[str, int] = {}
        self.refuse_on: dict[str, int] = {}  # this post number is refused (FrameRefused, e.g. 413)
        self.calls: dict[str, int] = defaultdict(int)
        self.lock = threading.Lock()

    def post(self, connection_id: str, data: bytes) -> None:
        from offerhub.streaming.management import ConnectionGone, FrameRefused, PushFailed

        with self.lock:
            if connection_id in self.gone:
                raise ConnectionGone(connection_id)
            self.calls[connection_id] += 1
            if self.fail_on.get(connection_id) == self.calls[connection_id]:
                raise PushFailed("throttled past the retries")
            if self.refuse_on.get(connection_id) == self.calls[connection_id]:
                raise FrameRefused("413 PayloadTooLargeException")
        self.frames[connection_id].append(json.loads(data))

    def close(self, connection_id: str) -> None:
        self.closed.append(connection_id)

    def sequences(self, connection_id: str) -> list[int]:
        return [f["sequence"] for f in self.frames[connection_id]]


def ws_event(route: str, connection_id: str, *, headers: dict[str, str] | None = None,
             query: dict[str, str] | None = None, body: str | None = None) -> dict[str, Any]:
    """What API Gateway sends a WebSocket route's function (headers keep their case, as in AWS)."""
    kind = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE")
    event: dict[str, Any] = {
        "requestContext": {
            "routeKey": route, "eventType": kind, "connectionId": connection_id, "messageDirection": "IN",
            "domainName": "stream.execute-api.us-east-1.amazonaws.com", "stage": "test", "apiId": "stream",
            "requestId": str(uuid.uuid4()), "connectedAt": 1795000000000, "requestTimeEpoch": 1795000000000,
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "pytest"},
        },
        "isBase64Encoded": False,
    }
    if kind == "CONNECT":
        event["headers"] = {"Host": "stream.execute-api.us-east-1.amazonaws.com", **(headers or {})}
        event["queryStringParameters"] = query or None
    if kind == "MESSAGE":
        event["body"] = body
    return event


def invoke_ws(function: str, event: dict[str, Any]) -> dict[str, Any]:
    from local.functions import LambdaContext
    from tests.lambda_client import load_function

    return load_function(function).handler(event, LambdaContext(function_name=function, timeout_seconds=10))


def new_connection_id() -> str:
    return secrets.token_hex(7) + "A="


def emit(n: int, marker: str, type_: str = "user.created", *, per_transaction: int = 1) -> None:
    """n events of one type, aggregates `<marker>-<i>`, `per_transaction` to a commit."""
    from offerhub.adapters.postgres.unit_of_work import transaction
    from offerhub.core.context import RequestContext

    for start in range(0, n, per_transaction):
        with transaction(RequestContext(request_id="stream-test")) as uow:
            for i in range(start, min(n, start + per_transaction)):
                uow.emit(type_, "User", f"{marker}-{i}", {"i": i})


def marker() -> str:
    return "m" + secrets.token_hex(5)


def forever() -> int:
    return 10**9


def reader() -> str:
    return "test-" + secrets.token_hex(4)
