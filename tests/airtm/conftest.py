"""Airtm mode: the layer switched to PAYMENT_PROVIDER=airtm for these tests, the gateway on a real port
(the sandbox Airtm delivers its Svix-signed webhooks to our ingress through it), and a drain that feeds
the queued webhooks to the worker as SQS batches, as the event source mapping would."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import RAILS, WEBHOOK_QUEUE_URL
from tests.lambda_client import call, load_function


@pytest.fixture(scope="session")
def airtm_engine(fresh_database_url: Callable[[], str], database_url: str) -> Iterator[Any]:
    """An airtm-mode deployment has its own database: its ledger (platform fees held at Airtm, not in a
    platform wallet) never mixes with the crypto-mode tests' checks."""
    from offerhub.adapters.postgres import engine
    from offerhub.adapters.postgres.migrations import upgrade_to_head

    url = fresh_database_url()
    upgrade_to_head(url)
    built = engine.build_engine(url, pool_size=10, max_overflow=60)
    yield built
    built.dispose()


@pytest.fixture(autouse=True)
def airtm_mode(monkeypatch: pytest.MonkeyPatch, airtm_engine: Any, database_url: str) -> Iterator[None]:
    from offerhub.adapters.postgres import engine
    from offerhub.config import settings

    crypto_engine = engine.get_engine()
    engine.set_engine(airtm_engine)
    monkeypatch.setenv("PAYMENT_PROVIDER", "airtm")
    settings.cache_clear()
    yield
    monkeypatch.undo()
    settings.cache_clear()
    engine.set_engine(crypto_engine)


@pytest.fixture(scope="session")
def gateway(database_url: str, aws: None) -> Iterator[str]:
    """The local API Gateway emulation on a free port; the sandbox Airtm's webhooks go to its ingress."""
    from local.gateway import create_gateway
    from local.sandbox.rails import free_port, serve_in_thread
    from local.template import load
    from tests.conftest import AIRTM_WEBHOOK_SECRET

    template = load()
    handlers = {name: load_function(fn.code_uri.rstrip("/").split("/")[-1]).handler
                for name, fn in template.functions.items() if any(r.function == name for r in template.routes)}
    port = free_port()
    server = serve_in_thread(create_gateway(template.routes, template.functions, handlers), port)
    base = f"http://127.0.0.1:{port}/api/v1"
    RAILS.airtm.configure_webhooks(f"{base}/webhooks/airtm", AIRTM_WEBHOOK_SECRET)
    yield base
    RAILS.airtm.configure_webhooks(None)
    server.should_exit = True


def drain(max_batches: int = 50) -> dict[str, int]:
    """Wait for the sandbox's webhook deliveries, then run the worker on the queue until it is empty."""
    from local.queues import QueueBinding, poll_once

    assert RAILS.airtm.wait_idle(10), "the sandbox Airtm did not finish delivering its webhooks"
    worker = load_function("webhook_worker").handler
    binding = QueueBinding(WEBHOOK_QUEUE_URL, worker, "webhook-worker")
    totals = {"received": 0, "failed": 0, "deleted": 0}
    for _ in range(max_batches):
        result = poll_once(binding)
        for k in totals:
            totals[k] += result[k]
        if result["received"] == 0:
            break
    return totals


@pytest.fixture
def key(api_key: Callable[..., str]) -> str:
    return api_key("read", "write", "support")


@pytest.fixture
def airtm_user(key: str, gateway: str) -> Callable[..., dict]:
    """Factory: a user linked to an (eligible) sandbox Airtm account."""

    def make(email: str | None = None) -> dict:
        email = email or f"user-{secrets.token_hex(5)}@example.com"
        created = call("POST", "/api/v1/users", key=key,
                       body={"externalUserId": "ext-" + secrets.token_hex(8), "email": email})
        assert created.status == 201, created.body
        assert created.data["airtmLinked"] is True, created.body
        return created.data

    return make


def top_up(key: str, user_id: str, amount: str) -> dict[str, Any]:
    """A confirmed top-up, credited through the webhook → queue → worker path."""
    created = call("POST", "/api/v1/topups", key=key, body={"userId": user_id, "amount": amount})
    assert created.status == 201, created.body
    done = call("POST", f"/api/v1/test-helpers/topups/{created.data['id']}/complete", key=key,
                body={"outcome": "confirmed"})
    assert done.status == 200, done.body
    drain()
    topup = call("GET", f"/api/v1/topups/{created.data['id']}", key=key).data
    assert topup["status"] == "TOPUP_SUCCEEDED", topup
    return topup


@pytest.fixture
def funded_airtm_user(airtm_user: Callable[..., dict], key: str) -> Callable[..., dict]:
    def make(amount: str = "100.00", email: str | None = None) -> dict:
        user = airtm_user(email)
        if Decimal(amount) > 0:
            topup = top_up(key, user["id"], amount)
            user["available"] = topup["netAmount"]
        return user

    return make


def balance(key: str, user_id: str) -> dict[str, str]:
    return call("GET", f"/api/v1/balance/{user_id}", key=key).data
