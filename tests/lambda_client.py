"""Call the real Lambda handlers in-process with API Gateway HTTP API (payload 2.0) events."""

from __future__ import annotations

import json
import uuid
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
    return invoke(function_for(path), http_event(method, path, headers=headers, **kwargs))


def sample_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / name).read_text())
