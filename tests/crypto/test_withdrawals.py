"""Crypto withdrawals over HTTP on the sandbox rails: a USDC payment from the user's wallet to an external
Stellar address. The money sits in `pending` from creation until the chain confirms; the destination is
paid exactly once whatever fails in between (a Horizon error, a lost answer, a sequence-number race, two
commits at once); the ledger and the chain always tell the same story."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from stellar_sdk import Asset, Keypair, MuxedAccount, StrKey, TransactionBuilder, TransactionEnvelope

from local.sandbox.horizon import sign_and_apply
from local.sandbox.rails import PASSPHRASE
from tests.conftest import RAILS
from tests.lambda_client import call

WD = "/api/v1/withdrawals"


# --- helpers --------------------------------------------------------------------------------------------
def _external(key: str, trust_usdc: bool = True) -> str:
    made = call("POST", "/api/v1/test-helpers/stellar-accounts", key=key, body={"trustUsdc": trust_usdc})
    assert made.status == 201, made.body
    return made.data["address"]


def _usdc(key: str, address: str) -> Decimal | None:
    seen = call("GET", f"/api/v1/test-helpers/stellar-accounts/{address}", key=key)
    assert seen.status == 200, seen.body
    return None if seen.data["usdc"] is None else Decimal(seen.data["usdc"])


def _received(address: str) -> list[dict[str, Any]]:
    """Every successful USDC payment the address received, from the sandbox chain's history."""
    rows = RAILS.chain.payments(account=address, after=None, before=None, limit=200, descending=False)
    return [r for r in rows if r["receiver"] == address and r["code"] == "USDC" and r["successful"]]


def _balance(key: str, user: dict) -> dict[str, str]:
    return call("GET", f"/api/v1/balance/{user['id']}", key=key).data


def _wallet(key: str, user: dict) -> str:
    return call("GET", f"/api/v1/users/{user['id']}/wallet", key=key).data["publicKey"]


def _in_sync(key: str, user: dict) -> dict[str, Any]:
    sync = call("POST", f"/api/v1/balance/{user['id']}/sync", key=key)
    assert sync.status == 200 and sync.data["inSync"], sync.body
    return sync.data


def _create(key: str, user: dict, destination: str | None, amount: str = "10.00", **extra: Any):
    body: dict[str, Any] = {"userId": user["id"], "amount": amount, "destinationType": "crypto", **extra}
    if destination is not None:
        body["destinationRef"] = destination
    return call("POST", WD, key=key, body=body)


def _get(key: str, withdrawal_id: str) -> dict[str, Any]:
    return call("GET", f"{WD}/{withdrawal_id}", key=key).data


def _fault(key: str, mode: str = "error", count: int = 1) -> None:
    armed = call("POST", "/api/v1/test-helpers/faults", key=key,
                 body={"target": "horizon-submit", "mode": mode, "count": count})
    assert armed.status == 200, armed.body


def _chain_tx(tx_hash: str) -> Any:
    from offerhub.stellar.horizon import horizon

    landed = horizon().transaction(tx_hash)
    assert landed is not None and landed["successful"], landed
    return TransactionEnvelope.from_xdr(landed["envelope_xdr"], PASSPHRASE).transaction


def _ctx() -> Any:
    from offerhub.core.context import RequestContext

    return RequestContext(request_id="test-withdrawals")


def _row(withdrawal_id: str) -> dict[str, Any]:
    from offerhub.adapters.postgres.unit_of_work import read_only
    from offerhub.withdrawals import store

    with read_only() as conn:
        row = store.get(conn, withdrawal_id)
    assert row is not None
    return row


def _committed_unsent(key: str, user: dict, destination: str, amount: str) -> dict[str, Any]:
    """A withdrawal left COMMITTED with its envelope recorded and never applied (Horizon answered 500)."""
    created = _create(key, user, destination, amount)
    assert created.status == 201, created.body
    _fault(key, "error")
    failed = call("POST", f"{WD}/{created.data['id']}/commit", key=key)
    assert failed.status == 502 and failed.error_code == "STELLAR_UNAVAILABLE", failed.body
    assert failed.body["error"]["details"]["withdrawalId"] == created.data["id"]
    current = _get(key, created.data["id"])
    assert current["status"] == "WITHDRAWAL_COMMITTED" and len(current["transactionHash"]) == 64
    assert RAILS.chain.transaction(current["transactionHash"]) is None  # recorded, not on chain
    return current


