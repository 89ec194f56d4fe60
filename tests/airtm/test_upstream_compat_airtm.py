"""Upstream compatibility in airtm mode: the payer's return from Airtm's checkout (GET /topups/{id}/callback),
the enforced top-up and withdrawal limits, GET /config and the detailed health of this mode, and the crypto-only
routes refused clearly."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.airtm.conftest import balance, drain
from tests.lambda_client import call

SUCCESS = "https://shop.example/paid?from=airtm"
CANCEL = "https://shop.example/canceled"


def _topup(key: str, user_id: str, amount: str = "20.00") -> dict:
    created = call("POST", "/api/v1/topups", key=key, body={"userId": user_id, "amount": amount})
    assert created.status == 201, created.body
    return created.data


def _redirect(result) -> tuple[str, dict[str, list[str]]]:
    assert result.status == 302, result.body
    parts = urlsplit(result.headers["location"])
    return f"{parts.scheme}://{parts.netloc}{parts.path}", parse_qs(parts.query)


@pytest.fixture
def redirects(monkeypatch):
    from offerhub.config import settings

    monkeypatch.setenv("TOPUP_SUCCESS_REDIRECT_URL", SUCCESS)
    monkeypatch.setenv("TOPUP_CANCEL_REDIRECT_URL", CANCEL)
    settings.cache_clear()
    yield
    settings.cache_clear()  # airtm_mode undoes the environment


def test_the_callback_answers_the_topup_state_without_a_key(key, airtm_user):
    user = airtm_user()
    topup = _topup(key, user["id"])
    shown = call("GET", f"/api/v1/topups/{topup['id']}/callback", query={"status": "confirmed", "code": "x"})
    assert shown.status == 200, shown.body
    assert shown.data == {"id": topup["id"], "status": "TOPUP_AWAITING_USER_CONFIRMATION"}  # the hint is not applied
    missing = call("GET", "/api/v1/topups/topup_" + "0" * 32 + "/callback")
    assert missing.status == 404 and missing.error_code == "TOPUP_NOT_FOUND"
    assert call("GET", f"/api/v1/topups/{topup['id']}/callback", query={"status": "x" * 65}).status == 400


def test_the_callback_refreshes_from_airtm_then_redirects(key, airtm_user, redirects):
    user = airtm_user()
    waiting = _topup(key, user["id"], "20.30")
    base, query = _redirect(call("GET", f"/api/v1/topups/{waiting['id']}/callback", query={"status": "confirmed"}))
    assert (base, query["status"]) == (CANCEL, ["TOPUP_AWAITING_USER_CONFIRMATION"])

    done = call("POST", f"/api/v1/test-helpers/topups/{waiting['id']}/complete", key=key, body={"outcome": "confirmed"})
    assert done.status == 200, done.body
    base, query = _redirect(call("GET", f"/api/v1/topups/{waiting['id']}/callback", query={"status": "confirmed"}))
    assert (base, query) == ("https://shop.example/paid", {"from": ["airtm"], "topupId": [waiting["id"]],
                                                          "status": ["TOPUP_SUCCEEDED"]})
    assert balance(key, user["id"])["available"] == "20.00"  # credited by the refresh, once
    drain()  # Airtm's webhook for the same payin changes nothing
    assert balance(key, user["id"])["available"] == "20.00"

    canceled = _topup(key, user["id"])
    call("POST", f"/api/v1/test-helpers/topups/{canceled['id']}/complete", key=key, body={"outcome": "canceled"})
    base, query = _redirect(call("GET", f"/api/v1/topups/{canceled['id']}/callback", query={"status": "confirmed"}))
    assert (base, query["status"]) == (CANCEL, ["TOPUP_CANCELED"])
    drain()


def test_the_callback_still_answers_when_airtm_does_not(key, airtm_user, redirects):
    user = airtm_user()
    topup = _topup(key, user["id"])
    armed = call("POST", "/api/v1/test-helpers/faults", key=key,
                 body={"target": "airtm-payins-get", "mode": "error", "count": 3})
    assert armed.status == 200, armed.body
    base, query = _redirect(call("GET", f"/api/v1/topups/{topup['id']}/callback"))
    assert (base, query["status"]) == (CANCEL, ["TOPUP_AWAITING_USER_CONFIRMATION"])
    call("POST", "/api/v1/test-helpers/faults", key=key, body={"target": "airtm-payins-get", "mode": "error",
                                                                "count": 0})


def test_topup_and_withdrawal_limits_are_enforced(key, funded_airtm_user):
    user = funded_airtm_user("20.30")  # 20.00 net
    for amount, code in (("0.99", "AMOUNT_BELOW_MINIMUM"), ("10000.01", "AMOUNT_ABOVE_MAXIMUM")):
        refused = call("POST", "/api/v1/topups", key=key, body={"userId": user["id"], "amount": amount})
        assert refused.status == 422 and refused.error_code == code, refused.body
        assert refused.body["error"]["details"]["limit"] == "topup"
    for amount, code in (("0.99", "AMOUNT_BELOW_MINIMUM"), ("5000.01", "AMOUNT_ABOVE_MAXIMUM")):
        refused = call("POST", "/api/v1/withdrawals", key=key,
                       body={"userId": user["id"], "amount": amount, "destinationType": "airtm"})
        assert refused.status == 422 and refused.error_code == code, refused.body
    assert len(call("GET", "/api/v1/topups", key=key, query={"userId": user["id"]}).data) == 1  # the funding one
    assert call("GET", "/api/v1/withdrawals", key=key, query={"userId": user["id"]}).data == []
    assert balance(key, user["id"])["available"] == "20.00"
    accepted = call("POST", "/api/v1/withdrawals", key=key,
                    body={"userId": user["id"], "amount": "1.00", "destinationType": "airtm"})
    assert accepted.status == 201, accepted.body


def test_config_health_and_crypto_only_routes_in_airtm_mode(key, airtm_user):
    config = call("GET", "/api/v1/config", key=key).data
    assert config["providers"] == {"paymentProvider": "airtm", "fiat": "airtm", "escrow": "ledger", "wallet": None}
    assert config["features"]["topups"] is True and config["features"]["trustlessWork"] is False
    assert config["stellar"] is None
    report = call("GET", "/api/v1/health/detailed", key=key)
    assert report.status == 200 and report.data["paymentProvider"] == "airtm"
    deps = report.data["dependencies"]
    assert deps["airtm"]["status"] == "up" and deps["database"]["status"] == "up"
    assert (deps["horizon"], deps["trustlessWork"], deps["kms"]) == ({"status": "not_used"},) * 3
    user = airtm_user()
    for path in (f"/api/v1/users/{user['id']}/balance/verify", f"/api/v1/users/{user['id']}/wallet/transactions"):
        refused = call("GET", path, key=key)
        assert refused.status == 422 and refused.error_code == "PAYMENT_PROVIDER_MISMATCH", (path, refused.body)
    assert call("GET", f"/api/v1/users/{user['id']}/balance", key=key).data["available"] == "0.00"
