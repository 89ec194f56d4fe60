"""The new routes in airtm mode, where they reach the domain: no malformed request gives a 500 or moves money."""

from __future__ import annotations

import pytest

from tests.airtm.conftest import balance
from tests.lambda_client import call
from tests.test_bad_input import AMOUNTS, PATH_IDS, RAW_BODIES, assert_clean

POSTS = ["/api/v1/topups", "/api/v1/withdrawals", "/api/v1/users/{id}/airtm/link", "/api/v1/topups/{id}/cancel",
         "/api/v1/topups/{id}/refresh", "/api/v1/withdrawals/{id}/commit", "/api/v1/withdrawals/{id}/cancel",
         "/api/v1/withdrawals/{id}/refresh", "/api/v1/test-helpers/topups/{id}/complete",
         "/api/v1/test-helpers/withdrawals/{id}/complete"]


@pytest.fixture
def user(funded_airtm_user):
    return funded_airtm_user("20.30")  # 20.00 net


@pytest.mark.parametrize("path", POSTS)
def test_malformed_bodies_and_ids(key, user, path):
    for raw in RAW_BODIES:
        assert_clean(call("POST", path.replace("{id}", user["id"]), key=key, raw_body=raw))
    for value in PATH_IDS:
        result = call("POST", path.replace("{id}", value), key=key, body={"outcome": "confirmed"})
        assert_clean(result)
        assert result.status in (400, 404, 422), result.body
    assert balance(key, user["id"])["available"] == "20.00"


@pytest.mark.parametrize("amount", AMOUNTS)
def test_bad_amounts(key, user, amount):
    for body in ({"userId": user["id"], "amount": amount},
                 {"userId": user["id"], "amount": amount, "destinationType": "airtm"}):
        result = call("POST", "/api/v1/topups" if len(body) == 2 else "/api/v1/withdrawals", key=key, body=body)
        assert_clean(result)
        assert result.status == 400, result.body
    assert balance(key, user["id"])["available"] == "20.00"


@pytest.mark.parametrize("body", [
    {"destinationType": "bank"}, {"destinationType": "crypto", "destinationRef": "G" + "A" * 55},
    {"destinationType": "airtm", "memo": "x"}, {"destinationType": "airtm", "memo": -1},
    {"destinationType": "airtm", "destinationRef": "not an email"}, {"destinationType": "airtm", "amount": "20.01"},
    {"destinationType": "airtm", "commit": "yes"}, {"destinationType": "airtm", "currency": "EUR"},
    {"destinationType": "airtm", "destinationRef": "x" * 300},
])
def test_withdrawals_refused_without_moving_money(key, user, body):
    result = call("POST", "/api/v1/withdrawals", key=key, body={"userId": user["id"], "amount": "5.00", **body})
    assert_clean(result)
    assert 400 <= result.status < 500, result.body
    assert balance(key, user["id"])["available"] == "20.00"
