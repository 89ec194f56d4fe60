"""$default messages through their function: answers go out as frames through the Management API (moto
records them per connection), a bad message gets an error frame and the connection stays."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from tests.streaming.helpers import invoke_ws, new_connection_id, ws_event


def _frames(connection_id: str) -> list[dict[str, Any]]:
    """The frames moto received for this connection since the last call (it concatenates their bytes)."""
    from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends
    from moto.core import DEFAULT_ACCOUNT_ID

    # moto keys connections by the id as it appears in the URL path ('=' percent-encoded)
    connection = apigatewaymanagementapi_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].connections[quote(connection_id)]
    text, connection.data = connection.data.decode(), b""
    decoder, frames, i = json.JSONDecoder(), [], 0
    while i < len(text):
        frame, i = decoder.raw_decode(text, i)
        frames.append(frame)
    return frames


def _say(connection_id: str, body: Any) -> dict[str, Any]:
    text = body if isinstance(body, str) else json.dumps(body)
    assert invoke_ws("ws_default", ws_event("$default", connection_id, body=text)) == {"statusCode": 200}
    frames = _frames(connection_id)
    assert len(frames) == 1, frames
    return frames[0]


def test_ping_answers_pong(open_connection):
    assert _say(open_connection(), {"action": "ping"}) == {"type": "pong"}


def test_subscribe_and_unsubscribe_change_the_stored_filters(open_connection, connections):
    connection_id = open_connection(types="order.created")
    reply = _say(connection_id, {"action": "subscribe", "types": ["escrow.*", "dispute.opened"], "resourceId": "ord_1"})
    assert reply == {"type": "subscribed", "filters": {
        "types": ["dispute.opened", "escrow.*", "order.created"], "resourceId": "ord_1"}}
    assert connections.get(connection_id).filters.types == frozenset({"order.created", "escrow.*", "dispute.opened"})

    reply = _say(connection_id, {"action": "unsubscribe", "types": ["order.created"], "resourceId": "ord_1"})
    assert reply["filters"] == {"types": ["dispute.opened", "escrow.*"], "resourceId": None}
    stored = connections.get(connection_id).filters
    assert stored.types == frozenset({"escrow.*", "dispute.opened"}) and stored.resource_id is None

    reply = _say(connection_id, {"action": "unsubscribe"})  # everything: the connection stays, silent
    assert reply == {"type": "unsubscribed", "filters": {"types": [], "resourceId": None}}
    assert _say(connection_id, {"action": "ping"}) == {"type": "pong"}


def test_subscribing_to_everything(open_connection, connections):
    connection_id = open_connection(types="order.created")
    assert _say(connection_id, {"action": "subscribe", "types": ["*"]})["filters"]["types"] == ["*", "order.created"]
    assert connections.get(connection_id).filters.exact_types is None


@pytest.mark.parametrize(("body", "code"), [
    ("{not json", "INVALID_MESSAGE"),
    ("", "INVALID_MESSAGE"),
    ('["subscribe"]', "INVALID_MESSAGE"),
    ({"action": "dance"}, "UNKNOWN_ACTION"),
    ({"types": ["order.*"]}, "UNKNOWN_ACTION"),
    ({"action": "subscribe", "types": ["order.nope"]}, "VALIDATION_ERROR"),
    ({"action": "subscribe", "types": "order.*"}, "VALIDATION_ERROR"),
    ({"action": "subscribe", "resourceId": 42}, "VALIDATION_ERROR"),
])
def test_a_bad_message_gets_an_error_frame_and_the_connection_stays(open_connection, connections, body, code):
    connection_id = open_connection(types="order.created")
    reply = _say(connection_id, body)
    assert reply["type"] == "error"
    assert reply["error"]["code"] == code and reply["error"]["message"]
    assert connections.get(connection_id).filters.types == frozenset({"order.created"})  # unchanged
    assert _say(connection_id, {"action": "ping"}) == {"type": "pong"}


def test_an_unknown_action_names_the_known_ones(open_connection):
    reply = _say(open_connection(), {"action": "dance"})
    assert reply["error"]["details"] == {"allowed": ["subscribe", "unsubscribe", "ping"]}


def test_subscribing_on_a_closed_connection_is_an_error_frame(connections):
    reply = _say(new_connection_id(), {"action": "subscribe", "types": ["order.*"]})
    assert reply["error"]["code"] == "CONNECTION_NOT_FOUND"
