"""End to end: `python -m local.stack` as a person runs it, driven over HTTP, then stopped with SIGTERM."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import psutil
import pytest

from tests.e2e.stack import MASTER, Stack, eventually

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(fresh_database_url, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # Its own data dir: never the developer's .devdata (whose DynamoDB state a running `make run` holds).
    running = Stack({"DATABASE_URL": fresh_database_url(),
                     "OFFERHUB_DATA_DIR": str(tmp_path_factory.mktemp("stack-data"))})
    yield running
    assert running.stop() == 0, "".join(running.output)


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base, timeout=30) as c:
        yield c


def test_health_and_request_id(client: httpx.Client):
    response = client.get("/health", headers={"X-Request-ID": "e2e-req-1"})
    assert response.status_code == 200
    assert response.json()["data"]["status"] == "healthy"
    assert response.headers["x-request-id"] == "e2e-req-1"


def test_a_person_with_curl(client: httpx.Client):
    created = client.post("/auth/api-keys", headers={"Authorization": f"Bearer {MASTER}"},
                          json={"name": "e2e", "scopes": ["read", "write", "support"]})
    assert created.status_code == 201, created.text
    key = created.json()["data"]["key"]
    auth = {"Authorization": f"Bearer {key}"}
    user = client.post("/users", headers=auth, json={"externalUserId": "e2e-1", "email": "a@example.com",
                                                      "type": "BUYER"})
    assert user.status_code == 201, user.text
    user_id = user.json()["data"]["id"]
    again = client.post("/users", headers=auth, json={"externalUserId": "e2e-1"})
    assert again.status_code == 200 and again.json()["data"]["id"] == user_id
    credit = client.post(f"/balance/{user_id}/credit", headers=auth, json={"amount": "100.00", "reason": "e2e"})
    assert credit.status_code == 200, credit.text
    balance = client.get(f"/balance/{user_id}", headers={"X-API-Key": key}).json()["data"]
    assert (balance["available"], balance["reserved"], balance["total"], balance["currency"]) == (
        "100.00", "0.00", "100.00", "USD")
    entries = client.get(f"/balance/{user_id}/entries", headers=auth).json()["data"]
    assert [e["amount"] for e in entries] == ["100.00"]
    audit = client.get("/audit", headers=auth, params={"resourceId": user_id}).json()["data"]
    assert {row["action"] for row in audit} == {"user.created", "balance.credited"}
    events = client.get("/events", headers=auth, params={"resourceId": user_id}).json()["data"]
    assert [e["type"] for e in events] == ["user.created", "balance.credited"]
    revoked = client.delete(f"/auth/api-keys/{created.json()['data']['id']}",
                            headers={"Authorization": f"Bearer {MASTER}"})
    assert revoked.status_code == 200
    assert client.get(f"/balance/{user_id}", headers=auth).status_code == 401


def test_routes_the_template_does_not_declare_are_gateway_404s(client: httpx.Client):
    assert client.get("/nowhere").json() == {"message": "Not Found"}
    assert client.put("/users").status_code == 404  # wrong method: no such route in API Gateway
    assert client.get("/health").status_code == 200


def test_idempotency_over_http(client: httpx.Client):
    key = client.post("/auth/api-keys", headers={"Authorization": f"Bearer {MASTER}"},
                      json={"name": "idem", "scopes": ["write"]}).json()["data"]["key"]
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "e2e-k1"}
    first = client.post("/users", headers=headers, json={"externalUserId": "e2e-idem"})
    second = client.post("/users", headers=headers, json={"externalUserId": "e2e-idem"})
    assert first.status_code == second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true" and second.json() == first.json()
    reused = client.post("/users", headers=headers, json={"externalUserId": "e2e-other"})
    assert reused.status_code == 422 and reused.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"


def test_embedded_postgres_starts_and_stops_with_the_stack(tmp_path):
    env = dict(os.environ)
    os.environ.pop("DATABASE_URL", None)
    try:
        stack = Stack({"OFFERHUB_DATA_DIR": str(tmp_path)})
    finally:
        os.environ.clear()
        os.environ.update(env)
    with httpx.Client(base_url=stack.base, timeout=30) as c:
        assert c.get("/health").json()["data"]["dependencies"]["database"]["status"] == "up"
    postgres = [p for p in psutil.process_iter(["cmdline"]) if str(tmp_path) in " ".join(p.info["cmdline"] or [])]
    assert postgres, "no embedded postgres process found for the data dir"
    assert stack.stop() == 0
    _gone, alive = psutil.wait_procs(postgres, timeout=15)
    assert not alive, f"left behind: {alive}"


def test_crypto_mode_on_the_sandbox_rails_survives_a_restart(fresh_database_url, tmp_path):
    """Deposit, order, escrow and release through `make run`; wallets, chain and escrows outlive a restart."""
    env = {"DATABASE_URL": fresh_database_url(), "OFFERHUB_DATA_DIR": str(tmp_path)}
    first = Stack(env)
    try:
        with httpx.Client(base_url=first.base, timeout=30) as c:
            key = c.post("/auth/api-keys", headers={"authorization": f"Bearer {MASTER}"},
                         json={"name": "e2e", "scopes": ["read", "write", "support"]}).json()["data"]["key"]
            auth = {"authorization": f"Bearer {key}"}
            buyer = c.post("/users", headers=auth, json={"externalUserId": "e2e-buyer"}).json()["data"]["id"]
            seller = c.post("/users", headers=auth, json={"externalUserId": "e2e-seller"}).json()["data"]["id"]
            for user in (buyer, seller):  # sign-up queued the wallets' activation: the local poller runs it
                eventually(lambda u=user: c.get(f"/users/{u}/wallet/deposit", headers=auth).json()["data"]["ready"])
            assert c.post("/test-helpers/deposits", headers=auth,
                          json={"userId": buyer, "amount": "60.00"}).status_code == 201
            eventually(lambda: c.get(f"/balance/{buyer}", headers=auth).json()["data"]["available"] == "60.00")
    finally:
        assert first.stop() == 0
    second = Stack(env)  # same data dir: same chain, same KMS key, same database
    try:
        with httpx.Client(base_url=second.base, timeout=30) as c:
            order = c.post("/orders", headers=auth, json={"buyerId": buyer, "sellerId": seller, "amount": "50.00",
                                                           "title": "after restart"}).json()["data"]["id"]
            assert c.post(f"/orders/{order}/reserve", headers=auth).status_code == 200
            escrow = c.post("/escrow", headers=auth, json={"orderId": order})
            assert escrow.status_code == 201, escrow.text  # the buyer's sealed key still opens
            assert c.post(f"/escrow/{escrow.json()['data']['id']}/fund", headers=auth).status_code == 200
            released = c.post("/resolution/release", headers=auth, json={"orderId": order})
            assert released.status_code == 200 and released.json()["data"]["outcome"] == "RELEASED"
            for user in (buyer, seller):
                assert c.post(f"/balance/{user}/sync", headers=auth).json()["data"]["inSync"] is True
            assert c.get(f"/balance/{seller}", headers=auth).json()["data"]["available"] == "49.35"
    finally:
        assert second.stop() == 0
