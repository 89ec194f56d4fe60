"""The sandbox Horizon, driven by the real stellar-sdk exactly as the product will drive testnet."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
from stellar_sdk import Asset, Keypair, Network, Server, TransactionBuilder
from stellar_sdk.exceptions import BadRequestError, NotFoundError

from local.sandbox.chain import Chain
from local.sandbox.horizon import create_horizon

PASSPHRASE = Network.TESTNET_NETWORK_PASSPHRASE


@pytest.fixture(scope="module")
def horizon(tmp_path_factory) -> Iterator[tuple[Server, str]]:
    import uvicorn

    path = tmp_path_factory.mktemp("chain") / "chain.sqlite"
    app = create_horizon(Chain(path), passphrase=PASSPHRASE, friendbot_secret=Keypair.random().secret)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield Server(f"http://127.0.0.1:{port}"), str(path)
    server.should_exit = True
    thread.join(5)


def _funded(server: Server) -> Keypair:
    import httpx

    kp = Keypair.random()  # stellar-sdk 16 has no friendbot call: the product GETs <friendbot>?addr= too
    httpx.get(f"{server.horizon_url.rstrip('/')}/friendbot", params={"addr": kp.public_key}).raise_for_status()
    return kp


def _submit(server: Server, signer: Keypair, build, source: Keypair | None = None):
    account = server.load_account((source or signer).public_key)
    builder = TransactionBuilder(account, PASSPHRASE, base_fee=server.fetch_base_fee())
    tx = build(builder).set_timeout(30).build()
    tx.sign(signer)
    return server.submit_transaction(tx)


def _balance(server: Server, account: str, code: str = "USDC") -> Decimal:
    for b in server.accounts().account_id(account).call()["balances"]:
        if b.get("asset_code", "native") == code or (code == "native" and b["asset_type"] == "native"):
            return Decimal(b["balance"])
    raise AssertionError(f"no {code} balance")


def test_friendbot_trustlines_and_usdc_payments(horizon):
    server, _ = horizon
    issuer, alice, bob = _funded(server), _funded(server), _funded(server)
    usdc = Asset("USDC", issuer.public_key)
    assert _balance(server, alice.public_key, "native") == Decimal("10000")
    _submit(server, alice, lambda b: b.append_change_trust_op(usdc))
    _submit(server, issuer, lambda b: b.append_payment_op(alice.public_key, usdc, "100"))
    with pytest.raises(BadRequestError) as no_trust:
        _submit(server, alice, lambda b: b.append_payment_op(bob.public_key, usdc, "40.5"))
    assert no_trust.value.extras["result_codes"] == {"transaction": "tx_failed", "operations": ["op_no_trust"]}
    _submit(server, bob, lambda b: b.append_change_trust_op(usdc))
    result = _submit(server, alice, lambda b: b.append_payment_op(bob.public_key, usdc, "40.5"))
    assert result["successful"] is True and len(result["hash"]) == 64
    assert _balance(server, alice.public_key) == Decimal("59.5")
    assert _balance(server, bob.public_key) == Decimal("40.5")
    with pytest.raises(BadRequestError) as underfunded:
        _submit(server, alice, lambda b: b.append_payment_op(bob.public_key, usdc, "59.5000001"))
    assert underfunded.value.extras["result_codes"]["operations"] == ["op_underfunded"]
    assert _balance(server, alice.public_key) == Decimal("59.5")


def test_sequence_numbers_and_signatures_are_checked(horizon):
    server, _ = horizon
    alice, mallory = _funded(server), _funded(server)
    stale = TransactionBuilder(server.load_account(alice.public_key), PASSPHRASE, base_fee=100)
    pay = stale.append_payment_op(mallory.public_key, Asset.native(), "1").set_timeout(30).build()
    pay.sign(mallory)  # not the source's key
    with pytest.raises(BadRequestError) as bad_auth:
        server.submit_transaction(pay)
    assert bad_auth.value.extras["result_codes"]["transaction"] == "tx_bad_auth"
    ok = TransactionBuilder(server.load_account(alice.public_key), PASSPHRASE, base_fee=100)
    first = ok.append_payment_op(mallory.public_key, Asset.native(), "1").set_timeout(30).build()
    first.sign(alice)
    before = _balance(server, mallory.public_key, "native")
    landed = server.submit_transaction(first)
    # The same signed envelope again is answered from history (as Horizon does) and applied only once.
    assert server.submit_transaction(first)["hash"] == landed["hash"]
    assert _balance(server, mallory.public_key, "native") == before + 1
    stale_again = TransactionBuilder(ok.source_account, PASSPHRASE, base_fee=100)
    stale_again.source_account.sequence -= 1  # a different envelope reusing the consumed sequence number
    second = stale_again.append_payment_op(mallory.public_key, Asset.native(), "2").set_timeout(30).build()
    second.sign(alice)
    with pytest.raises(BadRequestError) as replayed:
        server.submit_transaction(second)
    assert replayed.value.extras["result_codes"]["transaction"] == "tx_bad_seq"


def test_payment_history_pages_with_cursors(horizon):
    server, _ = horizon
    issuer, alice = _funded(server), _funded(server)
    usdc = Asset("USDC", issuer.public_key)
    _submit(server, alice, lambda b: b.append_change_trust_op(usdc))
    for amount in ("1", "2", "3"):
        _submit(server, issuer, lambda b, a=amount: b.append_payment_op(alice.public_key, usdc, a))
    records = server.payments().for_account(alice.public_key).limit(200).call()["_embedded"]["records"]
    assert [r["type"] for r in records] == ["create_account", "payment", "payment", "payment"]
    assert [r["amount"] for r in records[1:]] == ["1.0000000", "2.0000000", "3.0000000"]
    after = server.payments().for_account(alice.public_key).cursor(records[1]["paging_token"]).call()
    assert [r["amount"] for r in after["_embedded"]["records"]] == ["2.0000000", "3.0000000"]
    assert server.payments().for_account(alice.public_key).cursor("now").call()["_embedded"]["records"] == []
    everyone = server.payments().cursor(records[0]["paging_token"]).limit(200).call()["_embedded"]["records"]
    assert {r["id"] for r in records[1:]} <= {r["id"] for r in everyone}


def test_unknown_accounts_are_404_and_state_survives_a_restart(horizon):
    server, path = horizon
    with pytest.raises(NotFoundError):
        server.load_account(Keypair.random().public_key)
    alice = _funded(server)
    reopened = Chain(path)
    assert reopened.account(alice.public_key)["balances"][0]["amount"] == 10_000 * 10_000_000
