"""An API Gateway WebSocket API emulation, beside the HTTP one (local/gateway.py).

`ws://127.0.0.1:$PORT/ws` runs the template's `$connect` / `$default` / `$disconnect` functions with the events
API Gateway would send them (requestContext.routeKey, eventType CONNECT/MESSAGE/DISCONNECT, connectionId,
domainName, stage, headers and query string on connect). As in AWS, the handshake completes only when
`$connect` answers 2xx (any other status refuses it with that status), a message goes to the route named by
the API's RouteSelectionExpression (`$request.body.action`) or else to `$default`, and the server side speaks
to a client only through the Management API: `POST /@connections/{id}` sends a frame, `GET` describes the
connection, `DELETE` closes it; an unknown or closed id answers 410 GoneException. boto3's
`apigatewaymanagementapi` client, pointed at the gateway's root (WS_MANAGEMENT_URL), talks to it unchanged.

Not emulated: the 10-minute idle timeout and the 2-hour limit, frame size limits, and IAM on @connections.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import string
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from local.functions import LambdaContext
from local.template import Function, Template

Handler = Callable[[dict[str, Any], Any], Any]
PATH = "/ws"
STAGE = "local"
_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class WebSocketApi:
    """The template's WebSocket API: route key → function logical id."""

    logical_id: str
    routes: dict[str, str]
    selection_expression: str = "$request.body.action"

    @property
    def functions(self) -> set[str]:
        return set(self.routes.values())

    def route_for(self, body: str) -> str | None:
        """The route a message goes to: the value at the selection expression when a route has that key,
        else $default (None when there is no $default: API Gateway then drops the message)."""
        prefix = "$request.body."
        if self.selection_expression.startswith(prefix):
            try:
                value: Any = json.loads(body)
                for part in self.selection_expression[len(prefix):].split("."):
                    value = value.get(part) if isinstance(value, dict) else None
            except ValueError:
                value = None
            if isinstance(value, str) and value in self.routes and not value.startswith("$"):
                return value
        return "$default" if "$default" in self.routes else None


def load(template: Template) -> WebSocketApi | None:
    apis = {k: v for k, v in template.resources_of("AWS::ApiGatewayV2::Api").items()
            if v.get("Properties", {}).get("ProtocolType") == "WEBSOCKET"}
    if not apis:
        return None
    api_id, api = next(iter(apis.items()))
    integrations: dict[str, str] = {}
    for logical_id, resource in template.resources_of("AWS::ApiGatewayV2::Integration").items():
        props = resource["Properties"]
        target = re.search(r"\$\{(\w+)\.Arn\}", _sub_text(props.get("IntegrationUri")))
        if props.get("ApiId") == {"Ref": api_id} and target:
            integrations[logical_id] = target.group(1)
    routes: dict[str, str] = {}
    for resource in template.resources_of("AWS::ApiGatewayV2::Route").values():
        props = resource["Properties"]
        target = re.search(r"integrations/\$\{(\w+)\}", _sub_text(props.get("Target")))
        if props.get("ApiId") == {"Ref": api_id} and target and target.group(1) in integrations:
            routes[props["RouteKey"]] = integrations[target.group(1)]
    return WebSocketApi(api_id, routes, api["Properties"].get("RouteSelectionExpression", "$request.body.action"))


def _sub_text(value: Any) -> str:
    if isinstance(value, dict) and "Fn::Sub" in value:
        value = value["Fn::Sub"]
    return value if isinstance(value, str) else ""


def new_connection_id() -> str:
    """API Gateway's shape (16 characters ending in '='), from a path-safe alphabet."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(15)) + "="


@dataclass
class _Open:
    websocket: WebSocket
    connected_at: datetime
    source_ip: str
    user_agent: str
    last_active: datetime
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class _DenialIsNotAnError(logging.Filter):
    """uvicorn's sans-io WebSocket protocol logs this after a denial response (the refused handshake), though it
    sent that response; our endpoint always accepts or refuses, so the line only ever means a refusal."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "returned without completing handshake" not in record.getMessage()


