"""The Airtm client on its own: Basic auth, Decimal amounts on the wire and back, retries with backoff and
Retry-After, create-by-code idempotency, not-found as None, and the reason-code → error mapping."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

import offerhub.config
from offerhub.airtm import client as airtm_module
from offerhub.airtm import wire
from offerhub.airtm.client import Airtm, ProviderRefused, ProviderStateConflict
from offerhub.core.errors import Conflict, InvalidAmount, ProviderError, ProviderTimeout, ServiceUnavailable

BASE = "https://api.stg.enterprise.airtm.com/v2"
Handler = Callable[[httpx.Request], httpx.Response]

PAYIN = {"id": "9b7c3c1e-0000-4000-8000-000000000001", "code": "top_1", "status": "CREATED", "amount": 10.5,
         "netAmount": 10.1, "airtmFee": 0.4, "description": "Top-up",
         "items": [{"id": "i1", "payinId": "p", "description": "Top-up", "amount": 10.5, "quantity": 1}]}
PAYOUT = {"id": "po_1", "code": "wd_1", "status": "CREATED", "airtmUserEmail": "a@b.co", "grossAmount": 25.0,
          "amount": 25.0, "netAmount": 24.75, "airtmFee": 0.25}


def make(handler: Handler, sleeps: list[float] | None = None, attempts: int = 3) -> Airtm:
    return Airtm(BASE, "key_123", "s3cr3t:with-colon", transport=httpx.MockTransport(handler), attempts=attempts,
                 sleep=(sleeps.append if sleeps is not None else lambda _: None))


def reply(status: int, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers) if body is not None else \
        httpx.Response(status, headers=headers)


def refusal(reason: str, status: int = 400) -> httpx.Response:
    return httpx.Response(status, json={"code": reason, "message": f"reason {reason}", "data": {}})


def scripted(*answers: httpx.Response) -> tuple[Handler, list[httpx.Request]]:
    """A handler that answers in order and records what it was asked."""
    queue = iter(answers)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return next(queue)

    return handler, seen


def no_floats(value: Any) -> None:
    assert not isinstance(value, float), value
    for child in value.values() if isinstance(value, dict) else value if isinstance(value, list) else ():
        no_floats(child)


def create_payin(api: Airtm, **overrides: Any) -> dict[str, Any]:
    args = {"code": "top_1", "amount": Decimal("10.50"), "description": "Top-up",
            "confirmation_uri": "https://m.example/ok", "cancel_uri": "https://m.example/cancel", **overrides}
    return api.create_payin(**args)


def create_payout(api: Airtm, **overrides: Any) -> dict[str, Any]:
    args = {"code": "wd_1", "email": "a@b.co", "amount": Decimal("25"), "notes": "Withdrawal", "commit": True,
            **overrides}
    return api.create_payout(**args)


# Wire


def test_every_call_carries_http_basic_auth():
    handler, seen = scripted(reply(200, PAYIN), reply(200, {"available": 1, "pending": 0}))
    api = make(handler)
    api.payin("p1")
    api.balance()
    expected = "Basic " + base64.b64encode(b"key_123:s3cr3t:with-colon").decode()
    assert [r.headers["authorization"] for r in seen] == [expected, expected]
    assert [str(r.url) for r in seen] == [f"{BASE}/payins/p1", f"{BASE}/me/balance"]


def test_payin_body_amounts_are_two_decimal_number_literals_and_items_sum_to_the_total():
    handler, seen = scripted(reply(200, PAYIN))
    assert create_payin(make(handler))["id"] == PAYIN["id"]
    request = seen[0]
    assert request.method == "POST" and request.url.path == "/v2/payins"
    assert request.headers["content-type"] == "application/json"
    raw = request.content
    # A JSON number (not a string), written from the Decimal: 10.50 (or 10.5 if trailing zeros are normalized).
    assert re.search(rb'"amount": ?10\.50?[,}]', raw), raw
    assert b'"10.5' not in raw
    body = wire.loads(raw)
    assert body["amount"] == Decimal("10.50") and isinstance(body["amount"], Decimal)
    assert body["code"] == "top_1" and body["description"] == "Top-up"
    assert body["confirmationUri"] == "https://m.example/ok" and body["cancelUri"] == "https://m.example/cancel"
    assert len(body["items"]) == 1 and body["items"][0]["description"] == "Top-up"
    assert sum(i["amount"] * i["quantity"] for i in body["items"]) == body["amount"]
    assert json.loads(raw)["items"][0]["quantity"] == 1


def test_the_wire_bodies_hold_cent_quantized_decimals():
    payin = wire.payin_body("c", Decimal("7.1"), "d", "u1", "u2")
    assert payin["amount"] == Decimal("7.10") and str(payin["amount"]) == "7.10"
    assert str(payin["items"][0]["amount"]) == "7.10" and payin["items"][0]["quantity"] == 1
    payout = wire.payout_body("c", "x@y.z", Decimal("999999999.99"), "n" * 300, False)
    assert payout == {"code": "c", "airtmUserEmail": "x@y.z", "amount": Decimal("999999999.99"),
                      "notes": "n" * 255, "commit": False}
    assert wire.loads(wire.dumps(payout))["amount"] == Decimal("999999999.99")  # a float would drift
    assert wire.payout_body("c", "x@y.z", Decimal("1"), "short", True)["notes"] == "short"


@pytest.mark.parametrize("amount", [Decimal("10.005"), Decimal("0"), Decimal("-1.00"), Decimal("NaN"),
                                    Decimal("Infinity"), 10.5, "10.50"])
def test_amounts_that_are_not_positive_whole_cents_are_refused_not_rounded(amount):
    with pytest.raises(InvalidAmount):
        wire.payin_body("c", amount, "d", "u1", "u2")
    with pytest.raises(InvalidAmount):
        wire.payout_body("c", "x@y.z", amount, "n", True)


def test_payout_body_on_the_wire():
    handler, seen = scripted(reply(200, PAYOUT))
    assert create_payout(make(handler), amount=Decimal("25.00"), notes="é" * 400)["id"] == "po_1"
    raw = seen[0].content
    assert seen[0].url.path == "/v2/payouts"
    assert re.search(rb'"amount": ?25(\.00)?[,}]', raw), raw
    body = json.loads(raw)
    assert body["airtmUserEmail"] == "a@b.co" and body["commit"] is True and body["code"] == "wd_1"
    assert body["notes"] == "é" * 255


def test_responses_are_parsed_with_decimals_never_floats():
    handler, _ = scripted(reply(200, PAYIN), reply(200, PAYOUT),
                          httpx.Response(200, content=b'{"available": 1234.56, "pending": 0.1, "extra": 3}'))
    api = make(handler)
    payin, payout, balance = api.payin("p"), api.payout("po_1"), api.balance()
    for value in (payin, payout, balance):
        no_floats(value)
    assert payin["amount"] == Decimal("10.5") and payin["items"][0]["amount"] == Decimal("10.5")
    assert payout["netAmount"] == Decimal("24.75")
    assert balance == {"available": Decimal("1234.56"), "pending": Decimal("0.1")}


def test_an_unreadable_balance_or_a_non_object_answer_is_a_provider_error():
    for answer in (reply(200, {"available": 1}), reply(200, {"available": True, "pending": 0}), reply(200, [1])):
        handler, _ = scripted(answer)
        with pytest.raises(ProviderError) as failed:
            make(handler).balance()
        assert failed.value.status == 502 and failed.value.details["path"] == "/me/balance"


def test_path_segments_are_url_encoded():
    handler, seen = scripted(reply(200, {"id": "u", "status": "active"}), reply(200, PAYIN), reply(200, PAYOUT),
                             reply(204))
    api = make(handler)
    assert api.user("ana+test@example.com") == {"id": "u", "status": "active"}
    api.payin_by_code("a/b c")
    api.payout("../me")
    api.commit_payout("x?y#z")
    assert [r.url.raw_path for r in seen] == [b"/v2/users/ana%2Btest%40example.com", b"/v2/payins/by-code/a%2Fb%20c",
                                              b"/v2/payouts/..%2Fme", b"/v2/payouts/x%3Fy%23z/commit"]


@pytest.mark.parametrize("answer", [httpx.Response(204), httpx.Response(201), httpx.Response(200, content=b"ok"),
                                    httpx.Response(200, json={"id": "po_1"})])
def test_commit_accepts_any_2xx_even_an_empty_body(answer):
    handler, seen = scripted(answer)
    assert make(handler).commit_payout("po_1") is None
    assert seen[0].method == "POST" and seen[0].url.path == "/v2/payouts/po_1/commit" and seen[0].content == b""


def test_cancels_are_deletes():
    handler, seen = scripted(reply(200, {**PAYIN, "status": "CANCELED"}), reply(200, {**PAYOUT, "status": "CANCELED"}))
    api = make(handler)
    assert api.cancel_payin("p1")["status"] == "CANCELED"
    assert api.cancel_payout("po_1")["status"] == "CANCELED"
    assert [(r.method, r.url.path) for r in seen] == [("DELETE", "/v2/payins/p1"), ("DELETE", "/v2/payouts/po_1")]


def test_a_cancel_that_conflicts_with_an_already_canceled_operation_returns_it():
    """A retried DELETE whose first answer was lost meets "cannot cancel": the payin is canceled all the same."""
    handler, seen = scripted(reply(503), refusal("415030", 409), reply(200, {**PAYIN, "status": "canceled"}))
    assert make(handler).cancel_payin("p1")["status"] == "canceled"
    assert [r.method for r in seen] == ["DELETE", "DELETE", "GET"]

    handler, _ = scripted(refusal("415055", 409), reply(200, {**PAYOUT, "status": "COMPLETED"}))
    with pytest.raises(ProviderStateConflict) as conflict:
        make(handler).cancel_payout("po_1")
    assert conflict.value.status == 409 and conflict.value.code == "PROVIDER_STATE_CONFLICT"


# Retries


def test_429_then_200_honours_retry_after():
    sleeps: list[float] = []
    handler, seen = scripted(reply(429, headers={"retry-after": "3"}), reply(200, PAYIN))
    assert make(handler, sleeps).payin("p1")["id"] == PAYIN["id"]
    assert sleeps == [3.0] and len(seen) == 2


def test_retry_after_is_capped_and_ignored_when_not_numeric():
    sleeps: list[float] = []
    handler, _ = scripted(reply(429, headers={"retry-after": "120"}),
                          reply(503, headers={"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}), reply(200, PAYIN))
    make(handler, sleeps).payin("p1")
    assert sleeps == [10.0, 0.5]  # capped at 10 s, then exponential backoff (0.25 * 2)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_exhausting_the_attempts_is_provider_error_502(status):
    sleeps: list[float] = []
    handler, seen = scripted(*(httpx.Response(status, json={"code": "415999", "message": "boom"}) for _ in range(3)))
    with pytest.raises(ProviderError) as failed:
        make(handler, sleeps).payin("p1")
    assert len(seen) == 3 and sleeps == [0.25, 0.5]
    assert failed.value.status == 502 and failed.value.code == "PROVIDER_ERROR"
    assert failed.value.details == {"path": "/payins/p1", "providerStatus": status, "reasonCode": "415999",
                                    "providerMessage": "boom"}


def test_429_exhausting_the_attempts_is_rate_limited_502():
    handler, seen = scripted(*(reply(429) for _ in range(3)))
    with pytest.raises(ProviderError) as failed:
        make(handler).balance()
    assert len(seen) == 3
    assert failed.value.status == 502 and failed.value.code == "PROVIDER_RATE_LIMITED"
    assert failed.value.details["providerStatus"] == 429 and failed.value.details["reasonCode"] is None


def test_timeouts_exhausting_the_attempts_are_provider_timeout_504():
    calls: list[httpx.Request] = []
    sleeps: list[float] = []

    def slow(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ReadTimeout("read timed out", request=request)

    with pytest.raises(ProviderTimeout) as timeout:
        make(slow, sleeps).payout("po_1")
    assert len(calls) == 3 and sleeps == [0.25, 0.5]
    assert timeout.value.status == 504 and timeout.value.code == "PROVIDER_TIMEOUT"
    assert timeout.value.details == {"path": "/payouts/po_1", "providerStatus": None, "reasonCode": None,
                                     "providerMessage": "read timed out"}


def test_connection_errors_exhausting_the_attempts_are_provider_error_502():
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(ProviderError) as failed:
        make(down, attempts=2).payin("p1")
    assert failed.value.status == 502 and failed.value.code == "PROVIDER_ERROR"


def test_a_transport_error_then_success_is_retried():
    answers = iter([None, reply(200, PAYIN)])

    def flaky(request: httpx.Request) -> httpx.Response:
        answer = next(answers)
        if answer is None:
            raise httpx.ConnectError("reset", request=request)
        return answer

    sleeps: list[float] = []
    assert make(flaky, sleeps).payin("p1")["id"] == PAYIN["id"] and sleeps == [0.25]


def test_a_4xx_is_not_retried():
    handler, seen = scripted(refusal("415901"))
    with pytest.raises(ProviderError):
        create_payin(make(handler))
    assert len(seen) == 1


# Idempotent creates


def test_payin_code_exists_returns_the_existing_payin_by_code():
    handler, seen = scripted(refusal("415029", 409), reply(200, PAYIN))
    assert create_payin(make(handler)) == wire.loads(json.dumps(PAYIN))
    assert [(r.method, r.url.path) for r in seen] == [("POST", "/v2/payins"), ("GET", "/v2/payins/by-code/top_1")]


def test_payout_code_exists_returns_the_existing_payout_by_code():
    handler, seen = scripted(refusal("415056", 409), reply(200, PAYOUT))
    assert create_payout(make(handler))["id"] == "po_1"
    assert [(r.method, r.url.path) for r in seen] == [("POST", "/v2/payouts"), ("GET", "/v2/payouts/by-code/wd_1")]


def test_a_create_whose_answer_was_lost_is_retried_and_finds_its_payin_by_code():
    handler, seen = scripted(reply(502), refusal("415029"), reply(200, PAYIN))
    assert create_payin(make(handler))["id"] == PAYIN["id"]
    assert [r.method for r in seen] == ["POST", "POST", "GET"] and seen[0].content == seen[1].content


def test_code_exists_with_nothing_under_the_code_is_a_provider_error():
    handler, _ = scripted(refusal("415056"), reply(404))
    with pytest.raises(ProviderError) as failed:
        create_payout(make(handler))
    assert failed.value.status == 502 and failed.value.details["path"] == "/payouts/by-code/wd_1"


# Not found


@pytest.mark.parametrize("call,answer", [
    (lambda api: api.payin_by_code("x"), reply(404)),
    (lambda api: api.payin_by_code("x"), refusal("415031")),
    (lambda api: api.payin_by_code("x"), refusal("415902", 422)),
    (lambda api: api.payout_by_code("x"), reply(404, {"code": "415005", "message": "not found"})),
    (lambda api: api.payout_by_code("x"), refusal("415005")),
    (lambda api: api.payout_by_code("x"), refusal("415902")),
    (lambda api: api.user("nobody@example.com"), reply(404)),
    (lambda api: api.user("nobody@example.com"), refusal("415902")),
    (lambda api: api.user("nobody@example.com"), refusal("415059")),
])
def test_lookups_answer_none_when_airtm_has_nothing(call, answer):
    handler, seen = scripted(answer)
    assert call(make(handler)) is None
    assert len(seen) == 1


def test_a_missing_payin_by_id_is_a_provider_error_not_none():
    handler, _ = scripted(refusal("415031", 404))
    with pytest.raises(ProviderError) as failed:
        make(handler).payin("p1")
    assert failed.value.status == 502 and failed.value.details["reasonCode"] == "415031"


# Reason-code mapping


@pytest.mark.parametrize("reason,error,status,code", [
    ("415059", ProviderRefused, 422, "AIRTM_USER_INVALID"),
    ("415060", ProviderRefused, 422, "AIRTM_USER_INVALID"),
    ("415061", ProviderRefused, 422, "AIRTM_USER_INVALID"),
    ("415053", ProviderRefused, 422, "AIRTM_USER_INVALID"),
    ("415034", ProviderRefused, 422, "AIRTM_USER_INVALID"),
    ("415058", ProviderRefused, 422, "AMOUNT_BELOW_MINIMUM"),
    ("415030", Conflict, 409, "PROVIDER_STATE_CONFLICT"),
    ("415032", Conflict, 409, "PROVIDER_STATE_CONFLICT"),
    ("415027", Conflict, 409, "PROVIDER_STATE_CONFLICT"),
    ("415055", Conflict, 409, "PROVIDER_STATE_CONFLICT"),
    ("415016", ProviderError, 502, "PROVIDER_INSUFFICIENT_BALANCE"),
    ("415901", ProviderError, 502, "PROVIDER_ERROR"),
    ("415906", ProviderError, 502, "PROVIDER_ERROR"),
    ("415904", ProviderError, 502, "PROVIDER_ERROR"),
    ("415905", ProviderError, 502, "PROVIDER_ERROR"),
    ("415998", ProviderError, 502, "PROVIDER_ERROR"),
    ("SOMETHING_NEW", ProviderError, 502, "PROVIDER_ERROR"),
])
@pytest.mark.parametrize("http_status", [400, 409, 422])
def test_4xx_reason_codes_map_to_our_errors(reason, error, status, code, http_status):
    long_message = "x" * 900
    handler, _ = scripted(httpx.Response(http_status, json={"code": reason, "message": long_message,
                                                            "data": {"field": "amount"}}))
    with pytest.raises(error) as refused:
        create_payout(make(handler))
    assert refused.value.status == status and refused.value.code == code
    assert refused.value.details == {"path": "/payouts", "providerStatus": http_status, "reasonCode": reason,
                                     "providerMessage": "x" * 500}


@pytest.mark.parametrize("answer,reason", [
    (httpx.Response(401), None),
    (httpx.Response(403, content=b"<html>forbidden</html>"), None),
    (httpx.Response(400, json={"code": 415901, "message": "bad"}), "415901"),  # a numeric code still matches
    (httpx.Response(400, json=["not", "an", "object"]), None),
])
def test_odd_4xx_bodies_are_provider_errors_with_what_could_be_read(answer, reason):
    handler, _ = scripted(answer)
    with pytest.raises(ProviderError) as failed:
        make(handler).payout("po_1")
    assert failed.value.code == "PROVIDER_ERROR" and failed.value.details["reasonCode"] == reason
    assert set(failed.value.details) == {"path", "providerStatus", "reasonCode", "providerMessage"}


# Factory


@pytest.fixture
def fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """settings() and airtm() are cached per process: clear both around the test (after it the env is restored
    by monkeypatch, so the next settings() reads the original environment)."""
    for name in ("AIRTM_API_KEY", "AIRTM_API_SECRET", "AIRTM_CREDENTIALS_SECRET_ARN", "AIRTM_API_URL"):
        monkeypatch.delenv(name, raising=False)
    offerhub.config.settings.cache_clear()
    airtm_module._client.cache_clear()
    yield monkeypatch
    offerhub.config.settings.cache_clear()
    airtm_module._client.cache_clear()


def test_the_factory_reads_credentials_from_the_environment(fresh_settings: pytest.MonkeyPatch):
    fresh_settings.setenv("AIRTM_API_KEY", "env-key")
    fresh_settings.setenv("AIRTM_API_SECRET", "env-secret")
    fresh_settings.setenv("AIRTM_API_URL", "https://airtm.test/v2")
    fresh_settings.setenv("AIRTM_TIMEOUT_SECONDS", "7")
    api = airtm_module.airtm()
    assert api is airtm_module.airtm()  # one client per container
    http = api._http
    assert str(http.base_url) == "https://airtm.test/v2/" and http.timeout.read == 7.0
    request = http.build_request("GET", "/me/balance")
    request = next(http.auth.sync_auth_flow(request))
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"env-key:env-secret").decode()


def test_the_factory_falls_back_to_the_secrets_manager_json(fresh_settings: pytest.MonkeyPatch):
    from offerhub.adapters.aws import secrets

    asked: list[str] = []

    def get_secret_json(arn: str) -> dict[str, Any]:
        asked.append(arn)
        return {"apiKey": "sm-key", "apiSecret": "sm-secret"}

    fresh_settings.setattr(secrets, "get_secret_json", get_secret_json)
    fresh_settings.setenv("AIRTM_CREDENTIALS_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:1:secret:airtm")
    http = airtm_module.airtm()._http
    assert asked == ["arn:aws:secretsmanager:us-east-1:1:secret:airtm"]
    assert str(http.base_url) == "https://api.stg.enterprise.airtm.com/v2/"  # the sandbox by default
    request = next(http.auth.sync_auth_flow(http.build_request("GET", "/me")))
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"sm-key:sm-secret").decode()


@pytest.mark.parametrize("env", [{}, {"AIRTM_API_KEY": "only-the-key"}])
def test_the_factory_refuses_when_airtm_is_not_configured(fresh_settings: pytest.MonkeyPatch, env: dict[str, str]):
    for name, value in env.items():
        fresh_settings.setenv(name, value)
    with pytest.raises(ServiceUnavailable) as missing:
        airtm_module.airtm()
    assert missing.value.status == 503 and missing.value.code == "PROVIDER_NOT_CONFIGURED"
    assert "Airtm is not configured" in missing.value.message
