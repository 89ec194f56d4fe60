"""`python -m local.stack` as `make run` starts it: the stream dispatcher runs from the template's schedule (a
long-polling invocation on the scheduler's thread), a client on ws://.../ws sees an order's events live and can
resume after one, and SIGTERM still stops everything cleanly with the client connected."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.e2e.test_local_stack import MASTER, Stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(fresh_database_url, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack({"DATABASE_URL": fresh_database_url(),
                     "OFFERHUB_DATA_DIR": str(tmp_path_factory.mktemp("stream-stack-data"))})
    yield running
    if running.process.poll() is None:
        running.stop()


def _frame(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(ws.recv(timeout=20))  # the scheduler's first dispatcher run starts within 3 s


def test_make_run_streams_an_orders_events_and_stops_cleanly(stack: Stack):
    ws_url = stack.base.replace("http://", "ws://").removesuffix("/api/v1") + "/ws"
    with httpx.Client(base_url=stack.base, timeout=30) as http:
        key = http.post("/auth/api-keys", headers={"Authorization": f"Bearer {MASTER}"},
                        json={"name": "stream", "scopes": ["read", "write"]}).json()["data"]["key"]
        auth = {"Authorization": f"Bearer {key}"}
        buyer = http.post("/users", headers=auth, json={"externalUserId": "ws-buyer"}).json()["data"]["id"]
        seller = http.post("/users", headers=auth, json={"externalUserId": "ws-seller"}).json()["data"]["id"]
        with connect(f"{ws_url}?apiKey={key}&types=order.*") as ws:
            ws.send(json.dumps({"action": "ping"}))
            assert _frame(ws) == {"type": "pong"}
            order = http.post("/orders", headers=auth, json={"buyerId": buyer, "sellerId": seller,
                                                             "amount": "5.00", "title": "ws"}).json()["data"]
            assert http.post(f"/orders/{order['id']}/cancel", headers=auth, json={}).status_code == 200
            frames = [_frame(ws) for _ in range(3)]
        assert [f["type"] for f in frames] == ["order.created", "order.canceled", "order.closed"]
        assert frames == http.get("/events", headers=auth, params={"resourceId": order["id"]}).json()["data"]

    with connect(f"{ws_url}?apiKey={key}&types=order.*&after={frames[0]['id']}") as ws:
        assert [_frame(ws)["id"] for _ in range(2)] == [f["id"] for f in frames[1:]]  # resumed after the first
        assert stack.stop() == 0, "".join(stack.output)
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=20)
    assert "Traceback" not in "".join(stack.output), "".join(stack.output)
