"""Upstream compatibility with money on the sandbox chain: its balance, escrow, resolution and dispute paths run
the same use cases as ours (compared answer for answer), a support agent takes a dispute, and the wallet's
payments come from Horizon newest first."""

from __future__ import annotations

from tests.conftest import RAILS
from tests.lambda_client import call

VOLATILE = {"id", "createdAt", "updatedAt", "clientOrderRef", "buyerId", "sellerId", "orderId", "contractId",
            "fundedAt", "releasedAt", "refundedAt", "closedAt", "escrow", "milestones"}


def _shape(view: dict) -> dict:
    """A view without what differs between two orders of the same story (ids, times, nested records)."""
    return {k: v for k, v in view.items() if k not in VOLATILE}


def _order(key: str, buyer: dict, seller: dict, amount: str = "10.00") -> dict:
    created = call("POST", "/api/v1/orders", key=key, body={"buyerId": buyer["id"], "sellerId": seller["id"],
                                                            "amount": amount, "title": "Logo"})
    assert created.status == 201, created.body
    return created.data


def test_reserve_and_cancel_reservation_are_the_orders(funded_user, key):
    buyer, seller = funded_user("30.00"), funded_user()
    theirs_order, ours_order = _order(key, buyer, seller), _order(key, buyer, seller)
    path = f"/api/v1/users/{buyer['id']}/balance/"

    theirs = call("POST", path + "reserve", key=key,
                  body={"orderId": theirs_order["id"], "amount": "10.00", "currency": "USD", "description": "x"})
    assert theirs.status == 200, theirs.body
    assert theirs.data["operation"] == "RESERVE" and theirs.data["amount"] == "10.00"
    assert theirs.data["balance"] == call("GET", f"/api/v1/balance/{buyer['id']}", key=key).data
    assert (theirs.data["balance"]["available"], theirs.data["balance"]["reserved"]) == ("20.00", "10.00")
    ours = call("POST", f"/api/v1/orders/{ours_order['id']}/reserve", key=key)
    assert ours.status == 200
    assert theirs.data["order"] == call("GET", f"/api/v1/orders/{theirs_order['id']}", key=key).data
    assert _shape(theirs.data["order"]) == _shape(ours.data) and ours.data["status"] == "FUNDS_RESERVED"

    again = call("POST", path + "reserve", key=key, body={"orderId": theirs_order["id"]})
    ours_again = call("POST", f"/api/v1/orders/{ours_order['id']}/reserve", key=key)
    assert again.status == ours_again.status == 409 and again.error_code == ours_again.error_code == "INVALID_STATE"

    canceled = call("POST", path + "cancel-reservation", key=key, body={"orderId": theirs_order["id"]})
    assert canceled.status == 200, canceled.body
    assert canceled.data["operation"] == "CANCEL_RESERVATION"
    assert (canceled.data["balance"]["available"], canceled.data["balance"]["reserved"]) == ("20.00", "10.00")
    ours_canceled = call("POST", f"/api/v1/orders/{ours_order['id']}/cancel", key=key)
    assert _shape(canceled.data["order"]) == _shape(ours_canceled.data)
    assert (canceled.data["order"]["status"], canceled.data["order"]["outcome"]) == ("CLOSED", "CANCELED")
    assert call("GET", f"/api/v1/balance/{buyer['id']}", key=key).data["available"] == "30.00"
    assert call("GET", f"/api/v1/users/{buyer['id']}/balance/verify", key=key).status == 200


def test_order_escrow_paths_deploy_and_fund_like_ours(order_in, key):
    theirs_order = order_in("FUNDS_RESERVED", amount="5.00")["order"]
    ours_order = order_in("FUNDS_RESERVED", amount="5.00")["order"]

    theirs = call("POST", f"/api/v1/orders/{theirs_order['id']}/escrow", key=key)
    assert theirs.status == 201, theirs.body
    ours = call("POST", "/api/v1/escrow", key=key, body={"orderId": ours_order["id"]})
    assert ours.status == 201
    assert _shape(theirs.data) == _shape(ours.data) and theirs.data["status"] == "CREATED"
    assert theirs.data["orderId"] == theirs_order["id"] and theirs.data["contractId"]
    twice = call("POST", f"/api/v1/orders/{theirs_order['id']}/escrow", key=key)
    assert twice.status == 409 and twice.error_code == "ESCROW_ALREADY_EXISTS"

    funded = call("POST", f"/api/v1/orders/{theirs_order['id']}/escrow/fund", key=key)
    assert funded.status == 200, funded.body
    ours_funded = call("POST", f"/api/v1/escrow/{ours.data['id']}/fund", key=key)
    assert _shape(funded.data) == _shape(ours_funded.data) and funded.data["status"] == "FUNDED"
    assert funded.data["id"] == theirs.data["id"]
    assert call("GET", f"/api/v1/orders/{theirs_order['id']}", key=key).data["status"] == "IN_PROGRESS"
    again = call("POST", f"/api/v1/orders/{theirs_order['id']}/escrow/fund", key=key)
    assert again.status == 409 and again.error_code == "INVALID_STATE"