def _types(key: str, withdrawal_id: str) -> list[str]:
    events = call("GET", "/api/v1/events", key=key, query={"resourceId": withdrawal_id, "limit": "100"})
    assert events.status == 200, events.body
    return [e["type"] for e in events.data]


def _audit_actions(key: str, withdrawal_id: str) -> list[str]:
    audit = call("GET", "/api/v1/audit", key=key, query={"resourceId": withdrawal_id, "limit": "100"})
    assert audit.status == 200, audit.body
    return [a["action"] for a in audit.data]


def _run_together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Start every call at the same moment on its own thread; results in the order of `calls`."""
    results: list[Any] = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(i: int) -> None:
        barrier.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


# --- the happy paths --------------------------------------------------------------------------------------
def test_create_then_commit_pays_the_destination_exactly_once(funded_user, key):
    user = funded_user("100.00")
    destination = _external(key)
    _in_sync(key, user)

    created = _create(key, user, destination, "40.00", description="payout")
    assert created.status == 201, created.body
    wd = created.data
    assert wd["id"].startswith("wd_") and wd["status"] == "WITHDRAWAL_CREATED" and wd["committed"] is False
    assert (wd["destinationType"], wd["destinationRef"], wd["amount"]) == ("crypto", destination, "40.00")
    assert wd["transactionHash"] is None and wd["memo"] is None and wd["fee"] is None
    balance = _balance(key, user)
    assert (balance["available"], balance["reserved"], balance["pending"], balance["total"]) == (
        "60.00", "0.00", "40.00", "100.00")
    during = _in_sync(key, user)  # 100 on chain = 60 available + 40 pending
    assert during["chain"]["usdc"] == "100.0000000"
    entries = call("GET", f"/api/v1/balance/{user['id']}/entries", key=key).data
    lines = {(e["account"], e["amount"]) for e in entries if e["reference"] == wd["id"]}
    assert lines == {("available", "-40.00"), ("pending", "40.00")}
    assert _usdc(key, destination) == Decimal("0")

    committed = call("POST", f"{WD}/{wd['id']}/commit", key=key)
    assert committed.status == 200, committed.body
    done = committed.data
    assert done["status"] == "WITHDRAWAL_COMPLETED" and done["committed"] is True
    assert len(done["transactionHash"]) == 64 and done["completedAt"]
    assert (done["fee"], done["netAmount"]) == ("0.00", "40.00")  # the network fee is paid in XLM
    assert _usdc(key, destination) == Decimal("40")
    paid = _received(destination)
    assert [(p["amount"], p["tx_hash"], p["sender"]) for p in paid] == [
        (400_000_000, done["transactionHash"], _wallet(key, user))]
    after = _balance(key, user)
    assert (after["available"], after["reserved"], after["pending"]) == ("60.00", "0.00", "0.00")
    after_sync = _in_sync(key, user)
    assert after_sync["chain"]["usdcInCents"] == "60.00"

    again = call("POST", f"{WD}/{wd['id']}/commit", key=key)
    assert again.status == 409 and again.error_code == "INVALID_STATE", again.body
    late_cancel = call("POST", f"{WD}/{wd['id']}/cancel", key=key)
    assert late_cancel.status == 409 and late_cancel.error_code == "INVALID_STATE"
    refreshed = call("POST", f"{WD}/{wd['id']}/refresh", key=key)
    assert refreshed.status == 200 and refreshed.data["status"] == "WITHDRAWAL_COMPLETED"
    assert _usdc(key, destination) == Decimal("40") and len(_received(destination)) == 1

    listed = call("GET", WD, key=key, query={"userId": user["id"], "status": "WITHDRAWAL_COMPLETED"}).data
    assert [w["id"] for w in listed] == [wd["id"]]
    entries = call("GET", f"/api/v1/balance/{user['id']}/entries", key=key).data
    assert ("pending", "-40.00") in {(e["account"], e["amount"]) for e in entries if e["reference"] == wd["id"]}
    expected = ["withdrawal.created", "withdrawal.committed", "withdrawal.completed"]
    assert _types(key, wd["id"]) == expected
    assert sorted(_audit_actions(key, wd["id"])) == sorted(expected)
    completed = next(e for e in call("GET", "/api/v1/events", key=key,
                                     query={"resourceId": wd["id"], "type": "withdrawal.completed"}).data)
    assert completed["data"]["transactionHash"] == done["transactionHash"]
    assert completed["data"]["netAmount"] == "40.00"


def test_create_with_commit_pays_at_once_with_a_text_memo(funded_user, key):
    user = funded_user("25.00")
    destination = _external(key)
    created = _create(key, user, destination, "25.00", commit=True, memo="invoice 42 · ñ")
    assert created.status == 201, created.body
    wd = created.data
    assert wd["status"] == "WITHDRAWAL_COMPLETED" and wd["committed"] is True
    assert (wd["memoType"], wd["memo"]) == ("text", "invoice 42 · ñ")
    tx = _chain_tx(wd["transactionHash"])
    assert tx.memo.memo_text.decode() == "invoice 42 · ñ"
    assert _usdc(key, destination) == Decimal("25") and len(_received(destination)) == 1
    assert _balance(key, user)["total"] == "0.00"
    _in_sync(key, user)
    assert _types(key, wd["id"]) == ["withdrawal.created", "withdrawal.committed", "withdrawal.completed"]


@pytest.mark.parametrize("memo", [0, 12345678901234567890, 2**64 - 1])
def test_an_id_memo_reaches_the_chain(funded_user, key, memo):
    user = funded_user("5.00")
    destination = _external(key)
    created = _create(key, user, destination, "1.23", commit=True, memo=memo)
    assert created.status == 201, created.body
    assert (created.data["memoType"], created.data["memo"]) == ("id", str(memo))
    assert _chain_tx(created.data["transactionHash"]).memo.memo_id == memo
    assert _usdc(key, destination) == Decimal("1.23")
    _in_sync(key, user)


# --- refused destinations ---------------------------------------------------------------------------------
def _bad_checksum(address: str) -> str:
    """The same address with one character changed: the shape is right, the CRC16 checksum is not."""
    for replacement in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567":
        candidate = address[:10] + replacement + address[11:]
        if candidate != address and not StrKey.is_valid_ed25519_public_key(candidate):
            return candidate
    raise AssertionError("no invalid variant found")


def test_every_invalid_destination_is_refused_before_any_money_moves(funded_user, key):
    user = funded_user("20.00")
    good = _external(key)
    untrusting = _external(key, trust_usdc=False)
    muxed = MuxedAccount(good, 1234).account_muxed
    assert muxed.startswith("M")
    cases: list[tuple[str, dict[str, Any]]] = [
        ("MISSING", {}),
        ("MALFORMED", {"destinationRef": "GABC"}),
        ("MALFORMED", {"destinationRef": _bad_checksum(good)}),
        ("MALFORMED", {"destinationRef": good.lower()}),
        ("MALFORMED", {"destinationRef": Keypair.random().secret}),  # a secret seed, never an address
        ("MALFORMED", {"destinationRef": "C" + good[1:]}),
        ("MALFORMED", {"destinationRef": "M" + good[1:]}),
        ("MUXED_NOT_SUPPORTED", {"destinationRef": muxed}),
        ("OWN_WALLET", {"destinationRef": _wallet(key, user)}),
        ("ACCOUNT_NOT_FOUND", {"destinationRef": Keypair.random().public_key}),
        ("NO_USDC_TRUSTLINE", {"destinationRef": untrusting}),
        ("MEMO_INVALID", {"destinationRef": good, "memo": "x" * 29}),
        ("MEMO_INVALID", {"destinationRef": good, "memo": "é" * 15}),  # 15 characters, 30 bytes
    ]
    for reason, extra in cases:
        refused = call("POST", WD, key=key, body={"userId": user["id"], "amount": "5.00",
                                                  "destinationType": "crypto", **extra})
        assert refused.status == 422 and refused.error_code == "DESTINATION_INVALID", (reason, refused.body)
        details = refused.body["error"]["details"]
        assert details["reason"] == reason and details["destinationRef"] == extra.get("destinationRef"), details
        if reason == "MUXED_NOT_SUPPORTED":
            assert "memo" in refused.body["error"]["message"] and "G" in refused.body["error"]["message"]
    # A text memo that is not valid UTF-8 (a lone surrogate): the HTTP layer refuses it (the rail would too).
    raw = json.dumps({"userId": user["id"], "amount": "5.00", "destinationType": "crypto",
                      "destinationRef": good, "memo": "\ud800"})
    lone = call("POST", WD, key=key, raw_body=raw)
    assert lone.status == 400 and lone.error_code == "VALIDATION_ERROR", lone.body
    exactly = _create(key, user, good, "1.00", memo="x" * 28)  # 28 bytes is the limit, and allowed
    assert exactly.status == 201, exactly.body
    assert call("POST", f"{WD}/{exactly.data['id']}/cancel", key=key).status == 200

    assert call("GET", WD, key=key, query={"userId": user["id"], "status": "WITHDRAWAL_CREATED"}).data == []
    balance = _balance(key, user)
    assert (balance["available"], balance["pending"]) == ("20.00", "0.00")
    assert _usdc(key, good) == Decimal("0")
    _in_sync(key, user)


def test_the_rail_refuses_what_http_cannot_send(funded_user, key, monkeypatch):
    """Checks reachable only below the HTTP layer (which already bounds memo ids) or from other callers."""
    from offerhub.core.errors import NotFound
    from offerhub.stellar.horizon import Horizon
    from offerhub.withdrawals.port import DestinationInvalid
    from offerhub.withdrawals.stellar_rail import StellarPayments

    user = funded_user()
    good = _external(key)
    rail = StellarPayments()
    for memo in (-1, 2**64, True, "", 1.5, "\ud800", "x" * 29):
        with pytest.raises(DestinationInvalid) as refused:
            rail.check_destination(_ctx(), {"id": user["id"]}, good, memo)  # type: ignore[arg-type]
        assert refused.value.details == {"reason": "MEMO_INVALID", "destinationRef": good}
    assert rail.check_destination(_ctx(), {"id": user["id"]}, good, 7).memo == "7"
    with pytest.raises(NotFound) as no_wallet:
        rail.check_destination(_ctx(), {"id": "usr_" + "0" * 32}, good, None)
    assert no_wallet.value.code == "USER_NOT_FOUND"
    # SEP-29: an account that says payments to it need a memo (an exchange) is refused without one.
    real = Horizon.account

    def with_memo_required(self: Horizon, public_key: str) -> dict | None:
        found = real(self, public_key)
        return found and {**found, "data": {"config.memo_required": "MQ=="}}

    monkeypatch.setattr(Horizon, "account", with_memo_required)
    refused = _create(key, user, good, "1.00")
    assert refused.status == 422 and refused.body["error"]["details"]["reason"] == "MEMO_REQUIRED"
    assert rail.check_destination(_ctx(), {"id": user["id"]}, good, "tag").memo_type == "text"


def test_an_airtm_withdrawal_in_crypto_mode_is_a_mode_mismatch(funded_user, key):
    user = funded_user("5.00")
    for kind in ("airtm", "airtm_balance"):
        refused = call("POST", WD, key=key, body={"userId": user["id"], "amount": "1.00", "destinationType": kind})
        assert refused.status == 422 and refused.error_code == "PAYMENT_PROVIDER_MISMATCH", refused.body
    assert _balance(key, user)["available"] == "5.00"


# --- failures, lost answers and retries ---------------------------------------------------------------------
def test_a_horizon_error_leaves_it_committed_and_the_second_commit_pays_once(funded_user, key):
    user = funded_user("30.00")
    destination = _external(key)
    wd = _committed_unsent(key, user, destination, "12.00")
    assert _usdc(key, destination) == Decimal("0")
    balance = _balance(key, user)
    assert (balance["available"], balance["pending"]) == ("18.00", "12.00")
    _in_sync(key, user)  # nothing left the wallet
    cancel = call("POST", f"{WD}/{wd['id']}/cancel", key=key)
    assert cancel.status == 409 and cancel.error_code == "INVALID_STATE"

    retried = call("POST", f"{WD}/{wd['id']}/commit", key=key)
    assert retried.status == 200, retried.body
    assert retried.data["status"] == "WITHDRAWAL_COMPLETED"
    assert retried.data["transactionHash"] == wd["transactionHash"]  # the same envelope, resent
    assert _usdc(key, destination) == Decimal("12") and len(_received(destination)) == 1
    assert call("POST", f"{WD}/{wd['id']}/commit", key=key).status == 409
    assert _usdc(key, destination) == Decimal("12")
    _in_sync(key, user)


def test_a_submit_that_times_out_is_resumed_with_the_same_envelope(funded_user, key, monkeypatch):
    """The sandbox's `timeout` fault holds Horizon's answer (then drops the transaction); the client gives
    up first (504). The retry resends the recorded envelope: paid once, under the recorded hash."""
    from offerhub.stellar.horizon import horizon

    client = horizon().server._client
    monkeypatch.setattr(client, "post_timeout", 0.5)  # shorter than the fault's hold
    user = funded_user("10.00")
    destination = _external(key)
    created = _create(key, user, destination, "10.00")
    _fault(key, "timeout", count=1 + client.num_retries)  # stellar-sdk resends a timed-out POST itself
    timed_out = call("POST", f"{WD}/{created.data['id']}/commit", key=key)
    assert timed_out.status == 504 and timed_out.error_code == "STELLAR_TIMEOUT", timed_out.body
    current = _get(key, created.data["id"])
    assert current["status"] == "WITHDRAWAL_COMMITTED" and current["transactionHash"]
    retried = call("POST", f"{WD}/{created.data['id']}/commit", key=key)
    assert retried.status == 200 and retried.data["status"] == "WITHDRAWAL_COMPLETED", retried.body
    assert retried.data["transactionHash"] == current["transactionHash"]
    assert _usdc(key, destination) == Decimal("10") and len(_received(destination)) == 1
    _in_sync(key, user)


@pytest.mark.parametrize("resend_fails", [False, True])
def test_a_payment_that_landed_but_whose_answer_was_lost_is_not_paid_again(funded_user, key, monkeypatch,
                                                                           resend_fails):
    """Horizon applies the payment, then the answer never arrives (504). The retry resends the same envelope
    (answered from history), or, when that resend fails too, asks Horizon for the hash and finds it landed."""
    from offerhub.core.errors import ProviderTimeout
    from offerhub.stellar.horizon import horizon

    h = horizon()
    real = h.submit_envelope
    lost: list[str] = []

    def applied_then_lost(xdr: str) -> dict[str, Any]:
        if not lost:
            lost.append(xdr)
            real(xdr)
            raise ProviderTimeout("Horizon did not answer in time", code="STELLAR_TIMEOUT")
        return real(xdr)

    monkeypatch.setattr(h, "submit_envelope", applied_then_lost)
    user = funded_user("15.00")
    destination = _external(key)
    created = _create(key, user, destination, "15.00")
    timed_out = call("POST", f"{WD}/{created.data['id']}/commit", key=key)
    assert timed_out.status == 504 and timed_out.error_code == "STELLAR_TIMEOUT", timed_out.body
    current = _get(key, created.data["id"])
    assert current["status"] == "WITHDRAWAL_COMMITTED"
    assert _usdc(key, destination) == Decimal("15")  # already paid on chain
    if resend_fails:
        _fault(key, "error")
    retried = call("POST", f"{WD}/{created.data['id']}/commit", key=key)
    assert retried.status == 200 and retried.data["status"] == "WITHDRAWAL_COMPLETED", retried.body
    assert retried.data["transactionHash"] == current["transactionHash"]
    assert _usdc(key, destination) == Decimal("15") and len(_received(destination)) == 1
    assert _balance(key, user)["total"] == "0.00"
    _in_sync(key, user)


def test_the_reconciliation_refresh_finishes_a_committed_withdrawal(funded_user, key):
    from offerhub.withdrawals import service

    user = funded_user("8.00")
    destination = _external(key)
    wd = _committed_unsent(key, user, destination, "8.00")
    _fault(key, "error")
    with pytest.raises(Exception) as still_down:  # Horizon still failing: it stays as it is, to be retried
        service.refresh_withdrawal(_ctx(), wd["id"])
    assert getattr(still_down.value, "status", None) == 502
    assert _get(key, wd["id"])["status"] == "WITHDRAWAL_COMMITTED"
    finished = service.refresh_withdrawal(_ctx(), wd["id"])
    assert finished["status"] == "WITHDRAWAL_COMPLETED" and finished["transactionHash"] == wd["transactionHash"]
    assert service.refresh_withdrawal(_ctx(), wd["id"])["status"] == "WITHDRAWAL_COMPLETED"
    assert _usdc(key, destination) == Decimal("8") and len(_received(destination)) == 1
    assert _balance(key, user)["pending"] == "0.00"
    _in_sync(key, user)
    assert _types(key, wd["id"])[-1] == "withdrawal.completed"


def test_an_envelope_whose_sequence_number_was_used_is_replaced_once(funded_user, key):
    """The recorded envelope never landed, and the wallet has since sent another transaction with its
    sequence number: resending it is refused (tx_bad_seq), so a new envelope replaces it and pays once."""
    from offerhub.stellar.horizon import horizon
    from offerhub.wallets.service import user_signer

    user = funded_user("9.00")
    destination = _external(key)
    wd = _committed_unsent(key, user, destination, "9.00")
    signer = user_signer(_ctx(), user["id"])
    horizon().submit(signer.secret, lambda b: b.append_payment_op(destination, Asset.native(), "1"))  # XLM only

    retried = call("POST", f"{WD}/{wd['id']}/commit", key=key)
    assert retried.status == 200 and retried.data["status"] == "WITHDRAWAL_COMPLETED", retried.body
    assert retried.data["transactionHash"] != wd["transactionHash"]
    assert RAILS.chain.transaction(wd["transactionHash"]) is None
    assert _row(wd["id"])["transaction_hash"] == retried.data["transactionHash"]
    assert _usdc(key, destination) == Decimal("9") and len(_received(destination)) == 1
    _in_sync(key, user)


def _expired_envelope(user_id: str, destination: str, amount: str, expired_at: int) -> tuple[str, str]:
    """A correctly signed payment from the user's wallet whose time bound has already passed."""
    from offerhub.stellar.horizon import horizon
    from offerhub.wallets.service import user_signer

    signer = user_signer(_ctx(), user_id)
    account = horizon().server.load_account(signer.public_key)
    tx = (TransactionBuilder(account, PASSPHRASE, base_fee=100)
          .append_payment_op(destination, Asset("USDC", RAILS.usdc_issuer), amount)
          .add_time_bounds(0, expired_at).build())
    tx.sign(signer.secret)
    return tx.to_xdr(), tx.hash_hex()


