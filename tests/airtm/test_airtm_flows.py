"""Airtm mode end to end over HTTP: link, top up (confirmed on Airtm, credited by its webhook through the
queue), orders with the escrow held in the ledger, release / refund / split, withdraw to Airtm — and the
ledger, events and audit rows agreeing with the sandbox Airtm's enterprise balance."""

from __future__ import annotations

from decimal import Decimal

from tests.airtm.conftest import balance, drain
from tests.conftest import RAILS
from tests.lambda_client import call


def _ledger_airtm_total() -> Decimal:
    from offerhub.adapters.postgres.unit_of_work import read_only
    from offerhub.ledger import store

    with read_only() as conn:
        return -(store.balance_of(conn, "external:airtm") or Decimal(0))


def _airtm_holds() -> Decimal:
    held = RAILS.airtm.balance()
    return Decimal(held["available"]) + Decimal(held["pending"])


def test_link_an_airtm_account_and_refuse_ineligible_ones(key, gateway):
    user = call("POST", "/api/v1/users", key=key, body={"externalUserId": "ext-link-1"}).data
    assert user["airtmLinked"] is False and user["airtmUserId"] is None
    linked = call("POST", f"/api/v1/users/{user['id']}/airtm/link", key=key, body={"email": "ana@example.com"})
    assert linked.status == 200, linked.body
    assert linked.data["eligible"] is True and linked.data["airtmUserId"] and linked.data["email"] == "ana@example.com"
    assert call("GET", f"/api/v1/users/{user['id']}", key=key).data["airtmLinked"] is True
    for email, reason in (("unknown-1@example.com", "USER_NOT_FOUND"), ("inactive-1@example.com", "USER_INACTIVE"),
                          ("unverified-1@example.com", "USER_NOT_VERIFIED")):
        refused = call("POST", f"/api/v1/users/{user['id']}/airtm/link", key=key, body={"email": email})
        assert refused.status == 422 and refused.error_code == "AIRTM_USER_INVALID", refused.body
        assert refused.body["error"]["details"]["reason"] == reason
    assert call("GET", f"/api/v1/users/{user['id']}/wallet", key=key).status == 404


def test_top_up_is_credited_once_with_the_net_amount(key, airtm_user):
    user = airtm_user()
    created = call("POST", "/api/v1/topups", key=key, body={"userId": user["id"], "amount": "100.00"})
    assert created.status == 201, created.body
    topup = created.data
    assert topup["id"].startswith("topup_") and topup["status"] == "TOPUP_AWAITING_USER_CONFIRMATION"
    assert topup["fee"] == "1.50" and topup["netAmount"] == "98.50" and topup["confirmationUri"]
    done = call("POST", f"/api/v1/test-helpers/topups/{topup['id']}/complete", key=key, body={"outcome": "confirmed"})
    assert done.status == 200, done.body
    assert drain()["received"] >= 1
    assert call("GET", f"/api/v1/topups/{topup['id']}", key=key).data["status"] == "TOPUP_SUCCEEDED"
    assert balance(key, user["id"])["available"] == "98.50"
    # Refreshing again (or replaying Airtm's webhook) credits nothing more.
    assert call("POST", f"/api/v1/topups/{topup['id']}/refresh", key=key).data["status"] == "TOPUP_SUCCEEDED"
    assert balance(key, user["id"])["available"] == "98.50"
    events = [e["type"] for e in call("GET", "/api/v1/events", key=key, query={"resourceId": topup["id"]}).data]
    assert events == ["topup.created", "topup.confirmation_required", "topup.succeeded"]
    succeeded = call("GET", "/api/v1/events", key=key, query={"resourceId": topup["id"], "type": "topup.succeeded"})
    assert succeeded.data[0]["data"]["newAvailableBalance"] == "98.50"


