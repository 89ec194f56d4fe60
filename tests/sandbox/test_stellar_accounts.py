"""The control routes that make external Stellar accounts on the sandbox chain for tests: a fresh account
funded with XLM by friendbot, with a real USDC trustline when asked, and its balances as 7-decimal strings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from stellar_sdk import Keypair, StrKey

from tests.conftest import RAILS


@pytest.fixture(scope="module")
def control() -> Iterator[httpx.Client]:
    with httpx.Client(base_url=os.environ["SANDBOX_CONTROL_URL"], timeout=10) as client:
        yield client


def test_an_account_trusting_usdc_can_receive_it(control):
    made = control.post("/stellar-accounts", json={"trustUsdc": True})
    assert made.status_code == 201
    address = made.json()["address"]
    assert StrKey.is_valid_ed25519_public_key(address)
    seen = control.get(f"/stellar-accounts/{address}").json()
    assert seen["address"] == address and seen["usdc"] == "0.0000000"
    assert Decimal(seen["xlm"]) == Decimal("10000") - Decimal("0.00001")  # friendbot's 10 000 less the fee
    assert control.post("/mint", json={"destination": address, "amount": "12.34"}).status_code == 200
    assert control.get(f"/stellar-accounts/{address}").json()["usdc"] == "12.3400000"
    # The trustline came from a real ChangeTrust signed by the account: its sequence number moved on by one.
    assert RAILS.chain.account(address)["sequence"] & 0xFFFFFFFF == 1
    assert RAILS.chain.balance(address, RAILS.asset) == 123_400_000


def test_an_account_without_a_trustline_shows_usdc_as_null(control):
    for body in ({"trustUsdc": False}, {}):
        address = control.post("/stellar-accounts", json=body).json()["address"]
        assert control.get(f"/stellar-accounts/{address}").json() == {
            "address": address, "usdc": None, "xlm": "10000.0000000"}
        refused = control.post("/mint", json={"destination": address, "amount": "1"})
        assert refused.status_code == 400


def test_unknown_accounts_are_404_and_bad_requests_400(control):
    missing = Keypair.random().public_key
    answer = control.get(f"/stellar-accounts/{missing}")
    assert answer.status_code == 404
    assert {k: answer.json()[k] for k in ("address", "usdc", "xlm")} == {"address": missing, "usdc": None,
                                                                         "xlm": None}
    assert control.get("/stellar-accounts/not-an-address").status_code == 404
    assert control.post("/stellar-accounts", json={"trustUsdc": "yes"}).status_code == 400


def test_accounts_are_made_the_same_way_through_the_python_api():
    address = RAILS.create_stellar_account(trust_usdc=True)
    assert RAILS.stellar_account(address) == {"address": address, "usdc": "0.0000000", "xlm": "9999.9999900"}
    assert RAILS.stellar_account(Keypair.random().public_key) is None
