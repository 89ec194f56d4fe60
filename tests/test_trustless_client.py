"""The Trustless Work client on its own: retries with backoff, Retry-After, error mapping, and amounts that
travel as JSON numbers without ever being floats."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest

from offerhub.core.errors import ProviderError, ProviderTimeout
from offerhub.trustless import wire
from offerhub.trustless.client import TrustlessWork


def client(handler, sleeps: list[float] | None = None) -> TrustlessWork:
    return TrustlessWork("https://tw.example", "id.secret", transport=httpx.MockTransport(handler),
                         sleep=(sleeps.append if sleeps is not None else lambda _: None))


def test_amounts_are_json_numbers_written_from_decimals_never_floats():
    text = wire.dumps({"amount": Decimal("100.10"), "platformFee": Decimal("0.50"), "title": "x", "n": [Decimal("1")]})
    assert json.loads(text) == {"amount": 100.1, "platformFee": 0.5, "title": "x", "n": [1]}
    assert '"amount": 100.1,' in text  # a number literal, not a string
    big = wire.dumps({"amount": Decimal("999999999.99")})
    assert wire.loads(big)["amount"] == Decimal("999999999.99")  # float would give 999999999.99000001...
    assert isinstance(wire.loads('{"balance": 0.1}')["balance"], Decimal)


def test_the_request_carries_the_api_key_and_the_decimal_amount():
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["key"], seen["body"] = request.headers["x-api-key"], request.content.decode()
        return httpx.Response(201, json={"status": "SUCCESS", "unsignedTransaction": "AAAA"})

    assert client(handler).build("fund-escrow", {"contractId": "C", "signer": "G", "amount": Decimal("12.30")}) \
        == "AAAA"
    assert seen["key"] == "id.secret" and '"amount": 12.3' in seen["body"]


def test_429_and_5xx_are_retried_with_backoff_and_retry_after():
    answers = iter([httpx.Response(429, headers={"retry-after": "2"}), httpx.Response(503),
                    httpx.Response(201, json={"unsignedTransaction": "XDR"})])
    sleeps: list[float] = []
    assert client(lambda _: next(answers), sleeps).build("release-funds", {"contractId": "C"}) == "XDR"
    assert sleeps == [2.0, 0.5]  # Retry-After honoured, then exponential backoff (0.25 * 2)


def test_persistent_5xx_is_502_and_a_timeout_is_504():
    with pytest.raises(ProviderError) as unavailable:
        client(lambda _: httpx.Response(500, json={"status": "FAILED", "message": "boom"})).send_transaction("X")
    assert unavailable.value.status == 502 and unavailable.value.code == "TRUSTLESS_WORK_UNAVAILABLE"

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(ProviderTimeout) as timeout:
        client(slow).send_transaction("X")
    assert timeout.value.status == 504 and timeout.value.code == "TRUSTLESS_WORK_TIMEOUT"


@pytest.mark.parametrize("body,code", [
    ({"type": "about:blank", "status": 409, "code": "ESCROW_ALREADY_IN_DISPUTE", "detail": "x"},
     "ESCROW_ALREADY_IN_DISPUTE"),  # RFC 9457 problem details (current)
    ({"message": "Escrow not found", "error": "Bad Request", "statusCode": 400}, "Bad Request"),  # legacy NestJS
    ({}, "UNKNOWN"),
])
def test_refusals_are_502_with_the_provider_code_in_details(body, code):
    with pytest.raises(ProviderError) as refused:
        client(lambda _: httpx.Response(409 if body else 400, json=body)).build("dispute-escrow", {})
    assert refused.value.status == 502 and refused.value.code == "TRUSTLESS_WORK_ERROR"
    assert refused.value.details["providerCode"] == code


def test_a_refusal_is_not_retried():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(400, json={"code": "VALIDATION_ERROR"})

    with pytest.raises(ProviderError):
        client(handler).build("approve-milestone", {})
    assert len(calls) == 1


def test_we_never_sign_what_we_did_not_ask_for():
    """A compromised or buggy provider returning a payment (or a call on another contract) is refused unsigned."""
    import os

    from stellar_sdk import Account, Asset, Keypair, StrKey, TransactionBuilder

    from offerhub.config import settings
    from offerhub.escrow.steps import Step, _sign
    from offerhub.wallets.service import Signer

    passphrase = settings().stellar.passphrase
    me = Keypair.random()
    signer = Signer("wal_x", me.public_key, me.secret)
    contract, other = (StrKey.encode_contract(os.urandom(32)) for _ in range(2))

    def built(op) -> str:
        return op(TransactionBuilder(Account(me.public_key, 1), passphrase, 100)).set_timeout(60).build().to_xdr()

    step = Step("release", "release-funds", "buyer", signer, {}, contract)
    good = built(lambda b: b.append_invoke_contract_function_op(contract, "release_funds", []))
    assert len(_sign(good, step)[1]) == 64
    for bad in (built(lambda b: b.append_payment_op(Keypair.random().public_key, Asset.native(), "100")),
                built(lambda b: b.append_invoke_contract_function_op(other, "release_funds", []))):
        with pytest.raises(ProviderError) as refused:
            _sign(bad, step)
        assert refused.value.code == "TRUSTLESS_WORK_UNEXPECTED_TRANSACTION"