def test_order_release_refund_and_split_in_the_ledger_then_withdraw(key, funded_airtm_user):
    buyer, seller = funded_airtm_user("203.05"), funded_airtm_user("0.00")
    assert balance(key, buyer["id"])["available"] == "200.00"  # 203.05 less Airtm's 1.5%

    def order(amount: str) -> str:
        created = call("POST", "/api/v1/orders", key=key, body={"buyerId": buyer["id"], "sellerId": seller["id"],
                                                                 "amount": amount, "title": "Logo"})
        assert created.status == 201, created.body
        order_id = created.data["id"]
        assert call("POST", f"/api/v1/orders/{order_id}/reserve", key=key).status == 200
        escrow = call("POST", "/api/v1/escrow", key=key, body={"orderId": order_id})
        assert escrow.status == 201 and escrow.data["provider"] == "LEDGER" and escrow.data["contractId"] is None
        funded = call("POST", f"/api/v1/escrow/{escrow.data['id']}/fund", key=key)
        assert funded.status == 200 and funded.data["status"] == "FUNDED", funded.body
        return order_id

    released = call("POST", "/api/v1/resolution/release", key=key, body={"orderId": order("100.00")})
    assert released.status == 200 and released.data["outcome"] == "RELEASED", released.body
    assert balance(key, seller["id"])["available"] == "99.00"  # 1% platform fee, no Trustless Work fee
    refunded = call("POST", "/api/v1/resolution/refund", key=key, body={"orderId": order("50.00"), "reason": "x"})
    assert refunded.status == 200 and refunded.data["outcome"] == "REFUNDED", refunded.body
    split_order = order("40.00")
    dispute = call("POST", "/api/v1/disputes", key=key, body={"orderId": split_order, "openedBy": "BUYER",
                                                              "reason": "QUALITY_ISSUE"})
    assert dispute.status == 201, dispute.body
    resolved = call("POST", f"/api/v1/disputes/{dispute.data['id']}/resolve", key=key,
                    body={"decision": "SPLIT", "releaseAmount": "10.00", "refundAmount": "30.00"})
    assert resolved.status == 200 and resolved.data["status"] == "RESOLVED", resolved.body
    seller_balance = balance(key, seller["id"])
    assert seller_balance["available"] == "108.90"  # 99.00 + 9.90

    withdrawal = call("POST", "/api/v1/withdrawals", key=key, body={
        "userId": seller["id"], "amount": "50.00", "destinationType": "airtm"})
    assert withdrawal.status == 201, withdrawal.body
    wd = withdrawal.data
    assert wd["status"] == "WITHDRAWAL_CREATED" and wd["committed"] is False and wd["airtmPayoutId"]
    assert balance(key, seller["id"])["pending"] == "50.00"
    committed = call("POST", f"/api/v1/withdrawals/{wd['id']}/commit", key=key)
    assert committed.status == 200 and committed.data["status"] == "WITHDRAWAL_COMPLETED", committed.body
    assert committed.data["fee"] == "0.50" and committed.data["netAmount"] == "49.50"
    drain()
    after = balance(key, seller["id"])
    assert (after["available"], after["pending"]) == ("58.90", "0.00")
    # Ledger and Airtm tell the same story: what came in through Airtm less what went out is what it holds.
    assert _ledger_airtm_total() == _airtm_holds()
    from local.functions import LambdaContext
    from tests.lambda_client import load_function

    result = load_function("reconciliation").handler({"id": "t"}, LambdaContext(function_name="reconciliation"))
    assert result["airtmBalance"]["inSync"] is True, result


def test_topups_answer_a_clear_4xx_in_crypto_mode(key, monkeypatch):
    from offerhub.config import settings

    monkeypatch.setenv("PAYMENT_PROVIDER", "crypto")
    settings.cache_clear()
    answer = call("POST", "/api/v1/topups", key=key, body={"userId": "usr_" + "a" * 32, "amount": "10.00"})
    assert answer.status == 422 and answer.error_code == "PAYMENT_PROVIDER_MISMATCH", answer.body
    assert answer.body["error"]["details"] == {"paymentProvider": "crypto", "requires": "airtm"}


def test_top_up_unlinked_user_is_refused(key, gateway):
    user = call("POST", "/api/v1/users", key=key, body={"externalUserId": "ext-unlinked-1"}).data
    refused = call("POST", "/api/v1/topups", key=key, body={"userId": user["id"], "amount": "10.00"})
    assert refused.status == 422 and refused.error_code == "AIRTM_USER_NOT_LINKED"