def test_an_envelope_past_its_time_bound_is_replaced_once_it_provably_cannot_land(funded_user, key, monkeypatch):
    from offerhub.adapters.postgres.unit_of_work import transaction
    from offerhub.withdrawals import stellar_rail, store

    user = funded_user("6.00")
    destination = _external(key)
    wd = _committed_unsent(key, user, destination, "6.00")
    xdr, tx_hash = _expired_envelope(user["id"], destination, "6.00", int(time.time()) - 5)
    with transaction(_ctx()) as uow:  # what a commit interrupted long ago would have recorded
        assert store.record_payment(uow.conn, wd["id"], tx_hash, xdr, replacing=wd["transactionHash"])
    # Just past its bound, Horizon might still be ingesting a ledger that holds it: not proven, not replaced.
    early = call("POST", f"{WD}/{wd['id']}/commit", key=key)
    assert early.status == 502 and early.body["error"]["details"]["resultCodes"]["transaction"] == "tx_too_late"
    assert _get(key, wd["id"])["status"] == "WITHDRAWAL_COMMITTED" and _usdc(key, destination) == Decimal("0")

    monkeypatch.setattr(stellar_rail, "INGESTION_GRACE_SECONDS", 0)  # as if the grace period had passed
    retried = call("POST", f"{WD}/{wd['id']}/commit", key=key)
    assert retried.status == 200 and retried.data["status"] == "WITHDRAWAL_COMPLETED", retried.body
    assert retried.data["transactionHash"] != tx_hash  # (it may equal the first envelope: same second, never sent)
    assert _usdc(key, destination) == Decimal("6") and len(_received(destination)) == 1
    _in_sync(key, user)


