"""Orders end to end over HTTP on the sandbox rails: reserve, escrow, fund, then release, refund, or
dispute and split. Balances, ledger, events, audit rows and the chain must tell the same story."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import text

from tests.conftest import RAILS
from tests.crypto.conftest import chain_usdc
from tests.lambda_client import call


def _balance(key: str, user: dict) -> dict:
    return call("GET", f"/api/v1/balance/{user['id']}", key=key).data


def _wallet(key: str, user: dict) -> str:
    return call("GET", f"/api/v1/users/{user['id']}/wallet", key=key).data["publicKey"]


def _in_sync(key: str, *users: dict) -> None:
    for user in users:
        sync = call("POST", f"/api/v1/balance/{user['id']}/sync", key=key).data
        assert sync["inSync"], sync


def _ledger_total() -> Decimal:
    from offerhub.adapters.postgres.engine import get_engine

    with get_engine().connect() as conn:
        return conn.execute(text("SELECT coalesce(sum(balance), 0) FROM ledger_accounts")).scalar()


def _types(key: str, aggregate_id: str) -> list[str]:
    from offerhub.adapters.postgres.engine import get_engine

    with get_engine().connect() as conn:
        return list(conn.execute(text("SELECT type FROM events WHERE aggregate_id = :a ORDER BY sequence"),
                                 {"a": aggregate_id}).scalars())


def test_reserve_escrow_fund_moves_the_ledger_and_the_chain_together(order_in, key):
    setup = order_in("IN_PROGRESS", amount="100.00", deposit="150.00")
    order, buyer = setup["order"], setup["buyer"]
    assert _balance(key, buyer)["available"] == "50.00" and _balance(key, buyer)["reserved"] == "0.00"
    escrow = call("GET", f"/api/v1/escrow/{order['escrow']['id']}", key=key).data
    assert escrow["status"] == "FUNDED" and escrow["contractId"].startswith("C")
    assert escrow["onChain"]["balance"] == "100"
    assert escrow["onChain"]["roles"]["receiver"] == _wallet(key, setup["seller"])
    assert [s["step"] for s in escrow["steps"]] == ["deploy", "fund"] and all(len(s["txHash"]) == 64
                                                                                 for s in escrow["steps"])
    assert chain_usdc(RAILS, escrow["contractId"]) == Decimal("100")
    _in_sync(key, buyer)  # 50 available on the ledger, 50 USDC left in the wallet
    assert _types(key, order["id"]) == ["order.created", "order.funds_reserved", "order.escrow_creating",
                                        "order.escrow_funding", "order.escrow_funded"]


def test_release_pays_the_seller_once_net_of_fees_for_every_milestone(order_in, key):
    milestones = [{"ref": "design", "title": "Design", "amount": "60.00"},
                  {"ref": "delivery", "title": "Delivery", "amount": "40.00"}]
    setup = order_in("IN_PROGRESS", amount="100.00", milestones=milestones)
    order, buyer, seller = setup["order"], setup["buyer"], setup["seller"]
    done = call("POST", f"/api/v1/orders/{order['id']}/milestones/design/complete", key=key)
    assert done.status == 200 and done.data["status"] == "COMPLETED"
    again = call("POST", f"/api/v1/orders/{order['id']}/milestones/design/complete", key=key)
    assert again.status == 409 and again.error_code == "INVALID_STATE"
    released = call("POST", "/api/v1/resolution/release", key=key, body={"orderId": order["id"]})
    assert released.status == 200, released.body
    assert released.data["status"] == "CLOSED" and released.data["outcome"] == "RELEASED"
    assert [m["status"] for m in released.data["milestones"]] == ["COMPLETED", "COMPLETED"]
    # 100.00 gross: Trustless Work 0.3% (0.30) and the platform 1% (1.00) → the seller gets 98.70.
    assert _balance(key, seller)["available"] == "98.70" and _balance(key, buyer)["total"] == "0.00"
    assert chain_usdc(RAILS, _wallet(key, seller)) == Decimal("98.7")
    _in_sync(key, buyer, seller)
    escrow = call("GET", f"/api/v1/escrow/{order['escrow']['id']}", key=key).data
    assert escrow["status"] == "RELEASED" and escrow["onChain"]["flags"]["released"] is True
    assert escrow["onChain"]["balance"] == "0"
    assert all(m["approved"] for m in escrow["onChain"]["milestones"])  # both milestones, not only the first
    assert _types(key, order["id"])[-3:] == ["order.release_requested", "order.released", "order.closed"]
    assert _types(key, order["escrow"]["id"]) == ["escrow.created", "escrow.funding_started", "escrow.funded",
                                                  "escrow.milestone_completed",
                                                  "escrow.released"]
    assert _ledger_total() == 0
    again = call("POST", "/api/v1/resolution/release", key=key, body={"orderId": order["id"]})
    assert again.status == 409 and again.error_code == "INVALID_STATE"
    assert _balance(key, seller)["available"] == "98.70"


def test_refund_returns_the_escrow_to_the_buyer(order_in, key, platform_float):
    setup = order_in("IN_PROGRESS", amount="50.00")
    order, buyer = setup["order"], setup["buyer"]
    refunded = call("POST", "/api/v1/resolution/refund", key=key, body={"orderId": order["id"], "reason": "late"})
    assert refunded.status == 200, refunded.body
    assert refunded.data["outcome"] == "REFUNDED" and refunded.data["status"] == "CLOSED"
    # The contract takes its fees on every payout, refunds included (50.00 - 0.15 - 0.50); the platform wallet
    # pays them back (REFUND_FEES_PAID_BY=platform), so the buyer gets it all.
    assert _balance(key, buyer)["available"] == "50.00"
    _in_sync(key, buyer, setup["seller"])
    escrow = call("GET", f"/api/v1/escrow/{order['escrow']['id']}", key=key).data
    assert escrow["status"] == "REFUNDED" and escrow["onChain"]["flags"]["resolved"] is True
    assert _ledger_total() == 0


def test_dispute_then_split_pays_both_sides(order_in, key, api_key, platform_float):
    setup = order_in("IN_PROGRESS", amount="80.00")
    order, buyer, seller = setup["order"], setup["buyer"], setup["seller"]
    opened = call("POST", "/api/v1/disputes", key=key, body={
        "orderId": order["id"], "openedBy": "BUYER", "reason": "QUALITY_ISSUE", "evidence": ["photo.png"]})
    assert opened.status == 201 and opened.data["status"] == "OPEN"
    dispute_id = opened.data["id"]
    assert call("GET", f"/api/v1/orders/{order['id']}", key=key).data["status"] == "DISPUTED"
    blocked = call("POST", "/api/v1/resolution/release", key=key, body={"orderId": order["id"]})
    assert blocked.status == 409 and blocked.error_code == "DISPUTE_ALREADY_OPEN"
    twice = call("POST", "/api/v1/disputes", key=key, body={"orderId": order["id"], "openedBy": "SELLER",
                                                             "reason": "OTHER"})
    assert twice.status == 409
    comment = call("POST", f"/api/v1/disputes/{dispute_id}/comments", key=key, body={"body": "Colours are off"})
    assert comment.status == 201
    writer = api_key("read", "write")
    refused = call("POST", f"/api/v1/disputes/{dispute_id}/resolve", key=writer,
                   body={"decision": "SPLIT", "releaseAmount": "30.00", "refundAmount": "50.00"})
    assert refused.status == 403
    bad_sum = call("POST", f"/api/v1/disputes/{dispute_id}/resolve", key=key,
                   body={"decision": "SPLIT", "releaseAmount": "30.00", "refundAmount": "49.99"})
    assert bad_sum.status == 400 and bad_sum.error_code == "INVALID_AMOUNT"
    resolved = call("POST", f"/api/v1/disputes/{dispute_id}/resolve", key=key,
                    body={"decision": "SPLIT", "releaseAmount": "30.00", "refundAmount": "50.00", "note": "half"})
    assert resolved.status == 200, resolved.body
    assert resolved.data["status"] == "RESOLVED" and resolved.data["comments"][0]["body"] == "Colours are off"
    # Each share pays 0.3% + 1% on chain: seller 30.00 → 29.61; the buyer's fees are paid back: 50.00 whole.
    assert _balance(key, seller)["available"] == "29.61" and _balance(key, buyer)["available"] == "50.00"
    _in_sync(key, buyer, seller)
    closed = call("GET", f"/api/v1/orders/{order['id']}", key=key).data
    assert closed["status"] == "CLOSED" and closed["outcome"] == "SPLIT" and closed["disputeId"] == dispute_id
    listed = call("GET", "/api/v1/disputes", key=key, query={"orderId": order["id"]}).data
    assert [d["id"] for d in listed] == [dispute_id]
    assert _ledger_total() == 0


def test_resolution_resolve_with_amounts_full_refund(order_in, key, platform_float):
    setup = order_in("IN_PROGRESS", amount="20.00")
    order = setup["order"]
    dispute = call("POST", "/api/v1/disputes", key=key, body={"orderId": order["id"], "openedBy": "SELLER",
                                                               "reason": "OTHER"}).data
    for bad in (("0.00", "0.00"), ("0.00", "19.99"), ("20.01", "0.00")):  # must add up to the order amount
        refused = call("POST", "/api/v1/resolution/resolve", key=key,
                       body={"disputeId": dispute["id"], "releaseAmount": bad[0], "refundAmount": bad[1]})
        assert refused.status == 400 and refused.error_code == "INVALID_AMOUNT", refused.body
    result = call("POST", "/api/v1/resolution/resolve", key=key,
                  body={"disputeId": dispute["id"], "releaseAmount": "0.00", "refundAmount": "20.00"})
    assert result.status == 200, result.body
    assert result.data["decision"] == "FULL_REFUND"
    assert _balance(key, setup["buyer"])["available"] == "20.00"
    _in_sync(key, setup["buyer"], setup["seller"])


def test_cancel_lifts_the_reservation_and_illegal_moves_are_409(order_in, key):
    setup = order_in("FUNDS_RESERVED", amount="10.00")
    order, buyer = setup["order"], setup["buyer"]
    assert _balance(key, buyer)["reserved"] == "10.00"
    twice = call("POST", f"/api/v1/orders/{order['id']}/reserve", key=key)
    assert twice.status == 409 and twice.body["error"]["details"]["allowedStates"] == ["ORDER_CREATED"]
    early = call("POST", "/api/v1/resolution/release", key=key, body={"orderId": order["id"]})
    assert early.status == 409 and early.error_code == "INVALID_STATE"
    canceled = call("POST", f"/api/v1/orders/{order['id']}/cancel", key=key, body={"reason": "changed my mind"})
    assert canceled.status == 200 and canceled.data["outcome"] == "CANCELED"
    assert _balance(key, buyer)["available"] == "10.00" and _balance(key, buyer)["reserved"] == "0.00"
    late = call("POST", "/api/v1/escrow", key=key, body={"orderId": order["id"]})
    assert late.status == 409


def test_reserving_more_than_available_is_422(order_in, key):
    setup = order_in("ORDER_CREATED", amount="10.00", deposit="5.00")
    result = call("POST", f"/api/v1/orders/{setup['order']['id']}/reserve", key=key)
    assert result.status == 422 and result.error_code == "INSUFFICIENT_FUNDS"


def test_orders_validate_parties_milestones_and_client_refs(funded_user, key):
    buyer, seller = funded_user(), funded_user()
    base = {"buyer_id": buyer["id"], "seller_id": seller["id"], "amount": "10.00", "title": "t"}  # snake_case too
    assert call("POST", "/api/v1/orders", key=key, body=base).status == 201
    same = call("POST", "/api/v1/orders", key=key, body={**base, "seller_id": buyer["id"]})
    assert same.status == 400
    ghost = call("POST", "/api/v1/orders", key=key, body={**base, "seller_id": "usr_" + "1" * 32})
    assert ghost.status == 404 and ghost.error_code == "USER_NOT_FOUND"
    uneven = call("POST", "/api/v1/orders", key=key, body={**base, "milestones": [
        {"ref": "a", "title": "a", "amount": "4.00"}, {"ref": "b", "title": "b", "amount": "5.00"}]})
    assert uneven.status == 400 and uneven.error_code == "INVALID_AMOUNT"
    first = call("POST", "/api/v1/orders", key=key, body={**base, "client_order_ref": "dup-1"})
    dup = call("POST", "/api/v1/orders", key=key, body={**base, "clientOrderRef": "dup-1"})
    assert first.status == 201 and dup.status == 409 and dup.error_code == "DUPLICATE_CLIENT_ORDER_REF"
    listed = call("GET", "/api/v1/orders", key=key, query={"buyerId": buyer["id"], "limit": "1"})
    assert listed.status == 200 and len(listed.data) == 1 and listed.body["meta"]["pagination"]["hasMore"] is True
    page2 = call("GET", "/api/v1/orders", key=key, query={"buyerId": buyer["id"], "limit": "1",
                                                          "cursor": listed.body["meta"]["pagination"]["nextCursor"]})
    assert page2.data[0]["id"] != listed.data[0]["id"]
    by_status = call("GET", "/api/v1/orders", key=key, query={"buyerId": buyer["id"], "status": "CLOSED"})
    assert by_status.data == []
