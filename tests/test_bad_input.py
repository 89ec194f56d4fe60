"""No request, however malformed, produces a 500 — and every refusal is the error envelope."""

from __future__ import annotations

import base64
import os
import re

import pytest

from tests.lambda_client import call, function_for, http_event, invoke

UNKNOWN = "usr_" + "0" * 32
ROUTES = [
    ("GET", "/api/v1/health"), ("POST", "/api/v1/auth/api-keys"), ("GET", "/api/v1/auth/api-keys"),
    ("DELETE", "/api/v1/auth/api-keys/{id}"), ("GET", "/api/v1/auth/me"), ("POST", "/api/v1/users"),
    ("GET", "/api/v1/users"), ("GET", "/api/v1/users/{id}"), ("GET", "/api/v1/balance/{id}"),
    ("POST", "/api/v1/balance/{id}/credit"), ("POST", "/api/v1/balance/{id}/debit"),
    ("GET", "/api/v1/balance/{id}/entries"), ("GET", "/api/v1/audit"), ("GET", "/api/v1/audit/{id}"),
    ("GET", "/api/v1/events"),
    ("POST", "/api/v1/balance/{id}/sync"), ("GET", "/api/v1/users/{id}/wallet"),
    ("GET", "/api/v1/users/{id}/wallet/deposit"), ("POST", "/api/v1/orders"), ("GET", "/api/v1/orders"),
    ("GET", "/api/v1/orders/{id}"), ("POST", "/api/v1/orders/{id}/reserve"), ("POST", "/api/v1/orders/{id}/cancel"),
    ("GET", "/api/v1/orders/{id}/milestones"), ("POST", "/api/v1/orders/{id}/milestones/m1/complete"),
    ("POST", "/api/v1/escrow"), ("POST", "/api/v1/escrow/{id}/fund"), ("GET", "/api/v1/escrow/{id}"),
    ("POST", "/api/v1/resolution/release"), ("POST", "/api/v1/resolution/refund"),
    ("POST", "/api/v1/resolution/resolve"), ("POST", "/api/v1/disputes"), ("GET", "/api/v1/disputes"),
    ("GET", "/api/v1/disputes/{id}"), ("POST", "/api/v1/disputes/{id}/resolve"),
    ("POST", "/api/v1/disputes/{id}/comments"), ("POST", "/api/v1/test-helpers/deposits"),
    ("POST", "/api/v1/test-helpers/faults"),
    ("POST", "/api/v1/users/{id}/airtm/link"), ("POST", "/api/v1/topups"), ("GET", "/api/v1/topups"),
    ("GET", "/api/v1/topups/{id}"), ("POST", "/api/v1/topups/{id}/cancel"), ("POST", "/api/v1/topups/{id}/refresh"),
    ("POST", "/api/v1/withdrawals"), ("GET", "/api/v1/withdrawals"), ("GET", "/api/v1/withdrawals/{id}"),
    ("POST", "/api/v1/withdrawals/{id}/commit"), ("POST", "/api/v1/withdrawals/{id}/cancel"),
    ("POST", "/api/v1/withdrawals/{id}/refresh"), ("POST", "/api/v1/test-helpers/topups/{id}/complete"),
    ("POST", "/api/v1/test-helpers/withdrawals/{id}/complete"), ("POST", "/api/v1/test-helpers/stellar-accounts"),
    ("GET", "/api/v1/test-helpers/stellar-accounts/{id}"),
    # Upstream compatibility: its paths, and the routes we lacked.
    ("GET", "/api/v1/users/{id}/balance"), ("POST", "/api/v1/users/{id}/balance/credit"),
    ("POST", "/api/v1/users/{id}/balance/debit"), ("POST", "/api/v1/users/{id}/balance/sync"),
    ("GET", "/api/v1/users/{id}/balance/verify"), ("POST", "/api/v1/users/{id}/balance/reserve"),
    ("POST", "/api/v1/users/{id}/balance/cancel-reservation"), ("POST", "/api/v1/users/{id}/balance/release"),
    ("POST", "/api/v1/users/{id}/balance/deduct-reserved"), ("GET", "/api/v1/audit/logs"),
    ("POST", "/api/v1/orders/{id}/escrow"), ("POST", "/api/v1/orders/{id}/escrow/fund"),
    ("POST", "/api/v1/orders/{id}/resolution/release"), ("POST", "/api/v1/orders/{id}/resolution/refund"),
    ("POST", "/api/v1/orders/{id}/resolution/dispute"), ("GET", "/api/v1/topups/{id}/callback"),
    ("POST", "/api/v1/disputes/{id}/assign"), ("GET", "/api/v1/users/{id}/wallet/transactions"),
    ("GET", "/api/v1/config"), ("GET", "/api/v1/health/detailed"), ("POST", "/api/v1/auth/api-keys/{id}/token"),
    ("GET", "/api/v1/openapi.json"),
]
# No API key: a bad body without a valid signature is a 401, with one it is a 400; never a 500.
WEBHOOK_ROUTES = [("POST", "/api/v1/webhooks/airtm"), ("POST", "/api/v1/webhooks/trustless-work")]
RAW_BODIES = ["{bad", "[", '"str"', "null", "[]", "123", "{}", '{"amount": "1.00", "reason": "x"', "\x00",
              '{"amount": {"$gt": 0}, "reason": ["x"]}', '{"name": null, "scopes": null}',
              '{"externalUserId": "' + "x" * 100_000 + '"}', '{"amount": "1.00", "reason": "' + "r" * 100_000 + '"}',
              '{"metadata": ' + "[" * 50_000 + "]" * 50_000 + "}",
              '{"orderId": ' + '{"a": ' * 5_000 + "1" + "}" * 5_000 + "}"]