def test_a_payment_refused_for_good_fails_and_returns_the_money(funded_user, key):
    """The destination drops its USDC trustline between create and commit: the payment lands as failed
    (op_no_trust), nothing moves, the withdrawal fails and the money is available again."""
    user = funded_user("11.00")
    owner = Keypair.random()
    asset = Asset("USDC", RAILS.usdc_issuer)
    for signer, build in ((RAILS.keys["friendbot"], lambda b: b.append_create_account_op(owner.public_key, "50")),
                          (owner, lambda b: b.append_change_trust_op(asset))):
        assert sign_and_apply(RAILS.chain, signer, PASSPHRASE, build)[0] == 200
    created = _create(key, user, owner.public_key, "11.00")
    assert created.status == 201, created.body
    assert sign_and_apply(RAILS.chain, owner, PASSPHRASE, lambda b: b.append_change_trust_op(asset, "0"))[0] == 200

    failed = call("POST", f"{WD}/{created.data['id']}/commit", key=key)
    assert failed.status == 200, failed.body
    assert failed.data["status"] == "WITHDRAWAL_FAILED" and "op_no_trust" in failed.data["failureReason"]
    balance = _balance(key, user)
    assert (balance["available"], balance["pending"]) == ("11.00", "0.00")
    _in_sync(key, user)
    assert call("POST", f"{WD}/{created.data['id']}/commit", key=key).status == 409
    status = call("POST", f"{WD}/{created.data['id']}/refresh", key=key).data["status"]
    assert status == "WITHDRAWAL_FAILED"
    assert _types(key, created.data["id"]) == ["withdrawal.created", "withdrawal.committed", "withdrawal.failed"]


