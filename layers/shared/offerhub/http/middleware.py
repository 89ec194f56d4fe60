"""Outermost ASGI middleware: the request id on every response, and the last-resort 500 envelope."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from offerhub.http import envelope
from offerhub.http.request_id import resolve_request_id
from offerhub.observability import logger


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), None)
        request_id = resolve_request_id(header)
        scope["offerhub.request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            logger.exception("unhandled error", extra={"request_id": request_id})
            if started:
                raise
            await _send_internal_error(send, request_id)


async def _send_internal_error(send: Send, request_id: str) -> None:
    body = envelope.dumps(
        envelope.error("INTERNAL_ERROR", "internal error; quote the requestId to support", request_id)
    ).encode()
    headers: list[Any] = [(b"content-type", b"application/json"), (b"x-request-id", request_id.encode())]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})
