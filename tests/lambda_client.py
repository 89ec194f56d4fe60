"""Call the real Lambda handlers in-process with API Gateway HTTP API (payload 2.0) events."""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

from local.functions import LambdaContext as FakeLambdaContext
from local.functions import load_module

ROOT = Path(__file__).resolve().parent.parent
EVENTS_DIR = ROOT / "events"


def load_function(name: str) -> ModuleType:
    """functions/<name>/app.py, loaded as the local stack loads it."""
    return load_module(f"functions/{name}/")


def http_event(method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None,
               query: dict[str, Any] | list[tuple[str, str]] | None = None, raw_body: str | None = None
               ) -> dict[str, Any]:
    pairs = list(query.items()) if isinstance(query, dict) else list(query or [])
    qs = urlencode(pairs)
    params: dict[str, str] = {}
    for k, v in pairs:
        params[k] = f"{params[k]},{v}" if k in params else str(v)
    text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": qs,
        "headers": {"content-type": "application/json", **{k.lower(): v for k, v in (headers or {}).items()}},
        "queryStringParameters": params or None,
        "requestContext": {
            "accountId": "123456789012", "apiId": "test", "domainName": "test.local", "domainPrefix": "test",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                     "userAgent": "pytest"},
            "requestId": str(uuid.uuid4()), "routeKey": f"{method} {path}", "stage": "$default",
            "time": "24/Nov/2026:12:00:00 +0000", "timeEpoch": 1795000000000,
        },
        "body": text,
        "isBase64Encoded": False,
    }


@dataclass
class Result:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def data(self) -> Any:
        return self.body["data"]

    @property
    def error_code(self) -> str | None:
        return self.body.get("error", {}).get("code")


def invoke(function: str, event: dict[str, Any]) -> Result:
    response = load_function(function).handler(event, FakeLambdaContext(function_name=function))
    return Result(
        status=response["statusCode"],
        headers={k.lower(): v for k, v in (response.get("headers") or {}).items()},
        body=json.loads(response["body"]) if response.get("body") else {},
    )


@cache
def _routes() -> list[tuple[Any, str]]:
    """(path pattern, function folder) from template.yaml, most specific first, as API Gateway matches."""
    from local.template import load

    template = load()
    return [(r.pattern, Path(template.functions[r.function].code_uri).name) for r in template.routes]


def function_for(path: str) -> str:
    """The function API Gateway routes this path to (by template.yaml)."""
    bare = path.split("?")[0]
    return next(folder for pattern, folder in _routes() if pattern.match(bare))


def call(method: str, path: str, *, key: str | None = None, **kwargs: Any) -> Result:
    headers = dict(kwargs.pop("headers", None) or {})
    if key is not None:
        headers.setdefault("authorization", f"Bearer {key}")
    function = function_for(path)
    result = invoke(function, http_event(method, path, headers=headers, **kwargs))
    if function == "users" and method == "POST" and _activate_after_sign_up:
        drain_wallet_activations()
    return result


# Sign-up commits `wallet.created` (crypto mode); the activation relay queues the activation from it and the activator
# takes it from the queue. In AWS and `make run` both run a moment later (a schedule, an SQS event source / the local
# poller); here `call` runs both right after the users function answered, so a flow sees the wallet ACTIVE as it would
# a moment later. `activation_deferred()` leaves the log and the queue alone.
_activate_after_sign_up = True
# One drain at a time: the tests' queue has no visibility timeout, so concurrent receivers would take the same
# message (and moto's in-process SQS is not safe for concurrent receives).
_draining = threading.Lock()


@contextmanager
def activation_deferred() -> Iterator[None]:
    global _activate_after_sign_up
    _activate_after_sign_up = False
    try:
        yield
    finally:
        _activate_after_sign_up = True


def relay_wallet_activations() -> int:
    """One poll of the activation relay (as its scheduled run does every 0.25 s): the activations it queued."""
    from offerhub.wallets import activation_relay

    return activation_relay.run(lambda: 60_000, max_ticks=1, poll_seconds=0)["queued"]


def drain_wallet_activations(max_batches: int = 50) -> list[dict[str, int]]:
    """Relay the new wallets to the activation queue, then run the wallet activator on it until it is empty, as the
    event source mapping does (a failed record is received again: the tests' queue has no visibility timeout; after
    maxReceiveCount it goes to the DLQ). One {"received", "failed", "deleted"} per batch."""
    from local.queues import QueueBinding, poll_once

    url = os.environ.get("WALLET_ACTIVATION_QUEUE_URL")
    if not url:
        return []
    binding = QueueBinding(url, load_function("wallet_activator").handler, "wallet_activator")
    batches = []
    with _draining:
        relay_wallet_activations()
        for _ in range(max_batches):
            batch = poll_once(binding)
            if not batch["received"]:
                break
            batches.append(batch)
    return batches


def sample_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / name).read_text())