# --- cancel -----------------------------------------------------------------------------------------------
def test_cancel_before_commit_returns_the_money(funded_user, key):
    user = funded_user("20.00")
    destination = _external(key)
    wd = _create(key, user, destination, "15.00").data
    assert _balance(key, user)["pending"] == "15.00"
    canceled = call("POST", f"{WD}/{wd['id']}/cancel", key=key)
    assert canceled.status == 200, canceled.body
    assert canceled.data["status"] == "WITHDRAWAL_CANCELED" and canceled.data["failureReason"]
    balance = _balance(key, user)
    assert (balance["available"], balance["reserved"], balance["pending"]) == ("20.00", "0.00", "0.00")
    _in_sync(key, user)
    for action in ("cancel", "commit"):
        again = call("POST", f"{WD}/{wd['id']}/{action}", key=key)
        assert again.status == 409 and again.error_code == "INVALID_STATE", again.body
        assert again.body["error"]["details"]["currentState"] == "WITHDRAWAL_CANCELED"
    assert _usdc(key, destination) == Decimal("0") and _received(destination) == []
    expected = ["withdrawal.created", "withdrawal.canceled"]
    assert _types(key, wd["id"]) == expected
    assert sorted(_audit_actions(key, wd["id"])) == sorted(expected)


# --- concurrency ------------------------------------------------------------------------------------------
def test_concurrent_withdrawals_of_one_wallet_all_complete(funded_user, key):
    """Four payments from one wallet at once race for its sequence number; the losers rebuild. Each is paid
    exactly once."""
    user = funded_user("50.00")
    destination = _external(key)
    results = _run_together([lambda: _create(key, user, destination, "10.00", commit=True) for _ in range(4)])
    assert [r.status for r in results] == [201] * 4, [r.body for r in results]
    assert {r.data["status"] for r in results} == {"WITHDRAWAL_COMPLETED"}
    hashes = {r.data["transactionHash"] for r in results}
    paid = _received(destination)
    assert len(hashes) == 4 and {p["tx_hash"] for p in paid} == hashes and len(paid) == 4
    assert _usdc(key, destination) == Decimal("40")
    assert _balance(key, user)["available"] == "10.00"
    _in_sync(key, user)


