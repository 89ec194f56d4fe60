"""API keys, the master key and scopes, through the real handlers."""

from __future__ import annotations

import re

import pytest

from tests.lambda_client import call

KEY_FORMAT = re.compile(r"^ohk_test_key_[0-9A-Za-z]{32}_[0-9a-f]{48}$")


def test_master_key_creates_lists_and_revokes_keys(master_key):
    created = call("POST", "/api/v1/auth/api-keys", key=master_key, body={"name": "shop", "scopes": ["read"]})
    assert created.status == 201 and KEY_FORMAT.match(created.data["key"])
    key_id = created.data["id"]
    listing = call("GET", "/api/v1/auth/api-keys", key=master_key, query={"limit": 100})
    assert key_id in [k["id"] for k in listing.data]
    text = str(listing.body)
    assert created.data["key"] not in text and "secret" not in text.lower() and "hash" not in text.lower()
    assert call("GET", "/api/v1/auth/me", key=created.data["key"]).status == 200
    assert call("DELETE", f"/api/v1/auth/api-keys/{key_id}", key=master_key).data["status"] == "REVOKED"
    after = call("GET", "/api/v1/auth/me", key=created.data["key"])
    assert after.status == 401 and after.error_code == "UNAUTHORIZED"
    assert call("DELETE", f"/api/v1/auth/api-keys/{key_id}", key=master_key).status == 200
    missing = call("DELETE", "/api/v1/auth/api-keys/key_" + "0" * 32, key=master_key)
    assert missing.status == 404 and missing.error_code == "API_KEY_NOT_FOUND"


def test_key_listing_pages_newest_first(master_key):
    ids = [call("POST", "/api/v1/auth/api-keys", key=master_key, body={"name": f"p{i}", "scopes": ["read"]}).data["id"]
           for i in range(3)]
    first = call("GET", "/api/v1/auth/api-keys", key=master_key, query={"limit": 2})
    assert first.body["meta"]["pagination"]["hasMore"] is True
    assert [k["id"] for k in first.data] == ids[::-1][:2]
    nxt = call("GET", "/api/v1/auth/api-keys", key=master_key,
               query={"limit": 2, "cursor": first.body["meta"]["pagination"]["nextCursor"]})
    assert nxt.data[0]["id"] == ids[0]


@pytest.mark.parametrize("body", [
    {"scopes": ["read"]}, {"name": "x", "scopes": []}, {"name": "x", "scopes": ["admin"]},
    {"name": "x" * 101, "scopes": ["read"]}, {"name": "", "scopes": ["read"]}, {"name": "x", "scopes": "read"},
    {"name": "x", "scopes": ["read"], "extra": 1},
])
def test_key_creation_validates(master_key, body):
    result = call("POST", "/api/v1/auth/api-keys", key=master_key, body=body)
    assert result.status == 400 and result.error_code == "VALIDATION_ERROR"


def test_only_the_master_key_manages_keys(api_key):
    key = api_key("read", "write", "support")
    for method, path in [("POST", "/api/v1/auth/api-keys"), ("GET", "/api/v1/auth/api-keys"),
                         ("DELETE", "/api/v1/auth/api-keys/key_" + "0" * 32)]:
        result = call(method, path, key=key, body={"name": "x", "scopes": ["read"]} if method == "POST" else None)
        assert result.status == 403 and result.error_code == "INSUFFICIENT_SCOPE", (method, path)


def test_me_and_both_header_styles(api_key):
    key = api_key("read")
    me = call("GET", "/api/v1/auth/me", headers={"X-API-Key": key})
    assert me.status == 200 and me.data["scopes"] == ["read"] and me.data["apiKeyId"].startswith("key_")


@pytest.mark.parametrize("headers", [
    {}, {"authorization": "Bearer"}, {"authorization": "Bearer nonsense"}, {"authorization": "Basic abc"},
    {"x-api-key": "ohk_test_key_" + "A" * 32 + "_" + "0" * 48},
])
def test_bad_credentials_are_401(db, headers):
    result = call("GET", "/api/v1/auth/me", headers=headers)
    assert result.status == 401 and result.error_code == "UNAUTHORIZED"


def test_wrong_secret_for_a_real_key_id_is_401(api_key):
    key = api_key("read")
    forged = key[:-48] + ("0" * 48 if not key.endswith("0" * 48) else "1" * 48)
    assert call("GET", "/api/v1/auth/me", key=forged).status == 401


def test_scopes_are_enforced_on_every_route(api_key, new_user):
    user = new_user()["id"]
    read, write, support = api_key("read"), api_key("write"), api_key("support")
    credit = {"amount": "1.00", "reason": "x"}
    assert call("POST", "/api/v1/users", key=read, body={"externalUserId": "r"}).status == 403
    assert call("POST", f"/api/v1/balance/{user}/credit", key=read, body=credit).status == 403
    assert call("POST", f"/api/v1/balance/{user}/credit", key=write, body=credit).status == 403
    assert call("POST", f"/api/v1/balance/{user}/debit", key=write, body=credit).status == 403
    assert call("GET", "/api/v1/audit", key=write).status == 403
    assert call("GET", f"/api/v1/balance/{user}", key=support).status == 403
    assert call("GET", "/api/v1/events", key=write).status == 403
    assert call("GET", f"/api/v1/balance/{user}", key=read).status == 200
    assert call("POST", f"/api/v1/balance/{user}/credit", key=support, body=credit).status == 200
