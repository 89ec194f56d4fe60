"""Many orders, random flows, random rail faults, retried until done: after every order the ledger sums to
zero, every user's ledger equals their wallet to the cent, and no USDC is created or lost on chain."""

from __future__ import annotations

import random
from decimal import Decimal

from sqlalchemy import text

from tests.conftest import RAILS
from tests.crypto.conftest import chain_usdc
from tests.lambda_client import call

FAULTS = ["deploy", "fund-escrow", "change-milestone-status", "approve-milestone", "release-funds",
          "dispute-escrow", "resolve-dispute", "send-transaction", "horizon-submit"]


def _until_done(method: str, path: str, key: str, body: dict | None = None, ok: int = 200):
    """Retry a money-moving request as an integrator would: after a 5xx (or a busy order), the same request."""
    for _ in range(12):
        result = call(method, path, key=key, body=body)
        if result.status == ok:
            return result
        assert result.status in (502, 503, 504) or result.error_code == "ORDER_BUSY", result.body
    raise AssertionError(f"{path} never finished: {result.body}")


def _ledger_total() -> Decimal:
    from offerhub.adapters.postgres.engine import get_engine

    with get_engine().connect() as conn:
        return conn.execute(text("SELECT coalesce(sum(balance), 0) FROM ledger_accounts")).scalar()


def test_random_orders_with_faults_keep_every_invariant(funded_user, key, platform_float):
    rng = random.Random(20261125)
    users = [funded_user("300.00") for _ in range(4)]
    contracts: list[str] = []
    for n in range(12):
        buyer, seller = rng.sample(range(4), 2)
        amount = (Decimal(rng.randint(100, 4000)) / 100).quantize(Decimal("0.01"))
        cut = (amount * Decimal(rng.randint(20, 80)) / 100).quantize(Decimal("0.01"))
        milestones = [{"ref": "a", "title": "a", "amount": str(cut)}, {"ref": "b", "title": "b",
                                                                      "amount": str(amount - cut)}] \
            if rng.random() < 0.5 and Decimal("0.01") <= cut < amount else None
        body = {"buyerId": users[buyer]["id"], "sellerId": users[seller]["id"], "amount": str(amount),
                "title": f"order {n}", **({"milestones": milestones} if milestones else {})}
        order_id = call("POST", "/api/v1/orders", key=key, body=body).data["id"]
        flow = rng.choice(["release", "refund", "split", "cancel"])
        fault = rng.choice(FAULTS)
        call("POST", "/api/v1/test-helpers/faults", key=key,
             body={"target": fault, "mode": "error", "count": rng.randint(1, 5)})
        reserved = call("POST", f"/api/v1/orders/{order_id}/reserve", key=key)
        if reserved.status == 422:  # the buyer has spent their deposit: a refusal that moves nothing
            assert reserved.error_code == "INSUFFICIENT_FUNDS"
            flow = "cancel"
        if flow == "cancel":
            _until_done("POST", f"/api/v1/orders/{order_id}/cancel", key)
        else:
            escrow = _until_done("POST", "/api/v1/escrow", key, {"orderId": order_id}, ok=201).data
            contracts.append(_until_done("POST", f"/api/v1/escrow/{escrow['id']}/fund", key).data["contractId"])
            if flow == "release":
                _until_done("POST", "/api/v1/resolution/release", key, {"orderId": order_id})
            elif flow == "refund":
                _until_done("POST", "/api/v1/resolution/refund", key, {"orderId": order_id, "reason": "r"})
            else:
                dispute = _until_done("POST", "/api/v1/disputes", key, {"orderId": order_id, "openedBy": "SELLER",
                                                                       "reason": "OTHER"}, ok=201).data
                release = (amount * Decimal(rng.randint(1, 99)) / 100).quantize(Decimal("0.01"))
                _until_done("POST", f"/api/v1/disputes/{dispute['id']}/resolve", key,
                            {"decision": "SPLIT", "releaseAmount": str(release),
                             "refundAmount": str(amount - release)})
        call("POST", "/api/v1/test-helpers/faults", key=key, body={"target": fault, "count": 0})  # disarm
        order = call("GET", f"/api/v1/orders/{order_id}", key=key).data
        assert order["status"] == "CLOSED", order
        assert _ledger_total() == 0
        for user in users:
            sync = call("POST", f"/api/v1/balance/{user['id']}/sync", key=key).data
            assert sync["inSync"], sync
        assert all(chain_usdc(RAILS, c) == 0 for c in contracts)  # nothing stranded in an escrow
    # The platform's fees: what the ledger counts is exactly what its wallet holds, rounded down to the cent.
    from local.functions import LambdaContext
    from tests.lambda_client import load_function

    result = load_function("reconciliation").handler({"id": "t"}, LambdaContext(function_name="reconciliation"))
    assert result["platformFees"]["inSync"], result["platformFees"]
    assert Decimal(result["platformFees"]["ledger"]) > 0
