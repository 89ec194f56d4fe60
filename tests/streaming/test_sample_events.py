"""The WebSocket and stream dispatcher sample events in events/ go through their real handlers, as API Gateway
and EventBridge would deliver them (frames land in moto's Management API)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from local.functions import LambdaContext
from tests.lambda_client import EVENTS_DIR, load_function
from tests.streaming.helpers import emit, invoke_ws, marker, new_connection_id


def _sample(name: str, **values: str) -> dict[str, Any]:
    text = (EVENTS_DIR / name).read_text()
    for placeholder, value in values.items():
        text = text.replace("{{" + placeholder + "}}", value)
    return json.loads(text)


def _sent(connection_id: str) -> list[dict[str, Any]]:
    from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends
    from moto.core import DEFAULT_ACCOUNT_ID

    connection = apigatewaymanagementapi_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].connections[quote(connection_id)]
    text, decoder, frames, i = connection.data.decode(), json.JSONDecoder(), [], 0
    while i < len(text):
        frame, i = decoder.raw_decode(text, i)
        frames.append(frame)
    return frames


def _dispatch() -> dict[str, Any]:
    # A context with half a second to spare before the dispatcher's 5 s reserve: one short run.
    context = LambdaContext(function_name="stream_dispatcher", timeout_seconds=5.5)
    return load_function("stream_dispatcher").handler(_sample("stream_dispatcher_schedule.json"), context)


def test_the_websocket_samples_through_their_handlers(connections, api_key):
    connection_id, resource = new_connection_id(), marker() + "-0"
    connected = invoke_ws("ws_connect", _sample("ws_connect.json", API_KEY=api_key("read"), RESOURCE_ID=resource,
                                                CONNECTION_ID=connection_id))
    assert connected == {"statusCode": 200}
    stored = connections.get(connection_id)
    assert stored.filters.types == frozenset({"order.*", "escrow.funded"}) and stored.filters.resource_id == resource
    assert stored.extra == {"domainName": "wsapi123.execute-api.us-east-1.amazonaws.com", "stage": "dev"}

    assert invoke_ws("ws_default", _sample("ws_default.json", CONNECTION_ID=connection_id)) == {"statusCode": 200}
    assert _sent(connection_id)[-1] == {"type": "subscribed", "filters": {
        "types": ["dispute.*", "escrow.funded", "order.*"], "resourceId": resource}}

    first = _dispatch()  # the reader exists from here on
    assert not first["skipped"] and first["ticks"] >= 1
    emit(1, resource.removesuffix("-0"), "order.created")
    emit(1, resource.removesuffix("-0"), "user.created")  # not subscribed
    _dispatch()
    pushed = [f for f in _sent(connection_id) if "sequence" in f]
    assert [(f["type"], f["aggregateId"]) for f in pushed] == [("order.created", resource)]

    assert invoke_ws("ws_disconnect", _sample("ws_disconnect.json", CONNECTION_ID=connection_id)) == {
        "statusCode": 200}
    assert connections.get(connection_id) is None