def test_two_commits_of_one_withdrawal_at_once_pay_once(funded_user, key):
    user = funded_user("7.00")
    destination = _external(key)
    wd = _create(key, user, destination, "7.00").data
    results = _run_together([lambda: call("POST", f"{WD}/{wd['id']}/commit", key=key) for _ in range(3)])
    assert {r.status for r in results} <= {200, 409} and 200 in {r.status for r in results}, \
        [r.body for r in results]
    assert all(r.error_code == "INVALID_STATE" for r in results if r.status == 409)
    assert _get(key, wd["id"])["status"] == "WITHDRAWAL_COMPLETED"
    assert _usdc(key, destination) == Decimal("7") and len(_received(destination)) == 1
    _in_sync(key, user)


def test_withdrawals_and_a_reserve_at_once_never_overdraw(funded_user, new_user, key):
    """45 + 45 + 30 from 100: any two fit, never three. The ones that fit succeed, the other is refused with
    INSUFFICIENT_FUNDS, and the ledger still equals the chain."""
    user = funded_user("100.00")
    destination = _external(key)
    seller = new_user()
    order = call("POST", "/api/v1/orders", key=key, body={"buyerId": user["id"], "sellerId": seller["id"],
                                                          "amount": "30.00", "title": "x"}).data
    results = _run_together([
        lambda: _create(key, user, destination, "45.00", commit=True),
        lambda: _create(key, user, destination, "45.00", commit=True),
        lambda: call("POST", f"/api/v1/orders/{order['id']}/reserve", key=key),
    ])
    ok = [r for r in results if r.status in (200, 201)]
    refused = [r for r in results if r.status not in (200, 201)]
    assert len(ok) == 2 and len(refused) == 1, [r.body for r in results]
    assert refused[0].status == 422 and refused[0].error_code == "INSUFFICIENT_FUNDS", refused[0].body
    withdrawals = [r.data for r in results[:2] if r.status == 201]
    assert all(w["status"] == "WITHDRAWAL_COMPLETED" for w in withdrawals)
    withdrawn = sum((Decimal(w["amount"]) for w in withdrawals), Decimal("0.00"))
    reserved = Decimal("30.00") if results[2].status == 200 else Decimal("0.00")
    balance = _balance(key, user)
    assert Decimal(balance["available"]) == Decimal("100.00") - withdrawn - reserved
    assert Decimal(balance["reserved"]) == reserved and balance["pending"] == "0.00"
    assert _usdc(key, destination) == withdrawn and len(_received(destination)) == len(withdrawals)
    _in_sync(key, user)


