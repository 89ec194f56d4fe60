"""Smaller findings of the black-box review (issue 9.7) on orders, milestones and the deposit helper."""

from __future__ import annotations

from tests.lambda_client import call


def test_a_milestone_ref_that_cannot_be_a_path_segment_is_refused(funded_user, key):
    buyer, seller = funded_user(), funded_user()
    for ref in ("a/b", "..%2F", "with space", "x" * 65, "é"):
        refused = call("POST", "/api/v1/orders", key=key, body={
            "buyerId": buyer["id"], "sellerId": seller["id"], "amount": "2.00", "title": "t",
            "milestones": [{"ref": ref, "title": "one", "amount": "1.00"},
                           {"ref": "two", "title": "two", "amount": "1.00"}]})
        assert refused.status == 400 and refused.body["error"]["details"]["field"] == "milestones[0].ref", ref
    accepted = call("POST", "/api/v1/orders", key=key, body={
        "buyerId": buyer["id"], "sellerId": seller["id"], "amount": "2.00", "title": "t",
        "milestones": [{"ref": "design-v1.2_final", "title": "one", "amount": "2.00"}]})
    assert accepted.status == 201, accepted.body


def test_an_unknown_milestone_is_404_whatever_the_orders_state(order_in, key):
    for state in ("ORDER_CREATED", "IN_PROGRESS"):
        order_id = order_in(state, amount="3.00")["order"]["id"]
        unknown = call("POST", f"/api/v1/orders/{order_id}/milestones/nope/complete", key=key)
        assert unknown.status == 404 and unknown.error_code == "MILESTONE_NOT_FOUND", (state, unknown.body)
    early = call("POST", f"/api/v1/orders/{order_in('ORDER_CREATED', amount='3.00')['order']['id']}"
                         "/milestones/main/complete", key=key)
    assert early.status == 409 and early.error_code == "INVALID_STATE"


def test_the_deposit_helper_names_an_unknown_user(key):
    unknown = call("POST", "/api/v1/test-helpers/deposits", key=key,
                   body={"userId": "usr_" + "0" * 32, "amount": "1.00"})
    assert unknown.status == 404 and unknown.error_code == "USER_NOT_FOUND"
    wallet = call("GET", "/api/v1/users/usr_" + "0" * 32 + "/wallet", key=key)
    assert wallet.status == 404 and wallet.error_code == "USER_NOT_FOUND"
