"""An API Gateway HTTP API emulation: each request becomes a payload-2.0 event for the function that
template.yaml routes it to, and that function's Lambda handler answers it. With the template's WebSocket API,
the same server also serves `/ws` and the Management API's `/@connections/{id}` (local/websocket.py).

The HTTP side is a bare ASGI callable, not a framework app: in `make run` it is on every request's path, and
Starlette's Request, URL and Response objects cost more than the event they were used to build. Every answer
carries `X-OfferHub-Worker` (the answering process's pid), which only this local gateway adds."""

from __future__ import annotations

import asyncio
import base64
import contextvars
import os
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from local.functions import LambdaContext
from local.template import Function, Route
from local.websocket import LocalWebSocketGateway, WebSocketApi

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def match(routes: list[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for route in routes:  # sorted most specific first
        if route.method != method:
            continue
        found = route.pattern.match(path)
        if found:
            return route, found.groupdict()
    return None


def build_event(scope: Scope, body: bytes, route: Route, path_params: dict[str, str]) -> dict[str, Any]:
    """The payload-2.0 event for one request, straight from the ASGI scope (no Request or URL objects)."""
    headers: dict[str, str] = {}
    for raw_key, raw_value in scope["headers"]:
        key, value = raw_key.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    raw_query = scope.get("query_string", b"").decode("latin-1")
    query: dict[str, str] = {}
    if raw_query:
        for key, value in parse_qsl(raw_query, keep_blank_values=True):
            query[key] = f"{query[key]},{value}" if key in query else value
    try:
        text, is_base64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, is_base64 = base64.b64encode(body).decode(), True
    client = scope.get("client")
    cookie = headers.get("cookie")
    path = scope["path"]
    method = scope["method"]
    epoch = time.time()
    return {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": path,
        "rawQueryString": raw_query,
        "cookies": [f"{k}={v}" for k, v in cookie_parser(cookie).items()] or None if cookie else None,
        "headers": headers,
        "queryStringParameters": query or None,
        "pathParameters": path_params or None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": _hostname(headers.get("host"), scope),
            "domainPrefix": "local",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": client[0] if client else "127.0.0.1", "userAgent": headers.get("user-agent", "")},
            "requestId": str(uuid.uuid4()),
            "routeKey": route.route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch)),
            "timeEpoch": int(epoch * 1000),
        },
        "body": text if body else None,
        "isBase64Encoded": is_base64,
    }


def _hostname(host: str | None, scope: Scope) -> str:
    if not host:
        server = scope.get("server")
        return server[0] if server else "127.0.0.1"
    if host.startswith("["):  # [::1]:3000
        return host[1:host.find("]")].lower() or "127.0.0.1"
    return host.partition(":")[0].lower() or "127.0.0.1"


def response_messages(result: dict[str, Any], extra: list[tuple[bytes, bytes]] = ()) -> tuple[Message, Message]:
    """The handler's answer as the two ASGI messages, header names lower-cased, content-length ours."""
    body = result.get("body") or ""
    content = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    headers = [(str(key).lower().encode("latin-1"), str(value).encode("latin-1"))
               for key, value in (result.get("headers") or {}).items() if str(key).lower() != "content-length"]
    headers.append((b"content-length", str(len(content)).encode()))
    headers.extend((b"set-cookie", cookie.encode("latin-1")) for cookie in result.get("cookies") or [])
    headers.extend(extra)
    return ({"type": "http.response.start", "status": int(result.get("statusCode", 200)), "headers": headers},
            {"type": "http.response.body", "body": content})


_NOT_FOUND = {"statusCode": 404, "headers": {"content-type": "application/json"},
              "body": '{"message":"Not Found"}'}  # API Gateway's own answer
WORKER_HEADER = "x-offerhub-worker"  # the local gateway only: which process answered (local/workers.py)
# Handler threads: enough for the requests one process runs at once (each invocation holds one while it runs).
HANDLER_THREADS = int(os.environ.get("LOCAL_HANDLER_THREADS") or "32")


def create_gateway(routes: list[Route], functions: dict[str, Function], handlers: dict[str, Handler],
                   websocket: WebSocketApi | None = None, *, forward_to: str | None = None) -> ASGIApp:
    """The HTTP API (every route of `routes`) on a plain ASGI app: a request is matched, turned into its event and
    run on a handler thread, with no framework in between. `/ws` and `/@connections/{id}` go to the WebSocket API
    emulation when `websocket` is given, or, in a gateway worker (`forward_to`: the main process's host:port), are
    forwarded to the main process, which holds every connection (local/workers.py)."""
    executor = ThreadPoolExecutor(max_workers=HANDLER_THREADS, thread_name_prefix="lambda")
    worker = [(WORKER_HEADER.encode(), str(os.getpid()).encode())]
    if websocket is not None:
        side: ASGIApp | None = Starlette(routes=LocalWebSocketGateway(websocket, functions, handlers).routes())
    elif forward_to is not None:
        from local.workers import forwarding_routes

        side = Starlette(routes=forwarding_routes(forward_to))
    else:
        side = None

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        path = scope["path"]
        if kind == "websocket" or (side is not None and path.startswith("/@connections/")):
            if side is not None:
                await side(scope, receive, send)
            elif kind == "websocket":
                await send({"type": "websocket.close", "code": 1000})
            return
        found = match(routes, scope["method"], path)
        if found is None:
            start, body = response_messages(_NOT_FOUND, worker)
            await send(start)
            await send(body)
            return
        route, params = found
        chunks = []
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        event = build_event(scope, b"".join(chunks), route, params)
        fn = functions[route.function]
        context = LambdaContext(function_name=fn.logical_id, timeout_seconds=fn.timeout)
        # A thread per invocation, like separate Lambda containers serving concurrent requests; each in a copy of
        # this task's context, as Starlette's thread pool ran them.
        call = contextvars.copy_context().run
        result = await asyncio.get_running_loop().run_in_executor(executor, call, handlers[route.function], event,
                                                                  context)
        start, body = response_messages(result, worker)
        await send(start)
        await send(body)

    return app