# --- bad input --------------------------------------------------------------------------------------------
def test_bad_input_on_every_withdrawal_route_is_never_a_500(funded_user, key):
    user = funded_user("5.00")
    destination = _external(key)
    base = {"userId": user["id"], "amount": "1.00", "destinationType": "crypto", "destinationRef": destination}
    bodies: list[tuple[dict[str, Any], int]] = [
        ({**base, "amount": 1}, 400), ({**base, "amount": 1.0}, 400), ({**base, "amount": "1"}, 400),
        ({**base, "amount": "1.001"}, 400), ({**base, "amount": "-1.00"}, 400), ({**base, "amount": "0.00"}, 400),
        ({**base, "amount": "NaN"}, 400), ({**base, "amount": "9" * 40}, 400), ({**base, "amount": None}, 400),
        ({**base, "extra": 1}, 400), ({**base, "memo_id": 1}, 400),
        ({k: v for k, v in base.items() if k != "userId"}, 400),
        ({k: v for k, v in base.items() if k != "amount"}, 400),
        ({k: v for k, v in base.items() if k != "destinationType"}, 400),
        ({**base, "destinationType": "bank"}, 400), ({**base, "destinationType": ""}, 400),
        ({**base, "currency": "EUR"}, 400), ({**base, "commit": "yes"}, 400),
        ({**base, "memo": "x" * 1000}, 400), ({**base, "memo": -1}, 400), ({**base, "memo": 2**64}, 400),
        ({**base, "memo": 1.5}, 400), ({**base, "memo": True}, 400), ({**base, "memo": {}}, 400),
        ({**base, "memo": ""}, 400), ({**base, "memo": "a\x00b"}, 400),
        ({**base, "destinationRef": "G" * 300}, 400), ({**base, "destinationRef": ""}, 400),
        ({**base, "destinationRef": 5}, 400), ({**base, "description": "d" * 5000}, 400),
        ({**base, "userId": "usr_" + "0" * 32}, 404), ({**base, "userId": "nope"}, 404),
        ({**base, "amount": "6.00"}, 422),
    ]
    for body, status in bodies:
        result = call("POST", WD, key=key, body=body)
        assert result.status == status, (body, result.body)
        assert result.body["error"]["code"], result.body
    for raw in ("", "[]", "{", "null", '"x"', json.dumps(base)[:-1]):
        result = call("POST", WD, key=key, raw_body=raw)
        assert 400 <= result.status < 500, (raw, result.body)
    for bad_id in ("nope", "wd_" + "0" * 32, "wd_" + "!" * 32, "x" * 300, "usr_" + "0" * 32):
        for method, suffix in (("GET", ""), ("POST", "/commit"), ("POST", "/cancel"), ("POST", "/refresh")):
            result = call(method, f"{WD}/{bad_id}{suffix}", key=key)
            assert result.status == 404 and result.error_code == "WITHDRAWAL_NOT_FOUND", (bad_id, suffix, result.body)
    for query in ({"status": "BAD"}, {"limit": "0"}, {"limit": "101"}, {"limit": "x"}, {"cursor": "wd_nope"},
                  {"userId": ""}):
        result = call("GET", WD, key=key, query=query)
        assert result.status == 400, (query, result.body)
    unknown_user = call("GET", WD, key=key, query={"userId": "usr_" + "0" * 32})
    assert unknown_user.status == 200 and unknown_user.data == []
    assert _balance(key, user)["available"] == "5.00"
    assert call("GET", WD, key=key, query={"userId": user["id"]}).data == []