def test_order_resolution_paths_release_and_refund_like_ours(order_in, key, platform_float):
    theirs_order = order_in("IN_PROGRESS", amount="4.00")["order"]
    ours_order = order_in("IN_PROGRESS", amount="4.00")["order"]
    refunded_order = order_in("IN_PROGRESS", amount="4.00")["order"]

    theirs = call("POST", f"/api/v1/orders/{theirs_order['id']}/resolution/release", key=key,
                  body={"reason": "delivered"})
    assert theirs.status == 200, theirs.body
    ours = call("POST", "/api/v1/resolution/release", key=key, body={"orderId": ours_order["id"]})
    assert _shape(theirs.data) == _shape(ours.data)
    assert (theirs.data["status"], theirs.data["outcome"]) == ("CLOSED", "RELEASED")

    refunded = call("POST", f"/api/v1/orders/{refunded_order['id']}/resolution/refund", key=key,
                    body={"reason": "not needed"})
    assert refunded.status == 200, refunded.body
    assert (refunded.data["status"], refunded.data["outcome"]) == ("CLOSED", "REFUNDED")
    again = call("POST", f"/api/v1/orders/{refunded_order['id']}/resolution/refund", key=key, body={"reason": "x"})
    assert again.status == 409


def test_a_support_agent_takes_the_dispute_then_resolves_it(order_in, key, api_key):
    order = order_in("IN_PROGRESS", amount="3.00")["order"]
    opened = call("POST", f"/api/v1/orders/{order['id']}/resolution/dispute", key=key,
                  body={"orderId": order["id"], "openedBy": "BUYER", "reason": "NOT_DELIVERED",
                        "evidence": ["photo.png"]})
    assert opened.status == 201, opened.body
    dispute_id = opened.data["id"]
    assert opened.data == call("GET", f"/api/v1/disputes/{dispute_id}", key=key).data
    assert (opened.data["status"], opened.data["assignedTo"], opened.data["assignedAt"]) == ("OPEN", None, None)
    path = f"/api/v1/disputes/{dispute_id}/assign"

    refused = call("POST", path, key=api_key("read", "write"), body={"assignedTo": "agent-7"})
    assert refused.status == 403 and refused.error_code == "INSUFFICIENT_SCOPE"
    support = api_key("support")
    assigned = call("POST", path, key=support, body={"assignedTo": "agent-7"})
    assert assigned.status == 200, assigned.body
    assert (assigned.data["status"], assigned.data["assignedTo"]) == ("UNDER_REVIEW", "agent-7")
    assert assigned.data["assignedAt"] and assigned.data == call("GET", f"/api/v1/disputes/{dispute_id}", key=key).data
    listed = call("GET", "/api/v1/disputes", key=key, query={"status": "UNDER_REVIEW", "orderId": order["id"]})
    assert [d["id"] for d in listed.data] == [dispute_id]

    def under_review() -> list[dict]:
        events = call("GET", "/api/v1/events", key=key, query={"resourceId": dispute_id}).data
        return [e["data"] for e in events if e["type"] == "dispute.under_review"]

    assert [(e["assignedTo"], e["reviewedBy"], e["previousAssignee"]) for e in under_review()] == [
        ("agent-7", "agent-7", None)]
    assert call("POST", path, key=support, body={"assignedTo": "agent-7"}).data == assigned.data  # no change
    handed = call("POST", path, key=support, body={"assignedTo": "agent-9"})
    assert handed.data["assignedTo"] == "agent-9" and handed.data["status"] == "UNDER_REVIEW"
    assert [e["previousAssignee"] for e in under_review()] == [None, "agent-7"]
    audit = call("GET", "/api/v1/audit", key=key, query={"resourceId": dispute_id,
                                                         "action": "dispute.under_review"}).data
    assert [(a["after"]["assignedTo"], a["before"]["status"]) for a in audit] == [
        ("agent-9", "UNDER_REVIEW"), ("agent-7", "OPEN")]
    assert call("POST", f"/api/v1/disputes/{dispute_id}/comments", key=key,
                body={"body": "looking at it"}).status == 201  # the conversation goes on under review

    resolved = call("POST", f"/api/v1/disputes/{dispute_id}/resolve", key=key, body={"decision": "FULL_RELEASE"})
    assert resolved.status == 200, resolved.body
    assert (resolved.data["status"], resolved.data["assignedTo"]) == ("RESOLVED", "agent-9")
    resolving = call("GET", "/api/v1/audit", key=key, query={"resourceId": dispute_id,
                                                             "action": "dispute.resolving"}).data
    assert resolving[0]["before"] == {"status": "UNDER_REVIEW"}
    late = call("POST", path, key=support, body={"assignedTo": "agent-1"})
    assert late.status == 409 and late.error_code == "INVALID_STATE"
    assert late.body["error"]["details"]["allowedStates"] == ["OPEN", "UNDER_REVIEW"]


def test_wallet_transactions_come_from_horizon_newest_first(funded_user, key, api_key):
    user = funded_user("7.00")
    call("POST", "/api/v1/test-helpers/deposits", key=key, body={"userId": user["id"], "amount": "1.25"})
    wallet = call("GET", f"/api/v1/users/{user['id']}/wallet", key=key).data["publicKey"]
    listed = call("GET", f"/api/v1/users/{user['id']}/wallet/transactions", key=api_key("read"))
    assert listed.status == 200, listed.body
    payments = listed.data
    newest, older = payments[0], payments[1]
    assert (newest["type"], newest["to"], newest["amount"], newest["direction"]) == (
        "payment", wallet, "1.2500000", "in")
    assert older["amount"] == "7.0000000" and newest["successful"] is True and newest["hash"]
    assert newest["asset"] == older["asset"] == f"USDC:{RAILS.asset[1]}"
    assert [int(p["id"]) for p in payments] == sorted((int(p["id"]) for p in payments), reverse=True)
    assert any(p["type"] == "create_account" and p["asset"] == "XLM" and p["to"] == wallet for p in payments)
    one = call("GET", f"/api/v1/users/{user['id']}/wallet/transactions", key=key, query={"limit": 1})
    assert one.data == payments[:1]