AMOUNTS = ["-1.00", "0.00", "1.001", "1e5", "NaN", "Infinity", "99999999999999999999.00", 1.5, 100, 10.5, None, True,
           "１.00", "", " ", "1.00\n", "1" * 60 + ".00", "1.00" + " " * 60, ["1.00"], {"value": "1.00"}]
# JSON that Python's json accepts but JSON (RFC 8259) or Postgres does not, as raw text (json.dumps would write
# valid escapes instead), with the field the 400 must name. Keys are reported at the object holding them.
UNSTORABLE = [('{"x": NaN}', "x"), ('{"x": Infinity}', "x"), ('{"x": -Infinity}', "x"), ('{"x": [1, 1e400]}', "x.1"),
              ('{"x": "\\ud800"}', "x"), ('{"x": "ok \\udc00 ok"}', "x"), ('{"x": "\\udbff\\ud800"}', "x"),
              ('{"\\ud800": "x"}', "body"), ('{"x": {"\\udfff": 1}}', "x"), ('{"x": "a\\u0000b"}', "x"),
              ('{"a\\u0000": 1}', "body"), ('{"x": {"y": ["ok", "\\u0000"]}}', "x.y.1"), ("[NaN]", "0")]
# The routes that declare no body: an empty body or {} is accepted, anything else is a 400 (offerhub.http.body).
NO_BODY_ROUTES = [("POST", "/api/v1/balance/{id}/sync"), ("POST", "/api/v1/orders/{id}/reserve"),
                  ("POST", "/api/v1/orders/{id}/milestones/m1/complete"), ("POST", "/api/v1/escrow/{id}/fund"),
                  ("POST", "/api/v1/topups/{id}/cancel"), ("POST", "/api/v1/topups/{id}/refresh"),
                  ("POST", "/api/v1/withdrawals/{id}/commit"), ("POST", "/api/v1/withdrawals/{id}/cancel"),
                  ("POST", "/api/v1/withdrawals/{id}/refresh"), ("DELETE", "/api/v1/auth/api-keys/{id}"),
                  ("POST", "/api/v1/webhook-endpoints/{id}/rotate-secret"),
                  ("POST", "/api/v1/webhook-endpoints/{id}/enable"),
                  ("POST", "/api/v1/webhook-endpoints/{id}/deliveries/{id}/retry"),
                  ("DELETE", "/api/v1/webhook-endpoints/{id}"),
                  ("POST", "/api/v1/users/{id}/balance/sync"), ("POST", "/api/v1/orders/{id}/escrow"),
                  ("POST", "/api/v1/orders/{id}/escrow/fund")]
