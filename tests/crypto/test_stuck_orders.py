"""No order is stuck (issue 9.4): an order whose escrow funding failed can be canceled while the escrow
provably holds nothing, its reservation returning to available; and a reservation the buyer's wallet
cannot back on chain is refused up front instead of failing at funding."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import text

from tests.conftest import RAILS
from tests.crypto.conftest import chain_usdc
from tests.lambda_client import call


def _fault(key: str, target: str, mode: str = "error", count: int = 3) -> None:
    armed = call("POST", "/api/v1/test-helpers/faults", key=key, body={"target": target, "mode": mode, "count": count})
    assert armed.status == 200, armed.body


def _balance(key: str, user_id: str) -> dict:
    return call("GET", f"/api/v1/balance/{user_id}", key=key).data


def _escrow_of(key: str, order_id: str) -> dict:
    return call("GET", f"/api/v1/orders/{order_id}", key=key).data["escrow"]


def _fund_step(order_id: str) -> dict | None:
    from offerhub.adapters.postgres.engine import get_engine

    with get_engine().connect() as conn:
        row = conn.execute(text("SELECT status, tx_hash FROM rail_steps WHERE order_id = :o AND step = 'fund'"),
                           {"o": order_id}).mappings().first()
    return dict(row) if row else None


def test_an_order_whose_funding_failed_is_canceled_and_its_reservation_returned(order_in, key):
    setup = order_in("ESCROW_FUNDING", amount="20.00")
    order_id, buyer = setup["order"]["id"], setup["buyer"]["id"]
    escrow_id = _escrow_of(key, order_id)["id"]
    _fault(key, "fund-escrow")  # every attempt of the client is refused: funding fails
    failed = call("POST", f"/api/v1/escrow/{escrow_id}/fund", key=key)
    assert failed.status == 502, failed.body
    assert _fund_step(order_id) is None  # nothing was ever signed
    assert _balance(key, buyer)["reserved"] == "20.00"

    canceled = call("POST", f"/api/v1/orders/{order_id}/cancel", key=key, body={"reason": "funding failed"})
    assert canceled.status == 200, canceled.body
    assert canceled.data["status"] == "CLOSED"
    balance = _balance(key, buyer)
    assert (balance["available"], balance["reserved"]) == ("20.00", "0.00")
    assert call("GET", f"/api/v1/escrow/{escrow_id}", key=key).data["status"] == "CANCELED"
    wallet = call("GET", f"/api/v1/users/{buyer}/wallet", key=key).data["publicKey"]
    assert chain_usdc(RAILS, wallet) == Decimal("20.00")  # the money never left the wallet
    events = call("GET", "/api/v1/events", key=key, query={"resourceId": order_id, "limit": 50}).data
    closed = next(e for e in events if e["type"] == "order.closed")
    assert closed["data"]["outcome"] == "CANCELED" and closed["data"]["canceledFrom"] == "ESCROW_FUNDING"
    assert (closed["data"]["buyerAmount"], closed["data"]["buyerNet"], closed["data"]["platformFee"]) == \
        ("20.00", "20.00", "0.00")
    again = call("POST", f"/api/v1/escrow/{escrow_id}/fund", key=key)
    assert again.status == 409 and again.error_code == "INVALID_STATE"


def test_an_order_whose_escrow_deploy_failed_can_be_canceled(order_in, key):
    setup = order_in("FUNDS_RESERVED", amount="15.00")
    order_id, buyer = setup["order"]["id"], setup["buyer"]["id"]
    _fault(key, "deploy")
    assert call("POST", "/api/v1/escrow", key=key, body={"orderId": order_id}).status == 502
    assert call("GET", f"/api/v1/orders/{order_id}", key=key).data["status"] == "ESCROW_CREATING"
    canceled = call("POST", f"/api/v1/orders/{order_id}/cancel", key=key)
    assert canceled.status == 200, canceled.body
    assert (_balance(key, buyer)["available"], _balance(key, buyer)["reserved"]) == ("15.00", "0.00")


def test_an_escrow_whose_funding_landed_is_not_canceled_it_is_funded(order_in, key):
    setup = order_in("ESCROW_FUNDING", amount="12.00")
    order_id, buyer = setup["order"]["id"], setup["buyer"]["id"]
    escrow_id = _escrow_of(key, order_id)["id"]
    _fault(key, "send-transaction", "timeout")  # applied on chain, the answer lost every time
    assert call("POST", f"/api/v1/escrow/{escrow_id}/fund", key=key).status == 504
    assert _fund_step(order_id)["status"] == "SUBMITTED"

    refused = call("POST", f"/api/v1/orders/{order_id}/cancel", key=key)
    assert refused.status == 409 and refused.error_code == "ESCROW_FUNDED", refused.body
    assert _balance(key, buyer)["reserved"] == "12.00"  # nothing returned that the contract holds
    funded = call("POST", f"/api/v1/escrow/{escrow_id}/fund", key=key)
    assert funded.status == 200, funded.body
    assert call("GET", f"/api/v1/orders/{order_id}", key=key).data["status"] == "IN_PROGRESS"


def test_a_funding_envelope_that_may_still_land_makes_the_cancel_wait(order_in, key):
    setup = order_in("ESCROW_FUNDING", amount="11.00")
    order_id = setup["order"]["id"]
    escrow_id = _escrow_of(key, order_id)["id"]
    _fault(key, "send-transaction", "error")  # signed and recorded, never sent through
    assert call("POST", f"/api/v1/escrow/{escrow_id}/fund", key=key).status == 502
    assert _fund_step(order_id)["status"] == "SUBMITTED"
    busy = call("POST", f"/api/v1/orders/{order_id}/cancel", key=key, headers={"Idempotency-Key": f"c-{order_id}"})
    assert busy.status == 409 and busy.error_code == "ESCROW_FUNDING_IN_FLIGHT", busy.body
    assert 1 <= int(busy.headers["retry-after"]) <= 301
    assert call("GET", f"/api/v1/orders/{order_id}", key=key).data["status"] == "ESCROW_FUNDING"


def test_a_reservation_the_wallet_cannot_back_is_refused(funded_user, key):
    buyer, seller = funded_user("10.00"), funded_user()
    credited = call("POST", f"/api/v1/balance/{buyer['id']}/credit", key=key,
                    body={"amount": "40.00", "reason": "goodwill, not on chain"})
    assert credited.status == 200, credited.body
    assert _balance(key, buyer["id"])["available"] == "50.00"

    def order(amount: str) -> str:
        created = call("POST", "/api/v1/orders", key=key,
                       body={"buyerId": buyer["id"], "sellerId": seller["id"], "amount": amount, "title": "t"})
        assert created.status == 201, created.body
        return created.data["id"]

    refused = call("POST", f"/api/v1/orders/{order('30.00')}/reserve", key=key)
    assert refused.status == 422 and refused.error_code == "INSUFFICIENT_FUNDS", refused.body
    assert refused.body["error"]["details"]["walletBalance"] == "10.00"
    assert _balance(key, buyer["id"])["reserved"] == "0.00"
    assert call("POST", f"/api/v1/orders/{order('10.00')}/reserve", key=key).status == 200
    assert call("POST", f"/api/v1/orders/{order('1.00')}/reserve", key=key).status == 422  # the minimum order
