"""Outermost ASGI middleware: the request id on every response, URLs Postgres cannot store refused,
and the last-resort 500 envelope.

The 500 is logged with its stack, except a database error's: its message quotes the statement's values
(user input), so only what `loggable_db_error` keeps is logged."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from offerhub.adapters.postgres.engine import loggable_db_error
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
        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b"") or b"\x00" in scope.get(
            "query_string", b""
        ):
            # Postgres text cannot hold NUL: such a path or query can only be a 400, never reach a query.
            await _send_error(send, request_id, 400, "VALIDATION_ERROR", "NUL characters are not allowed in the URL")
            return
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
        except Exception as exc:
            _log_unhandled(exc, request_id)
            if started:
                raise
            await _send_error(send, request_id, 500, "INTERNAL_ERROR", "internal error; quote the requestId to support")


def _log_unhandled(exc: Exception, request_id: str) -> None:
    fields = loggable_db_error(exc)
    if fields is None:
        logger.exception("unhandled error", extra={"request_id": request_id})
    else:
        logger.error("unhandled database error", extra={"request_id": request_id, **fields})


async def _send_error(send: Send, request_id: str, status: int, code: str, message: str) -> None:
    body = envelope.dumps(envelope.error(code, message, request_id)).encode()
    headers: list[Any] = [(b"content-type", b"application/json"), (b"x-request-id", request_id.encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
