"""A dispute comment says who wrote it (issue 9.6): BUYER, SELLER or SUPPORT, SUPPORT by default for a key
with the support scope, and only such a key may write as SUPPORT."""

from __future__ import annotations

from tests.lambda_client import call


def test_comments_carry_their_author_role(order_in, key, api_key):
    order = order_in("IN_PROGRESS", amount="5.00")["order"]
    opened = call("POST", "/api/v1/disputes", key=key,
                  body={"orderId": order["id"], "openedBy": "BUYER", "reason": "NOT_DELIVERED"})
    assert opened.status == 201, opened.body
    path = f"/api/v1/disputes/{opened.data['id']}/comments"
    writer = api_key("read", "write")

    by_support = call("POST", path, key=key, body={"body": "We are looking into it"})
    assert by_support.status == 201 and by_support.data["authorRole"] == "SUPPORT"
    by_buyer = call("POST", path, key=writer, body={"body": "Nothing arrived", "authorRole": "BUYER"})
    assert by_buyer.status == 201 and by_buyer.data["authorRole"] == "BUYER"
    by_seller = call("POST", path, key=key, body={"body": "Shipped on Monday", "authorRole": "SELLER"})
    assert by_seller.status == 201 and by_seller.data["authorRole"] == "SELLER"

    unnamed = call("POST", path, key=writer, body={"body": "who am I?"})
    assert unnamed.status == 400 and unnamed.body["error"]["details"]["field"] == "authorRole"
    posing = call("POST", path, key=writer, body={"body": "I am support", "authorRole": "SUPPORT"})
    assert posing.status == 403
    assert call("POST", path, key=writer, body={"body": "x", "authorRole": "JUDGE"}).status == 400

    shown = call("GET", f"/api/v1/disputes/{opened.data['id']}", key=key).data["comments"]
    assert [(c["authorRole"], c["body"]) for c in shown] == [
        ("SUPPORT", "We are looking into it"), ("BUYER", "Nothing arrived"), ("SELLER", "Shipped on Monday")]
