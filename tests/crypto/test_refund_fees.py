"""Refunds are whole (REFUND_FEES_PAID_BY=platform, the default): the contract still takes its fees from the
buyer's share on chain, and the platform wallet pays them back in a resumable step, so the buyer's balance
and wallet go up by exactly the refunded amount. The seller's share is charged as before; `buyer` keeps the
old behaviour. After every flow the ledger sums to zero and equals the chain: each user's balance is their
wallet's USDC rounded down to the cent, and `platform:fees` the platform wallet's."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import ROUND_DOWN, Decimal
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import RAILS
from tests.crypto.conftest import chain_usdc, fund_platform, platform_fees, platform_wallet, run_monitor
from tests.lambda_client import call, load_function

CENT = Decimal("0.01")


def _ctx() -> Any:
    from offerhub.core.context import RequestContext

    return RequestContext(request_id="test-refund-fees")


def _wallet(key: str, user: dict) -> str:
    return call("GET", f"/api/v1/users/{user['id']}/wallet", key=key).data["publicKey"]


def _available(key: str, user: dict) -> Decimal:
    return Decimal(call("GET", f"/api/v1/balance/{user['id']}", key=key).data["available"])


def _state(key: str, user: dict) -> tuple[Decimal, Decimal]:
    """(ledger available, wallet USDC)."""
    return _available(key, user), chain_usdc(RAILS, _wallet(key, user))


def _platform() -> tuple[Decimal, Decimal]:
    """(`platform:fees`, the platform wallet's USDC)."""
    return platform_fees(), chain_usdc(RAILS, platform_wallet())


def _ledger_equals_chain(key: str, *users: dict) -> None:
    from offerhub.wallets.sync import check_platform

    for user in users:
        sync = call("POST", f"/api/v1/balance/{user['id']}/sync", key=key).data
        assert sync["inSync"], sync
    platform = check_platform(_ctx())
    assert platform["inSync"], platform
    fees, usdc = _platform()
    assert fees == usdc.quantize(CENT, rounding=ROUND_DOWN)
    from offerhub.adapters.postgres.engine import get_engine

    with get_engine().connect() as conn:
        assert conn.execute(text("SELECT coalesce(sum(balance), 0) FROM ledger_accounts")).scalar() == 0


def _steps(order_id: str) -> dict[str, dict[str, Any]]:
    from offerhub.adapters.postgres.engine import get_engine

    with get_engine().connect() as conn:
        rows = conn.execute(text("SELECT step, status, tx_hash, result FROM rail_steps WHERE order_id = :o"),
                            {"o": order_id}).mappings()
        return {r["step"]: dict(r) for r in rows}


def _closed(key: str, order_id: str) -> dict[str, Any]:
    events = call("GET", "/api/v1/events", key=key, query={"resourceId": order_id, "type": "order.closed"}).data
    assert len(events) == 1, events
    return events[0]["data"]


def _fault(key: str, target: str, mode: str = "error", count: int = 1) -> None:
    armed = call("POST", "/api/v1/test-helpers/faults", key=key, body={"target": target, "mode": mode, "count": count})
    assert armed.status == 200, armed.body


def _take_out_platform_fees(*, record: bool = True) -> Decimal:
    """The operator takes every whole cent out of the platform wallet (the sub-cent dust stays), recording it
    in `platform:fees` unless `record` is False (then the ledger believes the platform still holds them)."""
    from stellar_sdk import Asset

    from offerhub.adapters.postgres.unit_of_work import transaction
    from offerhub.ledger import accounts
    from offerhub.ledger import service as ledger
    from offerhub.stellar.horizon import horizon
    from offerhub.wallets.service import platform_signer

    amount = chain_usdc(RAILS, platform_wallet()).quantize(CENT, rounding=ROUND_DOWN)
    if amount > 0:
        outside = RAILS.create_stellar_account(trust_usdc=True)
        horizon().submit(platform_signer(_ctx()).secret, lambda b: b.append_payment_op(
            outside, Asset("USDC", RAILS.usdc_issuer), f"{amount:.2f}"))
        if record:
            with transaction(_ctx()) as uow:
                ledger.post(uow, "PLATFORM_WITHDRAWAL", [(accounts.platform_fees(), -amount),
                                                         (accounts.external("stellar"), amount)])
    return amount


@pytest.fixture
def buyer_pays(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from offerhub.config import settings

    monkeypatch.setenv("REFUND_FEES_PAID_BY", "buyer")
    settings.cache_clear()
    yield
    monkeypatch.undo()
    settings.cache_clear()


# --- refund ------------------------------------------------------------------------------------------------
def test_a_refund_of_50_gives_the_buyer_exactly_50_back_on_the_ledger_and_in_the_wallet(
        order_in, key, platform_float):
    setup = order_in("IN_PROGRESS", amount="50.00")
    order, buyer, seller = setup["order"], setup["buyer"], setup["seller"]
    before, platform_before = _state(key, buyer), _platform()
    refunded = call("POST", "/api/v1/resolution/refund", key=key, body={"orderId": order["id"], "reason": "late"})
    assert refunded.status == 200, refunded.body
    assert refunded.data["status"] == "CLOSED" and refunded.data["outcome"] == "REFUNDED"
    after = _state(key, buyer)
    assert (after[0] - before[0], after[1] - before[1]) == (Decimal("50.00"), Decimal("50"))
    # On chain the contract paid 49.35 and took 0.50 (platform) + 0.15 (Trustless Work); the platform wallet
    # then paid the buyer 0.65. The platform earns nothing on a refund and bears Trustless Work's 0.15.
    fees, usdc = _platform()
    assert (fees - platform_before[0], usdc - platform_before[1]) == (Decimal("-0.15"), Decimal("-0.15"))
    topup = _steps(order["id"])["topup:buyer"]
    assert topup["status"] == "CONFIRMED" and topup["result"]["amount"] == "0.6500000"
    assert RAILS.chain.transaction(topup["tx_hash"]) is not None
    # The top-up is a plain payment into the buyer's wallet; the deposit monitor must not credit it again.
    run_monitor()
    assert _available(key, buyer) == after[0]
    _ledger_equals_chain(key, buyer, seller)
    escrow = call("GET", f"/api/v1/escrow/{order['escrow']['id']}", key=key).data
    assert escrow["onChain"]["balance"] == "0" and "topup:buyer" in [s["step"] for s in escrow["steps"]]
    closed = _closed(key, order["id"])
    assert closed.pop("closedAt").endswith("Z")
    assert closed == {"orderId": order["id"], "status": "CLOSED", "finalStatus": "CLOSED", "outcome": "REFUNDED",
                      "amount": "50.00", "currency": "USD", "sellerAmount": "0.00", "sellerNet": "0.00",
                      "buyerAmount": "50.00", "buyerNet": "50.00", "platformFee": "0.00", "trustlessWorkFee": "0.15"}
    refunded_event = call("GET", "/api/v1/events", key=key,
                          query={"resourceId": order["id"], "type": "order.refunded"}).data[0]["data"]
    assert refunded_event["payouts"]["buyer"] == {"gross": "50.00", "net": "50.00", "platformFee": "0.00",
                                                  "trustlessWorkFee": "0.15", "feesPaidBy": "PLATFORM"}


def test_refund_fees_paid_by_buyer_keeps_the_fees_on_the_buyer(order_in, key, platform_float, buyer_pays):
    setup = order_in("IN_PROGRESS", amount="50.00")
    order, buyer = setup["order"], setup["buyer"]
    before, platform_before = _state(key, buyer), _platform()
    refunded = call("POST", "/api/v1/resolution/refund", key=key, body={"orderId": order["id"], "reason": "late"})
    assert refunded.status == 200, refunded.body
    after = _state(key, buyer)
    assert (after[0] - before[0], after[1] - before[1]) == (Decimal("49.35"), Decimal("49.35"))
    fees, usdc = _platform()
    assert (fees - platform_before[0], usdc - platform_before[1]) == (Decimal("0.50"), Decimal("0.5"))
    assert "topup:buyer" not in _steps(order["id"])
    closed = _closed(key, order["id"])
    assert (closed["outcome"], closed["buyerAmount"], closed["buyerNet"], closed["platformFee"],
            closed["trustlessWorkFee"]) == ("REFUNDED", "50.00", "49.35", "0.50", "0.15")
    _ledger_equals_chain(key, buyer, setup["seller"])


# --- split ---------------------------------------------------------------------------------------------------
def test_a_split_pays_the_buyer_share_whole_and_the_seller_share_net_of_fees(order_in, key, platform_float):
    setup = order_in("IN_PROGRESS", amount="80.00")
    order, buyer, seller = setup["order"], setup["buyer"], setup["seller"]
    buyer_before, seller_before, platform_before = _state(key, buyer), _state(key, seller), _platform()
    dispute = call("POST", "/api/v1/disputes", key=key, body={"orderId": order["id"], "openedBy": "BUYER",
                                                               "reason": "QUALITY_ISSUE"}).data
    # Shares with sub-cent fees: Trustless Work's 0.3% of 67.66 is 0.20298, which the platform wallet bears.
    resolved = call("POST", f"/api/v1/disputes/{dispute['id']}/resolve", key=key,
                    body={"decision": "SPLIT", "releaseAmount": "12.34", "refundAmount": "67.66"})
    assert resolved.status == 200, resolved.body
    buyer_after, seller_after = _state(key, buyer), _state(key, seller)
    assert (buyer_after[0] - buyer_before[0], buyer_after[1] - buyer_before[1]) == (Decimal("67.66"),
                                                                                    Decimal("67.66"))
    # The seller's share is charged as before: 12.34 - 0.03702 - 0.1234 = 12.17958 on chain, 12.17 credited.
    assert seller_after[1] - seller_before[1] == Decimal("12.17958")
    assert seller_after[0] - seller_before[0] == Decimal("12.17")
    # The platform: +0.1234 (its fee on the seller's share, none on the buyer's), -0.20298 (Trustless Work's
    # fee on the buyer's share, paid back to the buyer).
    assert chain_usdc(RAILS, platform_wallet()) - platform_before[1] == Decimal("0.1234") - Decimal("0.20298")
    _ledger_equals_chain(key, buyer, seller)
    closed = _closed(key, order["id"])
    assert {k: closed[k] for k in ("outcome", "amount", "sellerAmount", "sellerNet", "buyerAmount", "buyerNet",
                                   "platformFee")} == {
        "outcome": "SPLIT", "amount": "80.00", "sellerAmount": "12.34", "sellerNet": "12.17",
        "buyerAmount": "67.66", "buyerNet": "67.66", "platformFee": "0.12"}
    resolved_event = call("GET", "/api/v1/events", key=key,
                          query={"resourceId": dispute["id"], "type": "dispute.resolved"}).data[0]["data"]
    assert resolved_event["payouts"]["buyer"]["platformFee"] == "0.00"
    assert resolved_event["payouts"]["buyer"]["feesPaidBy"] == "PLATFORM"
    assert resolved_event["payouts"]["seller"]["feesPaidBy"] == "RECEIVER"


def test_a_release_is_unchanged_and_order_closed_says_so(order_in, key):
    setup = order_in("IN_PROGRESS", amount="100.00")
    order = setup["order"]
    released = call("POST", "/api/v1/resolution/release", key=key, body={"orderId": order["id"]})
    assert released.status == 200, released.body
    closed = _closed(key, order["id"])
    assert {k: v for k, v in closed.items() if k != "closedAt"} == {
        "orderId": order["id"], "status": "CLOSED", "finalStatus": "CLOSED", "outcome": "RELEASED",
        "amount": "100.00", "currency": "USD", "sellerAmount": "100.00", "sellerNet": "98.70",
        "buyerAmount": "0.00", "buyerNet": "0.00", "platformFee": "1.00", "trustlessWorkFee": "0.30"}
    assert "topup:buyer" not in _steps(order["id"])


# --- the platform wallet is short ----------------------------------------------------------------------------
def test_a_platform_wallet_without_the_fees_leaves_the_refund_requested_until_it_is_funded(order_in, key):
    setup = order_in("IN_PROGRESS", amount="50.00")
    order, buyer = setup["order"], setup["buyer"]
    taken = _take_out_platform_fees()
    before = _state(key, buyer)
    refused = call("POST", "/api/v1/resolution/refund", key=key, body={"orderId": order["id"], "reason": "x"})
    assert refused.status == 503 and refused.error_code == "PLATFORM_FUNDS_INSUFFICIENT", refused.body
    assert refused.body["error"]["details"]["needed"] == "0.1500000"
    # Refused before anything moved on chain: the order waits in REFUND_REQUESTED, the escrow still holds it all.
    assert call("GET", f"/api/v1/orders/{order['id']}", key=key).data["status"] == "REFUND_REQUESTED"
    assert chain_usdc(RAILS, order["escrow"]["contractId"]) == Decimal("50")
    assert _state(key, buyer) == before and "resolve" not in _steps(order["id"])
    # The reconciliation keeps trying and keeps failing cleanly while the platform is short.
    reconciliation = load_function("reconciliation").handler
    from local.functions import LambdaContext

    assert order["id"] in reconciliation({"id": "t"}, LambdaContext(function_name="reconciliation"))["failed"]
    fund_platform(str(max(taken, Decimal("1.00"))))
    finished = reconciliation({"id": "t"}, LambdaContext(function_name="reconciliation"))
    assert order["id"] in finished["finished"], finished
    after = _state(key, buyer)
    assert (after[0] - before[0], after[1] - before[1]) == (Decimal("50.00"), Decimal("50"))
    assert call("GET", f"/api/v1/orders/{order['id']}", key=key).data["outcome"] == "REFUNDED"
    _ledger_equals_chain(key, buyer, setup["seller"])


def test_a_top_up_the_chain_refuses_for_want_of_usdc_is_rebuilt_once_the_wallet_is_funded(
        order_in, key, platform_float):
    """The ledger says the platform can pay, the wallet cannot (its USDC left without being recorded): the
    resolution lands, the top-up fails on chain (moving nothing), the refund stays requested, and the retry
    after the wallet is funded replaces the failed envelope and pays the buyer once."""
    setup = order_in("IN_PROGRESS", amount="50.00")
    order, buyer = setup["order"], setup["buyer"]
    before = _state(key, buyer)
    taken = _take_out_platform_fees(record=False)
    assert taken > 0
    refused = call("POST", "/api/v1/resolution/refund", key=key, body={"orderId": order["id"], "reason": "x"})
    assert refused.status == 503 and refused.error_code == "PLATFORM_FUNDS_INSUFFICIENT", refused.body
    steps = _steps(order["id"])
    assert steps["resolve"]["status"] == "CONFIRMED" and steps["topup:buyer"]["status"] == "SUBMITTED"
    failed_hash = steps["topup:buyer"]["tx_hash"]
    assert RAILS.chain.transaction(failed_hash)["successful"] == 0
    assert call("GET", f"/api/v1/orders/{order['id']}", key=key).data["status"] == "REFUND_REQUESTED"
    assert _available(key, buyer) == before[0]  # nothing settled in the ledger yet
    assert RAILS.mint(platform_wallet(), f"{taken:.2f}")["status"] == 200  # the operator puts it back
    retried = call("POST", "/api/v1/resolution/refund", key=key, body={"orderId": order["id"], "reason": "x"})
    assert retried.status == 200, retried.body
    topup = _steps(order["id"])["topup:buyer"]
    assert topup["status"] == "CONFIRMED" and topup["tx_hash"] != failed_hash
    after = _state(key, buyer)
    assert (after[0] - before[0], after[1] - before[1]) == (Decimal("50.00"), Decimal("50"))
    _ledger_equals_chain(key, buyer, setup["seller"])
    # The monitor credits the operator's payment to `platform:fees`; the operator books the USDC that had
    # left unrecorded, and the ledger equals the chain again.
    run_monitor()
    from offerhub.adapters.postgres.unit_of_work import transaction
    from offerhub.ledger import accounts
    from offerhub.ledger import service as ledger

    with transaction(_ctx()) as uow:
        ledger.post(uow, "PLATFORM_WITHDRAWAL", [(accounts.platform_fees(), -taken),
                                                 (accounts.external("stellar"), taken)])
    _ledger_equals_chain(key, buyer, setup["seller"])


def test_a_top_up_that_landed_but_whose_answer_was_lost_is_not_paid_twice(order_in, key, platform_float,
                                                                           monkeypatch):
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

    setup = order_in("IN_PROGRESS", amount="30.00")
    order, buyer = setup["order"], setup["buyer"]
    before = _state(key, buyer)
    monkeypatch.setattr(h, "submit_envelope", applied_then_lost)
    timed_out = call("POST", "/api/v1/resolution/refund", key=key, body={"orderId": order["id"], "reason": "x"})
    assert timed_out.status == 504 and timed_out.error_code == "STELLAR_TIMEOUT", timed_out.body
    recorded = _steps(order["id"])["topup:buyer"]
    assert recorded["status"] == "SUBMITTED"
    assert chain_usdc(RAILS, _wallet(key, buyer)) - before[1] == Decimal("30")  # paid on chain, answer lost
    _fault(key, "horizon-submit")  # the resend fails too: Horizon is asked whether the hash landed
    retried = call("POST", "/api/v1/resolution/refund", key=key, body={"orderId": order["id"], "reason": "x"})
    assert retried.status == 200, retried.body
    topup = _steps(order["id"])["topup:buyer"]
    assert topup["status"] == "CONFIRMED" and topup["tx_hash"] == recorded["tx_hash"]  # confirmed, not rebuilt
    after = _state(key, buyer)
    assert (after[0] - before[0], after[1] - before[1]) == (Decimal("30.00"), Decimal("30"))
    _ledger_equals_chain(key, buyer, setup["seller"])


# --- airtm mode: the escrow held in the ledger ----------------------------------------------------------------
@pytest.fixture
def ledger_escrow(monkeypatch: pytest.MonkeyPatch, fresh_database_url: Callable[[], str], db: str
                  ) -> Iterator[None]:
    """airtm mode (PAYMENT_PROVIDER=airtm: the escrow is the ledger's own account), on a database of its own
    as tests/airtm does, so its platform fees never meet the crypto-mode platform wallet's."""
    from offerhub.adapters.postgres import engine
    from offerhub.adapters.postgres.migrations import upgrade_to_head
    from offerhub.config import settings

    url = fresh_database_url()
    upgrade_to_head(url)
    built = engine.build_engine(url, pool_size=5, max_overflow=10)
    crypto_engine = engine.get_engine()
    engine.set_engine(built)
    monkeypatch.setenv("PAYMENT_PROVIDER", "airtm")
    settings.cache_clear()
    yield
    monkeypatch.undo()
    settings.cache_clear()
    engine.set_engine(crypto_engine)
    built.dispose()


@pytest.mark.parametrize("paid_by, buyer_gets, platform_gets", [("platform", "50.00", "0.00"),
                                                               ("buyer", "49.50", "0.50")])
def test_a_ledger_escrow_refund_follows_the_same_policy(ledger_escrow, monkeypatch, paid_by, buyer_gets,
                                                        platform_gets):
    from offerhub.config import settings

    monkeypatch.setenv("REFUND_FEES_PAID_BY", paid_by)
    settings.cache_clear()
    from tests.conftest import MASTER_KEY

    created = call("POST", "/api/v1/auth/api-keys", key=MASTER_KEY,
                   body={"name": "airtm", "scopes": ["read", "write", "support"]})
    key = created.data["key"]
    buyer, seller = (call("POST", "/api/v1/users", key=key, body={"externalUserId": f"ext-{paid_by}-{role}"}).data
                     for role in ("buyer", "seller"))
    assert call("POST", f"/api/v1/balance/{buyer['id']}/credit", key=key,
                body={"amount": "100.00", "reason": "test funds"}).status == 200
    order = call("POST", "/api/v1/orders", key=key, body={"buyerId": buyer["id"], "sellerId": seller["id"],
                                                          "amount": "50.00", "title": "Logo"}).data["id"]
    assert call("POST", f"/api/v1/orders/{order}/reserve", key=key).status == 200
    escrow = call("POST", "/api/v1/escrow", key=key, body={"orderId": order}).data
    assert escrow["provider"] == "LEDGER"
    assert call("POST", f"/api/v1/escrow/{escrow['id']}/fund", key=key).status == 200
    refunded = call("POST", "/api/v1/resolution/refund", key=key, body={"orderId": order, "reason": "x"})
    assert refunded.status == 200 and refunded.data["outcome"] == "REFUNDED", refunded.body
    assert _available(key, buyer) == Decimal("50.00") + Decimal(buyer_gets)
    assert platform_fees() == Decimal(platform_gets)
    closed = _closed(key, order)
    assert (closed["buyerAmount"], closed["buyerNet"], closed["platformFee"], closed["trustlessWorkFee"]) == (
        "50.00", buyer_gets, platform_gets, "0.00")