QUERIES = [{"limit": "-1"}, {"limit": "0"}, {"limit": "1e3"}, {"limit": "abc"}, {"limit": "101"},
           {"cursor": "c" * 500}, {"cursor": "%00"}, {"cursor": "7\u00b3"}, {"type": "unknown.event"},
           {"from": "notadate"},
           {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, {"resourceId": "x" * 300},
           {"status": "NOPE"}, {"buyerId": "x" * 300}, {"openedBy": "nobody"}, {"status": "OPEN%00"}]
PATH_IDS = ["nope", "usr_%00", "\u00e9\u00e8", "x" * 2000, "key_" + "0" * 32, "aud_'--", UNKNOWN]


def assert_clean(result, request_id: str | None = None) -> None:
    assert result.status < 500, result.body
    assert result.headers.get("x-request-id")
    if result.status >= 400:
        error = result.body["error"]
        assert re.match(r"^[A-Z][A-Z_]+$", error["code"]) and error["message"]
        assert error["requestId"] == result.headers["x-request-id"]
    if request_id:
        assert result.headers["x-request-id"] == request_id


@pytest.fixture(scope="module")
def keys(database_url, aws):
    from tests.conftest import MASTER_KEY

    created = call("POST", "/api/v1/auth/api-keys", key=MASTER_KEY,
                   body={"name": "fuzz", "scopes": ["read", "write", "support"]})
    return {"master": MASTER_KEY, "all": created.data["key"]}


def _path(template: str, value: str = UNKNOWN) -> str:
    return template.replace("{id}", value)


@pytest.mark.parametrize("method,path", [r for r in ROUTES if r[0] == "POST"])
@pytest.mark.parametrize("raw", RAW_BODIES)
def test_malformed_bodies(keys, method, path, raw):
    key = keys["master"] if "api-keys" in path else keys["all"]
    result = call(method, _path(path), key=key, raw_body=raw)
    assert_clean(result)
    every_field_optional = raw == "{}" and path.endswith("stellar-accounts")
    assert result.status in (400, 404, 422) or every_field_optional, result.body


@pytest.mark.parametrize("method,path", [r for r in ROUTES if r[0] == "POST"])
@pytest.mark.parametrize("raw,field", UNSTORABLE)
def test_json_postgres_cannot_store_is_a_400_naming_the_field(keys, method, path, raw, field):
    key = keys["master"] if "api-keys" in path else keys["all"]
    result = call(method, _path(path), key=key, raw_body=raw)
    assert_clean(result)
    assert result.status == 400 and result.error_code == "VALIDATION_ERROR", result.body
    assert result.body["error"]["details"]["validationErrors"][0]["field"] == field


@pytest.mark.parametrize("method,path", WEBHOOK_ROUTES)
@pytest.mark.parametrize("raw", RAW_BODIES + [raw for raw, _ in UNSTORABLE])
def test_malformed_webhooks(keys, method, path, raw):
    import time

    from offerhub.webhooks.verify import sign_hex_hmac, sign_svix
    from tests.conftest import AIRTM_WEBHOOK_SECRET, TRUSTLESS_WEBHOOK_SECRET

    assert_clean(result := call(method, path, raw_body=raw))
    assert result.status == 401
    ts = int(time.time())
    signed = ({"svix-id": "msg_fuzz", "svix-timestamp": str(ts),
               "svix-signature": sign_svix(AIRTM_WEBHOOK_SECRET, "msg_fuzz", ts, raw.encode())}
              if path.endswith("airtm") else {"x-tw-signature": sign_hex_hmac(TRUSTLESS_WEBHOOK_SECRET, raw.encode())})
    result = call(method, path, raw_body=raw, headers=signed)
    assert_clean(result)
    assert result.status in (200, 400), result.body


@pytest.mark.parametrize("amount", AMOUNTS)
def test_bad_amounts_are_400(keys, new_user, amount):
    result = call("POST", f"/api/v1/balance/{new_user()['id']}/credit", key=keys["all"],
                  body={"amount": amount, "reason": "x"})
    assert_clean(result)
    assert result.status == 400 and result.error_code == "INVALID_AMOUNT_FORMAT", result.body
    assert result.body["error"]["details"]["field"] == "amount"


@pytest.mark.parametrize("method,path", [r for r in ROUTES if r[0] == "GET"])
@pytest.mark.parametrize("query", QUERIES)
def test_odd_query_strings(keys, method, path, query):
    assert_clean(call(method, _path(path), key=keys["all"], query=query))


@pytest.mark.parametrize("method,path", [r for r in ROUTES if "{id}" in r[1]])
@pytest.mark.parametrize("value", PATH_IDS)
def test_odd_path_ids(keys, method, path, value):
    key = keys["master"] if "api-keys" in path else keys["all"]
    body = {"amount": "1.00", "reason": "x"} if method == "POST" and (method, path) not in NO_BODY_ROUTES else None
    result = call(method, _path(path, value), key=key, body=body)
    assert_clean(result)
    assert result.status in (400, 404)


@pytest.mark.parametrize("method,path", ROUTES)
def test_binary_bodies_and_request_ids(keys, method, path):
    key = keys["master"] if "api-keys" in path else keys["all"]
    event = http_event(method, _path(path), headers={"authorization": f"Bearer {key}", "x-request-id": "abc-123"})
    event["body"], event["isBase64Encoded"] = base64.b64encode(os.urandom(64)).decode(), True
    assert_clean(invoke(function_for(path), event), request_id="abc-123")


@pytest.mark.parametrize("amount", AMOUNTS)
def test_bad_amounts_are_invalid_amount_format_on_every_amount_field(keys, new_user, amount):
    buyer, seller = new_user(), new_user()
    body = {"buyerId": buyer["id"], "sellerId": seller["id"], "amount": amount, "title": "t"}
    side = amount if amount != "0.00" else "-1"  # 0.00 is a valid side of a split
    optional_side = side if side is not None else "x"  # disputes' amounts may be null (FULL_RELEASE / FULL_REFUND)
    for path, payload in (
        ("/api/v1/orders", body),
        ("/api/v1/orders", {**body, "amount": "1.00", "milestones": [{"ref": "a", "title": "a", "amount": amount}]}),
        ("/api/v1/resolution/resolve", {"disputeId": "dsp_" + "0" * 32, "releaseAmount": side, "refundAmount": "0.00"}),
        (f"/api/v1/disputes/dsp_{'0' * 32}/resolve", {"decision": "SPLIT", "releaseAmount": "0.00",
                                                      "refundAmount": optional_side}),
        ("/api/v1/test-helpers/deposits", {"userId": buyer["id"], "amount": amount}),
        ("/api/v1/topups", {"userId": buyer["id"], "amount": amount}),
        ("/api/v1/withdrawals", {"userId": buyer["id"], "amount": amount, "destinationType": "crypto"}),
    ):
        result = call("POST", path, key=keys["all"], body=payload)
        assert_clean(result)
        assert result.status == 400 and result.error_code == "INVALID_AMOUNT_FORMAT", (path, result.body)


def test_missing_or_insane_request_ids_are_replaced(db):
    generated = call("GET", "/api/v1/health")
    assert re.match(r"^[0-9a-f-]{36}$", generated.headers["x-request-id"])
    assert generated.body["meta"]["requestId"] == generated.headers["x-request-id"]
    insane = call("GET", "/api/v1/health", headers={"x-request-id": "bad id\n" + "x" * 300})
    assert insane.headers["x-request-id"] != "bad id"


def test_unknown_fields_and_wrong_types_name_the_field(keys):
    result = call("POST", "/api/v1/users", key=keys["all"], body={"externalUserId": "x", "role": "admin"})
    assert result.status == 400 and result.body["error"]["details"]["validationErrors"][0]["field"] == "role"


def test_a_database_outage_is_a_503_not_a_500(keys, monkeypatch):
    from offerhub.adapters.postgres import engine

    unreachable = engine.build_engine("postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setattr(engine, "_engine", unreachable)
    result = call("GET", "/api/v1/users", key=keys["master"])
    assert result.status == 503 and result.error_code == "DATABASE_UNAVAILABLE"
    health = call("GET", "/api/v1/health")
    assert health.status == 503 and health.data["dependencies"]["database"]["status"] == "down"
