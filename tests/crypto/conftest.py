"""Helpers for the crypto-mode flows: funded users, orders carried to a given state, chain reads."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from local.functions import LambdaContext
from tests.conftest import RAILS
from tests.lambda_client import call, load_function


def run_monitor() -> dict[str, Any]:
    return load_function("monitor").handler({"id": "test"}, LambdaContext(function_name="monitor"))


def chain_usdc(rails: Any, public_key: str) -> Decimal:
    stroops = rails.chain.balance(public_key, rails.asset)
    return Decimal(stroops or 0) / 10_000_000


def platform_fees() -> Decimal:
    from offerhub.adapters.postgres.unit_of_work import read_only
    from offerhub.ledger import accounts
    from offerhub.ledger import store as ledger_store

    with read_only() as conn:
        return ledger_store.balance_of(conn, accounts.platform_fees().code) or Decimal("0.00")


def platform_wallet() -> str:
    from offerhub.core.context import RequestContext
    from offerhub.wallets.service import platform_signer

    return platform_signer(RequestContext(request_id="test")).public_key


def fund_platform(amount: str) -> None:
    """The operator sends USDC to the platform wallet (the float from which whole refunds' fees are paid back);
    the monitor credits it to `platform:fees`, so the ledger still equals the chain."""
    before = platform_fees()
    assert RAILS.mint(platform_wallet(), amount)["status"] == 200
    run_monitor()
    assert platform_fees() == before + Decimal(amount)


@pytest.fixture
def platform_float(db: str) -> None:
    """Refunds are whole (REFUND_FEES_PAID_BY=platform): the platform wallet pays the buyer's fees back, so
    a test that refunds must not depend on fees earned by the tests that ran before it."""
    if platform_fees() < Decimal("10.00"):
        fund_platform("20.00")


@pytest.fixture
def key(api_key: Callable[..., str]) -> str:
    return api_key("read", "write", "support")


@pytest.fixture
def funded_user(new_user: Callable[..., dict], key: str) -> Callable[[str], dict]:
    """A user whose wallet received a real USDC deposit on the sandbox network, credited by the monitor."""

    def make(amount: str = "0.00") -> dict:
        user = new_user()
        if Decimal(amount) > 0:
            sent = call("POST", "/api/v1/test-helpers/deposits", key=key, body={"userId": user["id"], "amount": amount})
            assert sent.status == 201, sent.body
            run_monitor()
            balance = call("GET", f"/api/v1/balance/{user['id']}", key=key)
            assert balance.data["available"] == amount, balance.body
        return user

    return make


@pytest.fixture
def order_in(funded_user: Callable[[str], dict], key: str) -> Callable[..., dict]:
    """Factory: an order between a funded buyer and a seller, carried to `state`."""

    def make(state: str = "IN_PROGRESS", amount: str = "100.00", milestones: list[dict] | None = None,
             deposit: str | None = None) -> dict:
        buyer, seller = funded_user(deposit or amount), funded_user()
        body: dict[str, Any] = {"buyerId": buyer["id"], "sellerId": seller["id"], "amount": amount,
                                "title": "Logo design", "clientOrderRef": "ref-" + secrets.token_hex(6)}
        if milestones:
            body["milestones"] = milestones
        order = call("POST", "/api/v1/orders", key=key, body=body)
        assert order.status == 201, order.body
        order_id = order.data["id"]
        steps = ["FUNDS_RESERVED", "ESCROW_FUNDING", "IN_PROGRESS"]
        if state in steps:
            assert call("POST", f"/api/v1/orders/{order_id}/reserve", key=key).status == 200
        if state in steps[1:]:
            escrow = call("POST", "/api/v1/escrow", key=key, body={"orderId": order_id})
            assert escrow.status == 201, escrow.body
        if state == "IN_PROGRESS":
            funded = call("POST", f"/api/v1/escrow/{escrow.data['id']}/fund", key=key)
            assert funded.status == 200, funded.body
        current = call("GET", f"/api/v1/orders/{order_id}", key=key).data
        assert current["status"] == state
        return {"order": current, "buyer": buyer, "seller": seller}

    return make
