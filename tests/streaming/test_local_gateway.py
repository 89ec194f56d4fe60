"""End to end over the real local gateway (uvicorn on a free port, the template's functions behind it): a
`websockets` client opens ws://.../ws, the dispatcher pushes an order's events to it through the emulated
Management API, and the gateway shuts down cleanly with clients still connected."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from local.sandbox.rails import free_port
from offerhub.auth.keys import key_id_of
from offerhub.streaming.config import stream_settings
from offerhub.streaming.dispatcher import Dispatcher, run
from tests.streaming.helpers import reader


@dataclass
class Gateway:
    port: int
    server: Any
    thread: threading.Thread

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws(self, **query: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws?" + "&".join(f"{k}={v}" for k, v in query.items())


@pytest.fixture
def gateway(connections: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    import uvicorn

    from local import websocket
    from local.functions import load_handler
    from local.gateway import create_gateway
    from local.template import load

    template = load()
    api = websocket.load(template)
    assert api is not None
    wanted = {r.function for r in template.routes} | api.functions
    handlers = {name: load_handler(fn.code_uri, fn.handler) for name, fn in template.functions.items()
                if name in wanted}
    port = free_port()
    monkeypatch.setenv("WS_MANAGEMENT_URL", f"http://127.0.0.1:{port}")
    stream_settings.cache_clear()
    app = create_gateway(template.routes, template.functions, handlers, websocket=api)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    yield Gateway(port, server, thread)
    server.should_exit = True
    thread.join(timeout=10)
    assert not thread.is_alive()


@pytest.fixture
def dispatching(gateway: Gateway, connections: Any) -> Iterator[Dispatcher]:
    """The stream dispatcher on a thread, as its schedule runs it (posting to the gateway), until the test ends."""
    stop = threading.Event()
    d = Dispatcher(refresh_seconds=0.05)
    runner = threading.Thread(target=run, args=(lambda: 0 if stop.is_set() else 10**9,),
                              kwargs={"reader": reader(), "dispatcher": d, "poll_seconds": 0.02})
    runner.start()
    yield d
    stop.set()
    runner.join(timeout=10)
    assert not runner.is_alive()


def _until(condition: Callable[[], Any], seconds: float = 10) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def _frame(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(ws.recv(timeout=10))


def _connection_of(connections: Any, key: str) -> str:
    return _until(lambda: next((c.connection_id for c in connections.scan() if c.key_id == key_id_of(key)), None))


def test_a_client_sees_an_orders_events_live(gateway, dispatching, connections, api_key, new_user):
    key = api_key()
    auth = {"Authorization": f"Bearer {key}"}
    buyer, seller = new_user()["id"], new_user()["id"]
    with connect(gateway.ws(apiKey=key, types="order.*")) as ws, httpx.Client(base_url=gateway.http) as http:
        _connection_of(connections, key)  # $connect has recorded it
        ws.send(json.dumps({"action": "ping"}))
        assert _frame(ws) == {"type": "pong"}
        order = http.post("/api/v1/orders", headers=auth, json={
            "buyerId": buyer, "sellerId": seller, "amount": "12.00", "title": "Live"}).json()["data"]
        assert http.post(f"/api/v1/orders/{order['id']}/cancel", headers=auth, json={}).status_code == 200
        frames = [_frame(ws) for _ in range(3)]
        assert [f["type"] for f in frames] == ["order.created", "order.canceled", "order.closed"]
        assert all(f["aggregateId"] == order["id"] for f in frames)
        replay = http.get("/api/v1/events", headers=auth, params={"resourceId": order["id"]}).json()["data"]
        assert frames == replay  # the same items GET /events returns, sequence included

        ws.send(json.dumps({"action": "subscribe", "types": ["user.created"]}))
        assert _frame(ws)["filters"]["types"] == ["order.*", "user.created"]
        ws.send("{oops")
        assert _frame(ws)["error"]["code"] == "INVALID_MESSAGE"
        # A filter change applies once the dispatcher has seen it (docs/events.md), not from the answer on.
        _until(lambda: any("user.created" in sub.filters.types for sub in list(dispatching.view.values())))
        user = new_user()
        assert _frame(ws)["data"]["userId"] == user["id"]


def test_a_bad_key_is_refused_at_the_handshake(gateway, connections):
    with pytest.raises(InvalidStatus) as refused:
        connect(gateway.ws(apiKey="ohk_test_nope"))
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body)["error"]["code"] == "UNAUTHORIZED"
    assert connections.scan() == []


def test_an_unknown_type_is_refused_at_the_handshake(gateway, connections, api_key):
    with pytest.raises(InvalidStatus) as refused:
        connect(gateway.ws(apiKey=api_key("read"), types="order.nope"))
    assert refused.value.response.status_code == 400


def test_the_management_api_describes_sends_and_closes(gateway, connections, api_key):
    key = api_key("read")
    management = boto3.client("apigatewaymanagementapi", endpoint_url=gateway.http)
    with connect(gateway.ws(apiKey=key), user_agent_header="stream-test") as ws:
        connection_id = _connection_of(connections, key)
        described = management.get_connection(ConnectionId=connection_id)
        assert described["Identity"]["UserAgent"] == "stream-test" and described["ConnectedAt"]
        management.post_to_connection(ConnectionId=connection_id, Data=b'{"hello":1}')
        assert _frame(ws) == {"hello": 1}
        management.delete_connection(ConnectionId=connection_id)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
    _until(lambda: connections.get(connection_id) is None)  # $disconnect ran
    with pytest.raises(management.exceptions.GoneException):
        management.post_to_connection(ConnectionId=connection_id, Data=b"{}")


def test_closing_the_client_runs_disconnect(gateway, connections, api_key):
    key = api_key("read")
    with connect(gateway.ws(apiKey=key)):
        connection_id = _connection_of(connections, key)
    _until(lambda: connections.get(connection_id) is None)


def test_the_gateway_stops_cleanly_with_clients_connected(gateway, connections, api_key):
    key = api_key("read")
    ws = connect(gateway.ws(apiKey=key))
    connection_id = _connection_of(connections, key)
    gateway.server.should_exit = True
    gateway.thread.join(timeout=10)
    assert not gateway.thread.is_alive()
    with pytest.raises(ConnectionClosed):
        ws.recv(timeout=10)
    assert connections.get(connection_id) is None  # its $disconnect ran before the server returned
    ws.close()
