"""An API Gateway HTTP API emulation: each request becomes a payload-2.0 event for the function that
template.yaml routes it to, and that function's Lambda handler answers it. With the template's WebSocket API,
the same server also serves `/ws` and the Management API's `/@connections/{id}` (local/websocket.py)."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as StarletteRoute

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


def build_event(request: Request, body: bytes, route: Route, path_params: dict[str, str]) -> dict[str, Any]:
    headers: dict[str, str] = {}
    for key, value in request.headers.items():
        key = key.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    query: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        query[key] = f"{query[key]},{value}" if key in query else value
    try:
        text, is_base64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, is_base64 = base64.b64encode(body).decode(), True
    now = datetime.now(UTC)
    client = request.client.host if request.client else "127.0.0.1"
    return {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": request.url.path,
        "rawQueryString": request.url.query,
        "cookies": [f"{k}={v}" for k, v in request.cookies.items()] or None,
        "headers": headers,
        "queryStringParameters": query or None,
        "pathParameters": path_params or None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": request.url.hostname or "127.0.0.1",
            "domainPrefix": "local",
            "http": {"method": request.method, "path": request.url.path, "protocol": "HTTP/1.1",
                     "sourceIp": client, "userAgent": request.headers.get("user-agent", "")},
            "requestId": str(uuid.uuid4()),
            "routeKey": route.route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(time.time() * 1000),
        },
        "body": text if body else None,
        "isBase64Encoded": is_base64,
    }


def to_response(result: dict[str, Any]) -> Response:
    body = result.get("body") or ""
    content = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    response = Response(content=content, status_code=int(result.get("statusCode", 200)))
    for key, value in (result.get("headers") or {}).items():
        if key.lower() != "content-length":
            response.headers[key] = str(value)
    for cookie in result.get("cookies") or []:
        response.headers.append("set-cookie", cookie)
    return response


def create_gateway(routes: list[Route], functions: dict[str, Function], handlers: dict[str, Handler],
                   websocket: WebSocketApi | None = None) -> Starlette:
    async def dispatch(request: Request) -> Response:
        found = match(routes, request.method, request.url.path)
        if found is None:
            return JSONResponse({"message": "Not Found"}, status_code=404)  # API Gateway's own answer
        route, params = found
        event = build_event(request, await request.body(), route, params)
        fn = functions[route.function]
        context = LambdaContext(function_name=fn.logical_id, timeout_seconds=fn.timeout)
        # A thread per invocation, like separate Lambda containers serving concurrent requests.
        result = await run_in_threadpool(handlers[route.function], event, context)
        return to_response(result)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    served = LocalWebSocketGateway(websocket, functions, handlers).routes() if websocket else []
    return Starlette(routes=[*served, StarletteRoute("/{path:path}", dispatch, methods=methods)])
