"""Upstream compatibility (docs/migrating-from-upstream.md): its paths answer what ours answer (the same use
cases), its body and query names are accepted, and the routes we lacked (tokens, config, detailed health, the
refusing balance moves) behave, with their scopes, their bad input and their 404s. Flows that need money on the
sandbox chain are in tests/crypto/test_upstream_compat_crypto.py; airtm mode in tests/airtm/."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from tests.lambda_client import call

UNKNOWN_USER = "usr_" + "0" * 32
UNKNOWN_ORDER = "ord_" + "0" * 32
UNKNOWN_KEY = "key_" + "0" * 32
VOLATILE = {"checkedAt", "updatedAt"}


def _same(a: dict, b: dict, *, ignore: set[str] = VOLATILE) -> None:
    assert {k: v for k, v in a.items() if k not in ignore} == {k: v for k, v in b.items() if k not in ignore}


def _error(result) -> tuple[int, str | None, dict]:
    """What an error answer says, without its request id."""
    return result.status, result.error_code, result.body["error"].get("details", {})


@pytest.fixture
def key(api_key: Callable[..., str]) -> str:
    return api_key("read", "write", "support")


@pytest.fixture
def order(key: str, new_user: Callable[..., dict]) -> dict:
    buyer, seller = new_user(), new_user()
    created = call("POST", "/api/v1/orders", key=key,
                   body={"buyer_id": buyer["id"], "seller_id": seller["id"], "amount": "10.00", "title": "t"})
    assert created.status == 201, created.body
    return created.data


# --- balance at /users/{userId}/balance ------------------------------------------------------------------------
def test_balance_alias_answers_what_the_balance_route_answers(key, new_user):
    user = new_user()
    credited = call("POST", f"/api/v1/users/{user['id']}/balance/credit", key=key,
                    body={"amount": "12.50", "description": "goodwill", "reference": "ticket-1"})
    assert credited.status == 200, credited.body
    assert credited.data["operation"] == "CREDIT" and credited.data["balance"]["available"] == "12.50"
    ours = call("GET", f"/api/v1/balance/{user['id']}", key=key)
    theirs = call("GET", f"/api/v1/users/{user['id']}/balance", key=key)
    assert theirs.status == ours.status == 200 and theirs.data == ours.data
    debited = call("POST", f"/api/v1/users/{user['id']}/balance/debit", key=key,
                   body={"amount": "2.50", "reason": "fee"})
    assert debited.status == 200 and debited.data["balance"]["available"] == "10.00"
    lines = call("GET", f"/api/v1/balance/{user['id']}/entries", key=key).data
    assert [e["description"] for e in lines[:2]] == ["fee", "goodwill"]  # upstream's description is the reason


def test_balance_alias_credit_refusals_match_ours(key, api_key, new_user):
    user = new_user()
    for body in ({"amount": "1.00"}, {"amount": 1, "description": "x"}, {"amount": "1.00", "description": ""},
                 {"amount": "1.00", "description": "x", "unknown": 1}, {"amount": "1.00", "reason": "x",
                                                                         "currency": "EUR"}):
        ours = call("POST", f"/api/v1/balance/{user['id']}/credit", key=key, body=body)
        theirs = call("POST", f"/api/v1/users/{user['id']}/balance/credit", key=key, body=body)
        assert theirs.status == ours.status == 400 and theirs.error_code == ours.error_code, (body, theirs.body)
    write_only = call("POST", f"/api/v1/users/{user['id']}/balance/credit", key=api_key("read", "write"),
                      body={"amount": "1.00", "description": "x"})
    assert write_only.status == 403 and write_only.error_code == "INSUFFICIENT_SCOPE"
    unknown = call("POST", f"/api/v1/users/{UNKNOWN_USER}/balance/credit", key=key,
                   body={"amount": "1.00", "description": "x"})
    assert unknown.status == 404 and unknown.error_code == "USER_NOT_FOUND"


def test_sync_alias_and_verify(key, api_key, new_user):
    user = new_user()
    ours = call("POST", f"/api/v1/balance/{user['id']}/sync", key=key)
    theirs = call("POST", f"/api/v1/users/{user['id']}/balance/sync", key=key)
    assert ours.status == theirs.status == 200
    _same(ours.data, theirs.data)
    verified = call("GET", f"/api/v1/users/{user['id']}/balance/verify", key=api_key("read"))
    assert verified.status == 200, verified.body
    assert verified.data["providerVerified"] is True and verified.data["total"] == "0.00"
    # A manual credit the chain does not back: the ledger and the wallet differ.
    call("POST", f"/api/v1/users/{user['id']}/balance/credit", key=key, body={"amount": "3.00", "reason": "x"})
    differs = call("GET", f"/api/v1/users/{user['id']}/balance/verify", key=key)
    assert differs.status == 409 and differs.error_code == "BALANCE_DISCREPANCY", differs.body
    assert differs.body["error"]["details"] == {"userId": user["id"], "localBalance": "3.00",
                                                "providerBalance": "0.00", "difference": "-3.00", "currency": "USD"}
    assert call("GET", f"/api/v1/users/{UNKNOWN_USER}/balance/verify", key=key).error_code == "USER_NOT_FOUND"


def test_balance_moves_act_only_through_the_users_order(key, api_key, order):
    buyer, seller = order["buyerId"], order["sellerId"]
    base = "/api/v1/users/{}/balance/{}"
    # Another user's order, an amount that is not the order's, an unknown order or user.
    mismatch = call("POST", base.format(seller, "reserve"), key=key, body={"orderId": order["id"], "amount": "10.00"})
    assert mismatch.status == 422 and mismatch.error_code == "ORDER_USER_MISMATCH", mismatch.body
    wrong = call("POST", base.format(buyer, "reserve"), key=key, body={"orderId": order["id"], "amount": "9.99"})
    assert wrong.status == 400 and wrong.error_code == "INVALID_AMOUNT"
    assert call("POST", base.format(buyer, "reserve"), key=key,
                body={"orderId": UNKNOWN_ORDER}).error_code == "ORDER_NOT_FOUND"
    assert call("POST", base.format(UNKNOWN_USER, "reserve"), key=key,
                body={"orderId": order["id"]}).error_code == "USER_NOT_FOUND"
    assert call("POST", base.format(buyer, "reserve"), key=key, body={}).status == 400
    assert call("POST", base.format(buyer, "reserve"), key=key,
                body={"orderId": order["id"], "currency": "EUR"}).error_code == "INVALID_CURRENCY"
    # The buyer holds nothing: the same refusal as POST /orders/{id}/reserve.
    theirs = call("POST", base.format(buyer, "reserve"), key=key, body={"orderId": order["id"], "amount": "10.00"})
    ours = call("POST", f"/api/v1/orders/{order['id']}/reserve", key=key)
    assert theirs.status == 422 and _error(theirs) == _error(ours)
    # Nothing is reserved yet: cancel-reservation only cancels an order holding a reservation.
    early = call("POST", base.format(buyer, "cancel-reservation"), key=key, body={"orderId": order["id"]})
    assert early.status == 409 and early.error_code == "INVALID_STATE"
    assert early.body["error"]["details"]["allowedStates"] == ["FUNDS_RESERVED"]
    assert call("GET", f"/api/v1/orders/{order['id']}", key=key).data["status"] == "ORDER_CREATED"
    read_only = call("POST", base.format(buyer, "reserve"), key=api_key("read"), body={"orderId": order["id"]})
    assert read_only.status == 403


@pytest.mark.parametrize("operation,route", [("release", "/resolution/release"), ("deduct-reserved", "/escrow/fund")])
def test_release_and_deduct_reserved_name_the_order_route(key, order, operation, route):
    result = call("POST", f"/api/v1/users/{order['buyerId']}/balance/{operation}", key=key,
                  body={"orderId": order["id"], "amount": "10.00", "sellerId": order["sellerId"], "currency": "USD"})
    assert result.status == 422 and result.error_code == "USE_ORDER_ROUTE", result.body
    assert result.body["error"]["details"]["use"] == f"POST /api/v1/orders/{order['id']}{route}"
    assert route in result.body["error"]["message"]
    assert call("GET", f"/api/v1/balance/{order['buyerId']}", key=key).data["reserved"] == "0.00"
    unknown = call("POST", f"/api/v1/users/{UNKNOWN_USER}/balance/{operation}", key=key, body={})
    assert unknown.status == 404 and unknown.error_code == "USER_NOT_FOUND"
    assert call("POST", f"/api/v1/users/{order['buyerId']}/balance/{operation}", key=key,
                body={"orderId": order["id"], "bogus": 1}).status == 400


# --- orders: escrow and resolution at upstream's paths -----------------------------------------------------------
def test_order_escrow_and_resolution_aliases_refuse_as_ours_do(key, api_key, order):
    oid = order["id"]
    pairs = [
        (("POST", f"/api/v1/orders/{oid}/escrow", None), ("POST", "/api/v1/escrow", {"orderId": oid})),
        (("POST", f"/api/v1/orders/{UNKNOWN_ORDER}/escrow", None),
         ("POST", "/api/v1/escrow", {"orderId": UNKNOWN_ORDER})),
        (("POST", f"/api/v1/orders/{oid}/resolution/release", {"reason": "done"}),
         ("POST", "/api/v1/resolution/release", {"orderId": oid, "reason": "done"})),
        (("POST", f"/api/v1/orders/{oid}/resolution/refund", {"reason": "no"}),
         ("POST", "/api/v1/resolution/refund", {"orderId": oid, "reason": "no"})),
        (("POST", f"/api/v1/orders/{UNKNOWN_ORDER}/resolution/release", None),
         ("POST", "/api/v1/resolution/release", {"orderId": UNKNOWN_ORDER})),
        (("POST", f"/api/v1/orders/{oid}/resolution/dispute", {"orderId": oid, "openedBy": "BUYER", "reason": "OTHER"}),
         ("POST", "/api/v1/disputes", {"orderId": oid, "openedBy": "BUYER", "reason": "OTHER"})),
    ]
    for (m1, p1, b1), (m2, p2, b2) in pairs:
        theirs, ours = call(m1, p1, key=key, body=b1), call(m2, p2, key=key, body=b2)
        assert theirs.status in (404, 409) and _error(theirs) == _error(ours), (p1, theirs.body, ours.body)
    funding = call("POST", f"/api/v1/orders/{oid}/escrow/fund", key=key)
    assert funding.status == 409 and funding.error_code == "INVALID_STATE"
    assert funding.body["error"]["details"]["allowedStates"] == ["ESCROW_FUNDING"]
    assert call("POST", f"/api/v1/orders/{UNKNOWN_ORDER}/escrow/fund", key=key).error_code == "ORDER_NOT_FOUND"
    # Upstream's required refund reason; its dispute body's orderId must be the path's.
    assert call("POST", f"/api/v1/orders/{oid}/resolution/refund", key=key, body={}).status == 400
    other = call("POST", f"/api/v1/orders/{oid}/resolution/dispute", key=key,
                 body={"orderId": UNKNOWN_ORDER, "openedBy": "BUYER", "reason": "OTHER"})
    assert other.status == 400 and other.body["error"]["details"]["field"] == "orderId"
    assert call("POST", f"/api/v1/orders/{oid}/escrow", key=key, body={"orderId": oid}).status == 400  # no body
    assert call("POST", f"/api/v1/orders/{oid}/escrow", key=api_key("read")).status == 403


def test_orders_list_takes_upstreams_query_names(key, order):
    ours = call("GET", "/api/v1/orders", key=key, query={"buyerId": order["buyerId"]})
    theirs = call("GET", "/api/v1/orders", key=key,
                  query={"buyer_id": order["buyerId"], "seller_id": order["sellerId"]})
    assert [o["id"] for o in theirs.data] == [o["id"] for o in ours.data] == [order["id"]]
    same = call("GET", "/api/v1/orders", key=key, query={"buyerId": order["buyerId"], "buyer_id": order["buyerId"]})
    assert same.data == ours.data
    conflict = call("GET", "/api/v1/orders", key=key, query={"buyerId": order["buyerId"], "buyer_id": UNKNOWN_USER})
    assert conflict.status == 400 and conflict.body["error"]["details"]["field"] == "buyerId"


# --- audit log at /audit/logs ------------------------------------------------------------------------------------
def test_audit_logs_is_the_search_not_an_id(key, api_key, new_user):
    user = new_user()
    call("POST", f"/api/v1/balance/{user['id']}/credit", key=key, body={"amount": "1.00", "reason": "x"})
    for query in ({"resourceId": user["id"]}, {"userId": user["id"]}, {"resourceType": "Balance", "limit": "1"},
                  {"action": "user.created", "userId": user["id"]}, {"from": "2020-01-01T00:00:00Z", "limit": "5"}):
        ours = call("GET", "/api/v1/audit", key=key, query=query)
        theirs = call("GET", "/api/v1/audit/logs", key=key, query=query)
        assert theirs.status == ours.status == 200, theirs.body
        assert theirs.data == ours.data and theirs.body["meta"]["pagination"] == ours.body["meta"]["pagination"]
    actions = [a["action"] for a in call("GET", "/api/v1/audit/logs", key=key, query={"userId": user["id"]}).data]
    assert actions == ["balance.credited", "user.created"]
    assert call("GET", "/api/v1/audit/logs", key=key, query={"from": "nope"}).status == 400
    assert call("GET", "/api/v1/audit/logs", key=api_key("read", "write")).error_code == "INSUFFICIENT_SCOPE"
    assert call("GET", "/api/v1/audit/aud_" + "0" * 32, key=key).error_code == "AUDIT_LOG_NOT_FOUND"


def test_the_local_gateway_routes_literal_segments_first():
    """As API Gateway does: /audit/logs is its own route, not /audit/{id} with id "logs"."""
    from local.gateway import match
    from local.template import load

    routes = load().routes
    for path, declared in (("/api/v1/audit/logs", "/api/v1/audit/logs"), ("/api/v1/audit/aud_x", "/api/v1/audit/{id}"),
                           ("/api/v1/users/usr_x/balance", "/api/v1/users/{userId}/balance"),
                           ("/api/v1/orders/ord_x/escrow/fund", "/api/v1/orders/{id}/escrow/fund")):
        found = match(routes, "GET" if "audit" in path or path.endswith("balance") else "POST", path)
        assert found is not None and found[0].path == declared, (path, found)


# --- scopes: "*" at key creation ---------------------------------------------------------------------------------
def test_star_scope_means_read_write_support(master_key, api_key):
    created = call("POST", "/api/v1/auth/api-keys", key=master_key, body={"name": "upstream", "scopes": ["*"]})
    assert created.status == 201 and created.data["scopes"] == ["read", "write", "support"]
    both = call("POST", "/api/v1/auth/api-keys", key=master_key, body={"name": "x", "scopes": ["read", "*"]})
    assert both.data["scopes"] == ["read", "write", "support"]
    assert call("GET", "/api/v1/auth/me", key=created.data["key"]).data["scopes"] == ["read", "support", "write"]
    for scopes in (["orders", "users", "balance"], ["*", "admin"], ["**"]):
        refused = call("POST", "/api/v1/auth/api-keys", key=master_key, body={"name": "x", "scopes": scopes})
        assert refused.status == 400 and refused.error_code == "VALIDATION_ERROR", scopes
    star = call("POST", "/api/v1/auth/api-keys", key=created.data["key"], body={"name": "x", "scopes": ["*"]})
    assert star.status == 403  # key management stays with the master key


# --- short-lived tokens ------------------------------------------------------------------------------------------
def _key_with_id(master_key: str, *scopes: str) -> tuple[str, str]:
    made = call("POST", "/api/v1/auth/api-keys", key=master_key, body={"name": "browser", "scopes": list(scopes)})
    return made.data["key"], made.data["id"]


def test_a_key_issues_itself_a_short_lived_token(master_key):
    key, key_id = _key_with_id(master_key, "read", "write")
    issued = call("POST", f"/api/v1/auth/api-keys/{key_id}/token", key=key)
    assert issued.status == 201, issued.body
    token = issued.data["token"]
    assert token.startswith("ohk_tok_") and token.count(".") == 2
    assert issued.data["expiresIn"] == 900 and issued.data["scopes"] == ["read", "write"]
    assert issued.data["tokenType"] == "Bearer" and issued.data["apiKeyId"] == key_id
    me = call("GET", "/api/v1/auth/me", key=token)
    assert me.status == 200 and me.data["apiKeyId"] == key_id and me.data["isMaster"] is False
    assert call("GET", "/api/v1/auth/me", headers={"x-api-key": token}).status == 200
    assert call("GET", "/api/v1/users", key=token).status == 200
    # Its actions are the key's (audit actor = the key id).
    user = call("POST", "/api/v1/users", key=token, body={"externalUserId": "tok-" + key_id[-8:]})
    assert user.status == 201
    audit = call("GET", "/api/v1/audit", key=master_key, query={"resourceId": user.data["id"]}).data
    assert (audit[0]["actorType"], audit[0]["actorId"]) == ("api_key", key_id)
    assert "ohk_tok_" not in str(call("GET", "/api/v1/audit", key=master_key, query={"resourceId": key_id}).body)


def test_token_scopes_are_a_subset_of_the_keys(master_key):
    key, key_id = _key_with_id(master_key, "read", "write")
    path = f"/api/v1/auth/api-keys/{key_id}/token"
    narrow = call("POST", path, key=key, body={"scopes": ["read"], "expiresIn": 60})
    assert narrow.status == 201 and narrow.data["scopes"] == ["read"] and narrow.data["expiresIn"] == 60
    assert call("GET", "/api/v1/users", key=narrow.data["token"]).status == 200
    refused = call("POST", "/api/v1/users", key=narrow.data["token"], body={"externalUserId": "nope"})
    assert refused.status == 403 and refused.error_code == "INSUFFICIENT_SCOPE"
    beyond = call("POST", path, key=key, body={"scopes": ["read", "support"]})
    assert beyond.status == 403 and beyond.body["error"]["details"]["beyond"] == ["support"]
    assert call("POST", path, key=key, body={"scopes": ["*"]}).data["scopes"] == ["read", "write"]
    for body in ({"scopes": ["admin"]}, {"scopes": []}, {"scopes": "read"}, {"expiresIn": 3601}, {"expiresIn": 0},
                 {"expiresIn": "60"}, {"expiresIn": True}, {"expiresIn": 1.5}, {"other": 1}):
        bad = call("POST", path, key=key, body=body)
        assert bad.status == 400 and bad.error_code == "VALIDATION_ERROR", (body, bad.body)
    assert call("POST", path, key=key, body={"expiresIn": 3600}).data["expiresIn"] == 3600


def test_tokens_only_for_the_callers_own_key_unless_master(master_key):
    key_a, id_a = _key_with_id(master_key, "read", "write", "support")
    _, id_b = _key_with_id(master_key, "read")
    other = call("POST", f"/api/v1/auth/api-keys/{id_b}/token", key=key_a)
    assert other.status == 403 and other.error_code == "INSUFFICIENT_SCOPE"
    by_master = call("POST", f"/api/v1/auth/api-keys/{id_b}/token", key=master_key)
    assert by_master.status == 201 and by_master.data["scopes"] == ["read"]
    assert call("GET", "/api/v1/auth/me", key=by_master.data["token"]).data["apiKeyId"] == id_b
    token = call("POST", f"/api/v1/auth/api-keys/{id_a}/token", key=key_a).data["token"]
    renewal = call("POST", f"/api/v1/auth/api-keys/{id_a}/token", key=token)
    assert renewal.status == 403  # a token cannot renew itself
    assert call("POST", "/api/v1/auth/api-keys", key=token, body={"name": "x", "scopes": ["read"]}).status == 403
    missing = call("POST", f"/api/v1/auth/api-keys/{UNKNOWN_KEY}/token", key=master_key)
    assert missing.status == 404 and missing.error_code == "API_KEY_NOT_FOUND"
    assert call("POST", "/api/v1/auth/api-keys/master/token", key=master_key).status == 404
    assert call("POST", f"/api/v1/auth/api-keys/{id_a}/token").status == 401


def test_a_token_dies_with_its_key(master_key):
    key, key_id = _key_with_id(master_key, "read")
    token = call("POST", f"/api/v1/auth/api-keys/{key_id}/token", key=key, body={"expiresIn": 3600}).data["token"]
    assert call("GET", "/api/v1/auth/me", key=token).status == 200
    assert call("DELETE", f"/api/v1/auth/api-keys/{key_id}", key=master_key).status == 200
    revoked = call("GET", "/api/v1/auth/me", key=token)
    assert revoked.status == 401 and revoked.error_code == "UNAUTHORIZED"
    again = call("POST", f"/api/v1/auth/api-keys/{key_id}/token", key=master_key)
    assert again.status == 409 and again.error_code == "API_KEY_REVOKED"


def test_expired_or_forged_tokens_are_refused(master_key, monkeypatch):
    from offerhub.auth import tokens

    key, key_id = _key_with_id(master_key, "read")
    token = call("POST", f"/api/v1/auth/api-keys/{key_id}/token", key=key, body={"expiresIn": 60}).data["token"]
    assert call("GET", "/api/v1/auth/me", key=token).status == 200
    now = time.time()
    monkeypatch.setattr(tokens.time, "time", lambda: now + 61)  # the token's minute has passed
    expired = call("GET", "/api/v1/auth/me", key=token)
    assert expired.status == 401 and expired.error_code == "UNAUTHORIZED"
    monkeypatch.undo()
    header, payload, signature = token.removeprefix("ohk_tok_").split(".")
    forged_payload = tokens._b64(b'{"sub":"%s","scopes":["read","write","support"],"type":"short-lived",'
                                 b'"iat":1,"exp":9999999999,"jti":"x"}' % key_id.encode())
    none_header = tokens._b64(b'{"alg":"none","typ":"JWT"}')
    for forged in (f"ohk_tok_{header}.{forged_payload}.{signature}", f"ohk_tok_{none_header}.{payload}.",
                   f"ohk_tok_{header}.{payload}.{signature[:-2]}AA", "ohk_tok_", "ohk_tok_a.b.c",
                   "ohk_tok_" + "x" * 5000, token + "."):
        refused = call("GET", "/api/v1/auth/me", key=forged)
        assert refused.status == 401 and refused.error_code == "UNAUTHORIZED", forged[:40]


# --- GET /config and the limits it shows -------------------------------------------------------------------------
def test_config_shows_the_limits_that_are_enforced(key, api_key, new_user, monkeypatch):
    config = call("GET", "/api/v1/config", key=api_key("read"))
    assert config.status == 200
    assert config.data["currencies"] == ["USD"]
    assert config.data["limits"] == {"topup": {"min": "1.00", "max": "10000.00"},
                                     "withdrawal": {"min": "1.00", "max": "5000.00"},
                                     "order": {"min": "1.00", "max": "50000.00"}}
    assert config.data["providers"] == {"paymentProvider": "crypto", "fiat": None, "escrow": "trustless_work",
                                        "wallet": "stellar"}
    assert config.data["features"]["trustlessWork"] is True and config.data["features"]["sse"] is False
    assert call("GET", "/api/v1/config").status == 401
    buyer, seller = new_user(), new_user()
    order = {"buyerId": buyer["id"], "sellerId": seller["id"], "title": "t"}
    low = call("POST", "/api/v1/orders", key=key, body={**order, "amount": "0.99"})
    assert low.status == 422 and low.error_code == "AMOUNT_BELOW_MINIMUM", low.body
    assert low.body["error"]["details"]["minimum"] == "1.00"
    high = call("POST", "/api/v1/orders", key=key, body={**order, "amount": "50000.01"})
    assert high.status == 422 and high.error_code == "AMOUNT_ABOVE_MAXIMUM"
    withdrawal = call("POST", "/api/v1/withdrawals", key=key,
                      body={"userId": buyer["id"], "amount": "5000.01", "destinationType": "crypto",
                            "destinationRef": "G" + "A" * 55})
    assert withdrawal.status == 422 and withdrawal.error_code == "AMOUNT_ABOVE_MAXIMUM", withdrawal.body
    assert call("GET", "/api/v1/balance/" + buyer["id"], key=key).data["pending"] == "0.00"
    # Configured limits: /config shows them and the create use cases apply them.
    from offerhub.config import settings

    monkeypatch.setenv("ORDER_MAX_AMOUNT", "20.00")
    settings.cache_clear()
    try:
        assert call("GET", "/api/v1/config", key=key).data["limits"]["order"] == {"min": "1.00", "max": "20.00"}
        assert call("POST", "/api/v1/orders", key=key, body={**order, "amount": "20.01"}).status == 422
        assert call("POST", "/api/v1/orders", key=key, body={**order, "amount": "20.00"}).status == 201
    finally:
        monkeypatch.undo()
        settings.cache_clear()


def test_limits_settings_are_checked_at_start(monkeypatch):
    from offerhub.config import AmountLimits

    assert AmountLimits.from_env({"TOPUP_MIN_AMOUNT": "5.00"}).topup.min == 5
    for env in ({"TOPUP_MIN_AMOUNT": "5"}, {"ORDER_MIN_AMOUNT": "0.00"}, {"WITHDRAWAL_MAX_AMOUNT": "-1.00"},
                {"ORDER_MIN_AMOUNT": "10.00", "ORDER_MAX_AMOUNT": "9.99"}):
        with pytest.raises(RuntimeError):
            AmountLimits.from_env(env)


# --- GET /health/detailed ----------------------------------------------------------------------------------------
def test_detailed_health_reports_every_dependency(api_key):
    report = call("GET", "/api/v1/health/detailed", key=api_key("read"))
    assert report.status == 200, report.body
    deps = report.data["dependencies"]
    assert list(deps) == ["database", "dynamodb", "kms", "horizon", "trustlessWork", "airtm"]
    for name in ("database", "dynamodb", "kms", "horizon", "trustlessWork"):
        assert deps[name]["status"] == "up" and deps[name]["latencyMs"] >= 0, (name, deps[name])
    assert deps["airtm"] == {"status": "not_used"}
    assert report.data["status"] == "healthy" and report.data["paymentProvider"] == "crypto"
    assert call("GET", "/api/v1/health/detailed").status == 401


def test_detailed_health_is_bounded_and_concurrent(api_key, monkeypatch):
    """Two dependencies that never answer: the report comes back after one budget (not two), 200, degraded."""
    from offerhub import health

    release = threading.Event()

    def hangs(_url: str):
        def check(_budget: float) -> None:
            release.wait(30)

        return check

    monkeypatch.setattr(health, "CHECK_TIMEOUT_SECONDS", 0.5)
    monkeypatch.setattr(health, "_http", hangs)
    try:
        started = time.perf_counter()
        report = call("GET", "/api/v1/health/detailed", key=api_key("read"))
        elapsed = time.perf_counter() - started
    finally:
        release.set()
    assert report.status == 200 and report.data["status"] == "degraded", report.body
    for name in ("horizon", "trustlessWork"):
        assert report.data["dependencies"][name]["status"] == "down"
        assert report.data["dependencies"][name]["error"] == "no answer within 0.5 s"
    assert report.data["dependencies"]["database"]["status"] == "up"
    assert elapsed < 0.95, elapsed  # one budget for all checks, plus the request itself


def test_detailed_health_reports_failures_without_raising(db, monkeypatch):
    from offerhub import health
    from offerhub.adapters.postgres import engine

    def refuses(_url: str):
        def check(_budget: float) -> None:
            raise health.httpx.ConnectError("refused")

        return check

    monkeypatch.setattr(health, "_http", refuses)
    monkeypatch.setattr(engine, "_engine", engine.build_engine("postgresql://nobody@127.0.0.1:1/none"))
    report = health.check_health_detailed(timeout=5)
    assert report["status"] == "unhealthy"
    assert report["dependencies"]["database"]["status"] == "down"
    assert report["dependencies"]["horizon"] == {"status": "down", "error": "unreachable",
                                                 "latencyMs": report["dependencies"]["horizon"]["latencyMs"]}


# --- the remaining new routes' 404s and scopes --------------------------------------------------------------------
def test_new_routes_404_and_scopes(key, api_key, new_user):
    user = new_user()
    assert call("GET", "/api/v1/topups/topup_" + "0" * 32 + "/callback").error_code == "TOPUP_NOT_FOUND"
    assert call("POST", "/api/v1/disputes/dsp_" + "0" * 32 + "/assign", key=key,
                body={"assignedTo": "agent-1"}).error_code == "DISPUTE_NOT_FOUND"
    assert call("POST", "/api/v1/disputes/dsp_" + "0" * 32 + "/assign", key=api_key("read", "write"),
                body={"assignedTo": "agent-1"}).error_code == "INSUFFICIENT_SCOPE"
    for body in ({}, {"assignedTo": ""}, {"assignedTo": 5}, {"assignedTo": "x" * 256}):
        assert call("POST", "/api/v1/disputes/dsp_" + "0" * 32 + "/assign", key=key, body=body).status == 400
    assert call("GET", f"/api/v1/users/{UNKNOWN_USER}/wallet/transactions", key=key).error_code == "USER_NOT_FOUND"
    for limit in ("0", "101", "x"):
        assert call("GET", f"/api/v1/users/{user['id']}/wallet/transactions", key=key,
                    query={"limit": limit}).status == 400
    assert call("GET", f"/api/v1/users/{user['id']}/wallet/transactions").status == 401
    assert call("GET", f"/api/v1/users/{user['id']}/balance/verify").status == 401
