"""Users and balances through the real handlers."""

from __future__ import annotations

import re
import secrets
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.lambda_client import call

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_create_is_idempotent_by_external_user_id(api_key):
    key = api_key()
    ext = "shop-" + secrets.token_hex(4)
    first = call("POST", "/api/v1/users", key=key, body={"externalUserId": ext, "email": "a@example.com"})
    assert first.status == 201 and re.match(r"^usr_[0-9A-Za-z]{32}$", first.data["id"])
    assert ISO_MS.match(first.data["createdAt"]) and first.data["type"] == "BOTH"
    again = call("POST", "/api/v1/users", key=key, body={"externalUserId": ext, "email": "other@example.com"})
    assert again.status == 200 and again.data == first.data
    assert call("GET", f"/api/v1/users/{first.data['id']}", key=key).data == first.data
    found = call("GET", "/api/v1/users", key=key, query={"externalUserId": ext})
    assert [u["id"] for u in found.data] == [first.data["id"]]


def test_concurrent_creates_of_one_external_id_make_one_user(api_key):
    key = api_key()
    ext = "race-" + secrets.token_hex(4)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: call("POST", "/api/v1/users", key=key, body={"externalUserId": ext}),
                                range(8)))
    assert sorted(r.status for r in results) == [200] * 7 + [201]
    assert len({r.data["id"] for r in results}) == 1


def test_user_listing_is_stable_under_inserts(api_key, new_user):
    key = api_key()
    made = [new_user()["id"] for _ in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = call("GET", "/api/v1/users", key=key, query=query)
        seen += [u["id"] for u in page.data]
        if len(seen) == 2:
            inserted = new_user()["id"]  # arrives mid-walk: must not appear in later pages
        if not page.body["meta"]["pagination"]["hasMore"] or set(made) <= set(seen):
            break
        cursor = page.body["meta"]["pagination"]["nextCursor"]
    assert len(seen) == len(set(seen))
    assert set(made) <= set(seen) and inserted not in seen


@pytest.mark.parametrize("path", ["/api/v1/users/usr_" + "0" * 32, "/api/v1/users/nope"])
def test_unknown_user_is_404(api_key, path):
    result = call("GET", path, key=api_key())
    assert result.status == 404 and result.error_code == "USER_NOT_FOUND"


@pytest.mark.parametrize("body", [
    {"externalUserId": ""}, {"externalUserId": "x" * 256}, {"externalUserId": "x", "email": "not-an-email"},
    {"externalUserId": "x", "type": "ADMIN"}, {"externalUserId": "x", "nickname": "y"}, {"externalUserId": 5}, {},
])
def test_user_validation(api_key, body):
    result = call("POST", "/api/v1/users", key=api_key(), body=body)
    assert result.status == 400 and result.error_code == "VALIDATION_ERROR"


def test_credit_debit_balance_and_entries(api_key, new_user):
    key = api_key()
    user = new_user()["id"]
    zero = call("GET", f"/api/v1/balance/{user}", key=key).data
    assert (zero["available"], zero["reserved"], zero["total"], zero["currency"]) == ("0.00", "0.00", "0.00", "USD")
    credit = call("POST", f"/api/v1/balance/{user}/credit", key=key, body={"amount": "100.00", "reason": "seed"})
    assert credit.data["previousBalance"] == {"available": "0.00", "reserved": "0.00"}
    assert credit.data["transactionId"].startswith("ltx_") and credit.data["auditLogId"].startswith("aud_")
    debit = call("POST", f"/api/v1/balance/{user}/debit", key=key, body={"amount": "30.50", "reason": "fee"})
    assert debit.data["balance"]["available"] == "69.50"
    entries = call("GET", f"/api/v1/balance/{user}/entries", key=key, query={"limit": 1})
    assert [(e["amount"], e["balanceAfter"], e["account"]) for e in entries.data] == [("-30.50", "69.50", "available")]
    assert entries.body["meta"]["pagination"]["hasMore"] is True
    rest = call("GET", f"/api/v1/balance/{user}/entries", key=key,
                query={"cursor": entries.body["meta"]["pagination"]["nextCursor"]})
    assert [e["amount"] for e in rest.data] == ["100.00"]


def test_overdraft_is_refused_audited_and_changes_nothing(api_key, new_user):
    key = api_key()
    user = new_user()["id"]
    call("POST", f"/api/v1/balance/{user}/credit", key=key, body={"amount": "10.00", "reason": "seed"})
    refused = call("POST", f"/api/v1/balance/{user}/debit", key=key, body={"amount": "10.01", "reason": "too much"})
    assert refused.status == 422 and refused.error_code == "INSUFFICIENT_FUNDS"
    assert refused.body["error"]["details"] == {"requested": "10.01", "available": "10.00", "currency": "USD"}
    assert call("GET", f"/api/v1/balance/{user}", key=key).data["available"] == "10.00"
    audit = call("GET", "/api/v1/audit", key=key, query={"resourceId": user, "action": "balance.debited"})
    assert [(r["result"], r["error"]["code"]) for r in audit.data] == [("FAILURE", "INSUFFICIENT_FUNDS")]


@pytest.mark.parametrize("op", ["credit", "debit"])
def test_adjustments_on_unknown_users_are_404(api_key, op):
    result = call("POST", f"/api/v1/balance/usr_{'0' * 32}/{op}", key=api_key(), body={"amount": "1.00", "reason": "x"})
    assert result.status == 404 and result.error_code == "USER_NOT_FOUND"


@pytest.mark.parametrize("path", ["/api/v1/balance/usr_" + "0" * 32, "/api/v1/balance/usr_" + "0" * 32 + "/entries"])
def test_reads_on_unknown_users_are_404(api_key, path):
    assert call("GET", path, key=api_key()).error_code == "USER_NOT_FOUND"


@pytest.mark.parametrize("body,code", [
    ({"amount": "1.00"}, "VALIDATION_ERROR"), ({"amount": "1.00", "reason": ""}, "VALIDATION_ERROR"),
    ({"amount": "1.00", "reason": "x", "currency": "EUR"}, "INVALID_CURRENCY"),
    ({"amount": "1.001", "reason": "x"}, "INVALID_AMOUNT_FORMAT"),
    ({"amount": 1, "reason": "x"}, "INVALID_AMOUNT_FORMAT"),
])
def test_adjustment_validation(api_key, new_user, body, code):
    result = call("POST", f"/api/v1/balance/{new_user()['id']}/credit", key=api_key(), body=body)
    assert result.status == 400 and result.error_code == code