class LocalWebSocketGateway:
    def __init__(self, api: WebSocketApi, functions: dict[str, Function], handlers: dict[str, Handler]):
        self.api = api
        self.functions = functions
        self.handlers = handlers
        self.open: dict[str, _Open] = {}
        uvicorn_log = logging.getLogger("uvicorn.error")
        if not any(isinstance(f, _DenialIsNotAnError) for f in uvicorn_log.filters):
            uvicorn_log.addFilter(_DenialIsNotAnError())

    def routes(self) -> list[BaseRoute]:
        return [WebSocketRoute(PATH, self.endpoint),
                Route("/@connections/{connection_id}", self.manage, methods=["GET", "POST", "DELETE"])]

    # -- the client side -----------------------------------------------------------------------------------
    async def endpoint(self, websocket: WebSocket) -> None:
        connection_id = new_connection_id()
        connected_at = datetime.now(UTC)
        if "$connect" in self.api.routes:
            try:
                result = await self._invoke("$connect", self._event(websocket, connection_id, connected_at,
                                                                     "CONNECT", "$connect"))
            except Exception as exc:  # API Gateway answers 500 when the integration fails
                print(f"websocket $connect: {type(exc).__name__}: {exc}", flush=True)
                result = {"statusCode": 500, "body": json.dumps({"message": "Internal server error"})}
            status = int(result.get("statusCode", 200)) if isinstance(result, dict) else 200
            if not 200 <= status < 300:
                await websocket.send_denial_response(Response(
                    content=(result.get("body") or "").encode(), status_code=status,
                    media_type=(result.get("headers") or {}).get("content-type", "application/json")))
                return
        await websocket.accept()
        client = websocket.client.host if websocket.client else "127.0.0.1"
        self.open[connection_id] = _Open(websocket, connected_at, client, websocket.headers.get("user-agent", ""),
                                         connected_at)
        status_code, reason = 1005, "Client-side close frame status not set"
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    status_code = int(message.get("code") or 1005)
                    reason = str(message.get("reason") or "")
                    break
                body = message.get("text")
                if body is None:
                    body = (message.get("bytes") or b"").decode("utf-8", errors="replace")
                if connection_id in self.open:
                    self.open[connection_id].last_active = datetime.now(UTC)
                await self._message(websocket, connection_id, connected_at, body)
        finally:
            self.open.pop(connection_id, None)
            if "$disconnect" in self.api.routes:
                event = self._event(websocket, connection_id, connected_at, "DISCONNECT", "$disconnect")
                event.update({"disconnectStatusCode": status_code, "disconnectReason": reason})
                try:
                    await self._invoke("$disconnect", event)
                except Exception as exc:
                    print(f"websocket $disconnect: {type(exc).__name__}: {exc}", flush=True)

    async def _message(self, websocket: WebSocket, connection_id: str, connected_at: datetime, body: str) -> None:
        route = self.api.route_for(body)
        if route is None:
            return
        event = self._event(websocket, connection_id, connected_at, "MESSAGE", route, body=body)
        try:
            await self._invoke(route, event)
        except Exception as exc:  # what API Gateway tells the client when the integration fails
            print(f"websocket {route}: {type(exc).__name__}: {exc}", flush=True)
            await self._send(connection_id, json.dumps({
                "message": "Internal server error", "connectionId": connection_id,
                "requestId": event["requestContext"]["requestId"]}).encode())

    async def _invoke(self, route: str, event: dict[str, Any]) -> Any:
        name = self.api.routes[route]
        context = LambdaContext(function_name=name, timeout_seconds=self.functions[name].timeout)
        # On a worker thread: the function may call back into this server (the Management API).
        return await run_in_threadpool(self.handlers[name], event, context)

    def _event(self, websocket: WebSocket, connection_id: str, connected_at: datetime, event_type: str,
               route: str, body: str | None = None) -> dict[str, Any]:
        now = datetime.now(UTC)
        host = websocket.headers.get("host") or "127.0.0.1"
        request_context = {
            "routeKey": route,
            "eventType": event_type,
            "extendedRequestId": uuid.uuid4().hex[:16],
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "messageDirection": "IN",
            "stage": STAGE,
            "connectedAt": int(connected_at.timestamp() * 1000),
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": websocket.client.host if websocket.client else "127.0.0.1",
                         "userAgent": websocket.headers.get("user-agent", "")},
            "requestId": str(uuid.uuid4()),
            "domainName": host,
            "connectionId": connection_id,
            "apiId": "local",
        }
        event: dict[str, Any] = {"requestContext": request_context, "isBase64Encoded": False}
        if event_type != "MESSAGE":
            headers: dict[str, str] = {}
            multi: dict[str, list[str]] = {}
            for key, value in websocket.headers.items():
                multi.setdefault(key, []).append(value)
                headers[key] = value
            event.update({"headers": headers, "multiValueHeaders": multi})
        if event_type == "CONNECT":
            query: dict[str, str] = {}
            multi_query: dict[str, list[str]] = {}
            for key, value in websocket.query_params.multi_items():
                multi_query.setdefault(key, []).append(value)
                query[key] = value
            event.update({"queryStringParameters": query or None,
                          "multiValueQueryStringParameters": multi_query or None})
        if event_type == "MESSAGE":
            request_context["messageId"] = uuid.uuid4().hex[:16]
            event["body"] = body
        return event

    # -- the Management API --------------------------------------------------------------------------------
    async def manage(self, request: Request) -> Response:
        connection_id = request.path_params["connection_id"]
        entry = self.open.get(connection_id)
        if entry is None:
            return _gone()
        if request.method == "POST":
            return Response(status_code=200) if await self._send(connection_id, await request.body()) else _gone()
        if request.method == "GET":
            return JSONResponse({"connectedAt": _iso(entry.connected_at), "lastActiveAt": _iso(entry.last_active),
                                 "identity": {"sourceIp": entry.source_ip, "userAgent": entry.user_agent}})
        self.open.pop(connection_id, None)  # DELETE: the endpoint sees the close and runs $disconnect
        try:
            await entry.websocket.close(code=1000)
        except RuntimeError:
            pass  # already closing
        return Response(status_code=204)

    async def _send(self, connection_id: str, data: bytes) -> bool:
        entry = self.open.get(connection_id)
        if entry is None:
            return False
        try:
            async with entry.lock:  # frames to one client go out one at a time, in the order they came
                try:
                    await entry.websocket.send_text(data.decode("utf-8"))
                except UnicodeDecodeError:
                    await entry.websocket.send_bytes(data)
        except Exception:  # the client went away while we sent
            self.open.pop(connection_id, None)
            return False
        return True


def _gone() -> Response:
    return JSONResponse({"message": "Gone"}, status_code=410, headers={"x-amzn-ErrorType": "GoneException"})


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
