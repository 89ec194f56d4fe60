"""The one success envelope and the one error envelope."""

from __future__ import annotations

import json
from typing import Any

from offerhub.core.clock import iso, utcnow
from offerhub.core.pagination import Page


def meta(request_id: str, page: Page | None = None) -> dict[str, Any]:
    m: dict[str, Any] = {"requestId": request_id, "timestamp": iso(utcnow())}
    if page is not None:
        m["pagination"] = {"hasMore": page.has_more, "nextCursor": page.next_cursor}
    return m


def success(data: Any, request_id: str, page: Page | None = None) -> dict[str, Any]:
    return {"data": data, "meta": meta(request_id, page)}


def error(code: str, message: str, request_id: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}, "requestId": request_id}}


def dumps(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"), default=str)
