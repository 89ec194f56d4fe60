"""The sandbox Airtm Enterprise API v2, driven over real HTTP: Basic auth, the rate limit, payins and
payouts with their fees, states and reason codes, the enterprise balance, Svix-signed webhooks (with
retries and the drop / duplicate / delay faults), the API faults, and state that survives a restart."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from svix.webhooks import Webhook

from local.sandbox.airtm import USER_NAMESPACE, AirtmError, AirtmSandbox
from local.sandbox.faults import AIRTM_TARGETS, Faults
from local.sandbox.rails import SandboxRails, free_port, serve_in_thread
from offerhub.core.decimal_json import dumps, loads

KEY, SECRET = "sandbox-key", "sandbox-secret"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
HOLD = 0.6  # a `timeout` fault holds the answer this long; the client below gives up after CLIENT_WAIT
CLIENT_WAIT = 0.25


class Receiver:
    """A webhook endpoint that records what it gets and can be told to fail the next calls."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[dict[str, str], bytes, int]] = []
        self.fail_next = 0

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            body = await request.body()
            with self.lock:
                status = 500 if self.fail_next > 0 else 204
                self.fail_next = max(self.fail_next - 1, 0)
                self.calls.append((dict(request.headers), body, status))
            return Response(status_code=status)

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])

    def received(self) -> list[tuple[str, str, str]]:
        """(svix-id, type, data.status) of each call answered 2xx, in arrival order."""
        out = []
        for headers, body, status in self.calls:
            if status < 300:
                event = loads(body)
                out.append((headers["svix-id"], event["type"], event["data"]["status"]))
        return out


def _serve(app: Starlette) -> tuple[str, Any]:
    port = free_port()
    return f"http://127.0.0.1:{port}", serve_in_thread(app, port)


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, str]]:
    hook = Receiver()
    base, server = _serve(hook.app())
    yield hook, f"{base}/hook"
    server.should_exit = True


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory, receiver) -> Iterator[tuple[AirtmSandbox, str, Path]]:
    path = tmp_path_factory.mktemp("airtm") / "airtm.sqlite"
    airtm = AirtmSandbox(path, api_key=KEY, api_secret=SECRET, faults=Faults(HOLD), rate_limit=None,
                         webhook_url=receiver[1], webhook_secret=WEBHOOK_SECRET,
                         webhook_retry_schedule=(0.05,) * 7, webhook_delay_seconds=0.6)
    base, server = _serve(airtm.app())
    yield airtm, base, path
    server.should_exit = True
    airtm.close()


@pytest.fixture(autouse=True)
def _clean(request) -> None:
    if "sandbox" not in request.fixturenames:
        return
    airtm, _, _ = request.getfixturevalue("sandbox")
    hook, url = request.getfixturevalue("receiver")
    assert airtm.wait_idle(10)
    for target in airtm.faults.armed():
        airtm.faults.arm(target, "error", 0)
    airtm.configure_webhooks(url, WEBHOOK_SECRET)
    with hook.lock:
        hook.calls.clear()
        hook.fail_next = 0


@pytest.fixture
def api(sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox[1], auth=(KEY, SECRET), timeout=5) as client:
        yield client


def call(client: httpx.Client, method: str, path: str, body: Any = None, **kwargs: Any
         ) -> tuple[int, Any, httpx.Response]:
    response = client.request(method, path, content=None if body is None else dumps(body),
                              headers={"content-type": "application/json"} if body is not None else None, **kwargs)
    return response.status_code, loads(response.content) if response.content else None, response


def payin_body(amount: str = "100.00", code: str | None = None) -> dict[str, Any]:
    half = Decimal(amount) / 2
    items = ([{"description": "Top-up", "amount": Decimal(amount), "quantity": Decimal(1)}]
             if half != half.quantize(Decimal("0.01")) else
             [{"description": "Half", "amount": half, "quantity": Decimal(2)}])
    return {"code": code or "topup_" + secrets.token_hex(8), "amount": Decimal(amount), "description": "Top-up",
            "items": items, "confirmationUri": "http://127.0.0.1/ok", "cancelUri": "http://127.0.0.1/cancel"}


def payout_body(email: str = "maria@example.com", amount: str = "10.00", **extra: Any) -> dict[str, Any]:
    return {"airtmUserEmail": email, "amount": Decimal(amount), "notes": "Withdrawal", **extra}


def balance(api: httpx.Client) -> dict[str, Decimal]:
    status, body, _ = call(api, "GET", "/me/balance")
    assert status == 200
    return body


def fund(api: httpx.Client, airtm: AirtmSandbox, amount: str = "200.00") -> None:
    status, payin, _ = call(api, "POST", "/payins", payin_body(amount))
    assert status == 200
    airtm.complete_payin(payin["id"], "confirmed")


def _verify_own(headers: dict[str, str], body: bytes) -> bool:
    key = base64.b64decode(WEBHOOK_SECRET.removeprefix("whsec_"))
    signed = f"{headers['svix-id']}.{headers['svix-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(part.removeprefix("v1,"), expected)
               for part in headers["svix-signature"].split() if part.startswith("v1,"))


# --- auth and the rate limit -------------------------------------------------------------------------------
def test_every_call_needs_the_api_key_and_secret(sandbox):
    _, base, _ = sandbox
    for auth in (None, (KEY, "wrong"), ("wrong", SECRET)):
        response = httpx.get(f"{base}/me/balance", auth=auth)
        assert response.status_code == 401
        assert response.json() == {"code": "415904", "message": response.json()["message"], "data": {}}
    garbled = httpx.get(f"{base}/payins/x", headers={"authorization": "Basic !!!"})
    assert garbled.status_code == 401
    assert httpx.get(f"{base}/me/balance", auth=(KEY, SECRET)).status_code == 200


def test_more_than_ten_calls_a_second_are_refused_with_retry_after(tmp_path):
    airtm = AirtmSandbox(tmp_path / "airtm.sqlite", api_key=KEY, api_secret=SECRET)
    base, server = _serve(airtm.app())
    try:
        with httpx.Client(base_url=base, auth=(KEY, SECRET)) as client:
            started = time.monotonic()
            statuses = [client.get("/me/balance").status_code for _ in range(10)]
            refused = client.get("/me/balance")
            assert time.monotonic() - started < 1.0
            assert statuses == [200] * 10
            assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
            assert refused.json()["data"] == {}
            time.sleep(max(0.0, 1.05 - (time.monotonic() - started)))
            assert client.get("/me/balance").status_code == 200
    finally:
        server.should_exit = True
        airtm.close()


# --- payins ------------------------------------------------------------------------------------------------
def test_payin_create_get_by_code_and_duplicate_code(api):
    body = payin_body("100.00")
    status, payin, _ = call(api, "POST", "/payins", body)
    assert status == 200
    assert uuid.UUID(payin["id"]).version == 4
    assert payin["status"] == "CREATED" and payin["code"] == body["code"]
    assert (payin["amount"], payin["airtmFee"], payin["netAmount"]) == (Decimal("100"), Decimal("1.5"),
                                                                       Decimal("98.5"))
    assert payin["airtmUserId"] is None and payin["airtmUserEmail"] is None
    assert [(i["payinId"], i["amount"], i["quantity"]) for i in payin["items"]] == [(payin["id"], Decimal(50), 2)]
    assert payin["createdAt"].endswith("Z") and payin["confirmationUri"] == "http://127.0.0.1/ok"
    assert call(api, "GET", f"/payins/{payin['id']}")[1] == payin
    assert call(api, "GET", f"/payins/by-code/{body['code']}")[1] == payin
    status, error, _ = call(api, "POST", "/payins", {**body, "description": "again"})
    assert (status, error["code"]) == (409, "415029")
    assert call(api, "GET", f"/payins/{uuid.uuid4()}")[1]["code"] == "415031"
    status, error, _ = call(api, "GET", "/payins/by-code/nope")
    assert (status, error["code"]) == (404, "415031")


@pytest.mark.parametrize("change", [
    {"amount": Decimal("99.00")},  # the items add up to 100
    {"amount": "100.00"},  # a string, not a number
    {"amount": Decimal("100.001")},
    {"amount": Decimal("-1")},
    {"items": []},
    {"items": [{"description": "x", "amount": Decimal(100), "quantity": Decimal("0.5")}]},
    {"confirmationUri": None},
    {"cancelUri": ""},
    {"code": None},
    {"description": 7},
])
def test_invalid_payins_are_refused(api, change):
    status, error, _ = call(api, "POST", "/payins", {**payin_body("100.00"), **change})
    assert (status, error["code"]) == (400, "415901")
    assert set(error) == {"code", "message", "data"}


def test_a_body_that_is_not_json_is_an_invalid_request(api):
    response = api.post("/payins", content=b"{nope")
    assert response.status_code == 400 and response.json()["code"] == "415901"


@pytest.mark.parametrize(("amount", "fee", "net"), [
    ("100.00", "1.50", "98.50"), ("1.00", "0.02", "0.98"), ("33.33", "0.50", "32.83"), ("0.10", "0.00", "0.10"),
])
def test_payin_fee_is_one_and_a_half_percent_rounded_half_up(api, amount, fee, net):
    payin = call(api, "POST", "/payins", payin_body(amount))[1]
    assert (payin["airtmFee"], payin["netAmount"]) == (Decimal(fee), Decimal(net))


def test_a_confirmed_payin_raises_the_balance_and_sends_a_signed_webhook(api, sandbox, receiver):
    airtm, _, _ = sandbox
    hook, _ = receiver
    before = balance(api)
    payin = call(api, "POST", "/payins", payin_body("100.00"))[1]
    confirmed = airtm.complete_payin(payin["id"], "confirmed", "ana@example.com")
    assert confirmed["status"] == "CONFIRMED" and confirmed["airtmUserEmail"] == "ana@example.com"
    assert confirmed["airtmUserId"] == str(uuid.uuid5(USER_NAMESPACE, "ana@example.com"))
    after = balance(api)
    assert after["available"] - before["available"] == Decimal("98.50")
    assert after["pending"] == before["pending"]
    assert airtm.wait_idle(5)
    assert [(t, s) for _, t, s in hook.received()] == [("payin.created", "CREATED"), ("payin.confirmed", "CONFIRMED")]
    for headers, body, _ in hook.calls:
        assert headers["content-type"] == "application/json"
        assert headers["svix-id"].startswith("msg_")
        assert abs(int(headers["svix-timestamp"]) - time.time()) < 60
        assert _verify_own(headers, body)
        Webhook(WEBHOOK_SECRET).verify(body, headers)  # raises when the signature is wrong
    event = loads(hook.calls[-1][1])
    assert event["data"] == call(api, "GET", f"/payins/{payin['id']}")[1]
    assert [d for d in airtm.delivered if d[0] == hook.calls[-1][0]["svix-id"]] == [
        (hook.calls[-1][0]["svix-id"], "payin.confirmed", 204)]
    with pytest.raises(AirtmError, match="CONFIRMED"):
        airtm.complete_payin(payin["id"], "failed")


def test_failed_and_canceled_payins_leave_the_balance_alone(api, sandbox, receiver):
    airtm, _, _ = sandbox
    before = balance(api)
    failed = airtm.complete_payin(call(api, "POST", "/payins", payin_body())[1]["id"], "failed")
    canceled = airtm.complete_payin(call(api, "POST", "/payins", payin_body())[1]["id"], "canceled")
    assert (failed["status"], canceled["status"]) == ("FAILED", "CANCELED")
    assert failed["failureReason"] and failed["airtmUserEmail"] == "payer@example.com"
    assert balance(api) == before
    assert airtm.wait_idle(5)
    assert [t for _, t, _ in receiver[0].received()][-3:] == ["payin.failed", "payin.created", "payin.canceled"]


# --- users and payouts -------------------------------------------------------------------------------------
def test_users_are_made_up_from_the_email(api):
    status, user, _ = call(api, "GET", "/users/ana%2Bshop%40example.com")
    assert status == 200
    assert user["id"] == str(uuid.uuid5(USER_NAMESPACE, "ana+shop@example.com"))
    assert (user["status"], user["isVerified"], user["primaryEmail"]) == ("active", True, True)
    assert call(api, "GET", "/users/ana%2Bshop%40example.com")[1] == user
    assert call(api, "GET", "/users/inactive.joe@example.com")[1]["status"] == "inactive"
    assert call(api, "GET", "/users/unverified1@example.com")[1]["isVerified"] is False
    assert call(api, "GET", "/users/pending-li@example.com")[1]["status"] == "active"
    status, error, _ = call(api, "GET", "/users/unknown-bo%40example.com")
    assert (status, error["code"]) == (404, "415902")
    assert call(api, "GET", "/users/not-an-email")[0] == 400


@pytest.mark.parametrize(("email", "amount", "status", "code"), [
    ("unknown7@example.com", "1.00", 422, "415059"),
    ("inactive@example.com", "1.00", 422, "415060"),
    ("unverified@example.com", "1.00", 422, "415060"),
    ("maria@example.com", "0.00", 422, "415058"),
    ("maria@example.com", "1.001", 400, "415901"),
    ("nobody", "1.00", 400, "415901"),
])
def test_payouts_are_refused_by_the_recipient_rules(api, email, amount, status, code):
    got, error, _ = call(api, "POST", "/payouts", payout_body(email, amount))
    assert (got, error["code"]) == (status, code)


def test_a_payout_needs_the_available_balance(api):
    before = balance(api)
    status, error, _ = call(api, "POST", "/payouts", payout_body(amount=str(before["available"] + 1)))
    assert (status, error["code"]) == (422, "415016")
    assert balance(api) == before


def test_payout_create_commit_completes_with_fees_and_webhooks(api, sandbox, receiver):
    airtm, _, _ = sandbox
    fund(api, airtm)
    before = balance(api)
    code = "wd_" + secrets.token_hex(6)
    status, payout, _ = call(api, "POST", "/payouts", payout_body(amount="50.50", code=code))
    assert status == 200 and payout["status"] == "CREATED" and payout["code"] == code
    assert (payout["amount"], payout["grossAmount"], payout["airtmFee"], payout["netAmount"],
            payout["enterpriseFee"]) == (Decimal("50.5"), Decimal("50.5"), Decimal("0.51"), Decimal("49.99"), 0)
    assert payout["airtmUserId"] == str(uuid.uuid5(USER_NAMESPACE, "maria@example.com"))
    reserved = balance(api)
    assert (before["available"] - reserved["available"], reserved["pending"] - before["pending"]) == (
        Decimal("50.5"), Decimal("50.5"))
    status, error, _ = call(api, "POST", "/payouts", payout_body(amount="1.00", code=code))
    assert (status, error["code"]) == (409, "415056")
    committed = api.post(f"/payouts/{payout['id']}/commit")
    assert committed.status_code == 204 and committed.content == b""
    done = call(api, "GET", f"/payouts/{payout['id']}")[1]
    assert done["status"] == "COMPLETED"
    assert call(api, "GET", f"/payouts/by-code/{code}")[1] == done
    after = balance(api)
    assert after == {"available": reserved["available"], "pending": before["pending"]}
    status, error, _ = call(api, "POST", f"/payouts/{payout['id']}/commit")
    assert (status, error["code"]) == (409, "415027")
    status, error, _ = call(api, "DELETE", f"/payouts/{payout['id']}")
    assert (status, error["code"]) == (409, "415055")
    assert airtm.wait_idle(5)
    mine = [(t, s) for _, t, s in receiver[0].received()][-2:]
    assert mine == [("payout.created", "CREATED"), ("payout.completed", "COMPLETED")]


def test_a_payout_to_a_pending_user_waits_for_the_control_call(api, sandbox, receiver):
    airtm, _, _ = sandbox
    fund(api, airtm)
    before = balance(api)
    status, payout, _ = call(api, "POST", "/payouts", payout_body("pending.li@example.com", "20.00", commit=True))
    assert status == 200 and payout["status"] == "PENDING"
    assert balance(api)["pending"] - before["pending"] == Decimal("20")
    done = airtm.complete_payout(payout["id"], "completed")
    assert done["status"] == "COMPLETED" == call(api, "GET", f"/payouts/{payout['id']}")[1]["status"]
    assert balance(api) == {"available": before["available"] - 20, "pending": before["pending"]}
    with pytest.raises(AirtmError, match="COMPLETED"):
        airtm.complete_payout(payout["id"], "failed")
    second = call(api, "POST", "/payouts", payout_body("pending.li@example.com", "5.00", commit=True))[1]
    assert airtm.complete_payout(second["id"], "failed")["status"] == "FAILED"
    assert balance(api) == {"available": before["available"] - 20, "pending": before["pending"]}
    assert airtm.wait_idle(5)
    assert [t for _, t, _ in receiver[0].received()][-4:] == [
        "payout.created", "payout.completed", "payout.created", "payout.failed"]


def test_normal_payouts_created_with_commit_complete_at_once(api, sandbox):
    fund(api, sandbox[0])
    payout = call(api, "POST", "/payouts", payout_body(amount="1.00", commit=True))[1]
    assert payout["status"] == "COMPLETED" and payout["airtmFee"] == Decimal("0.01")


def test_cancel_rules(api, sandbox, receiver):
    airtm, _, _ = sandbox
    fund(api, airtm)
    payin = call(api, "POST", "/payins", payin_body())[1]
    status, canceled, _ = call(api, "DELETE", f"/payins/{payin['id']}")
    assert status == 200 and canceled["status"] == "CANCELED"
    status, error, _ = call(api, "DELETE", f"/payins/{payin['id']}")
    assert (status, error["code"]) == (409, "415030")
    with pytest.raises(AirtmError, match="CANCELED"):
        airtm.complete_payin(payin["id"], "confirmed")
    assert call(api, "DELETE", f"/payins/{uuid.uuid4()}")[1]["code"] == "415031"

    before = balance(api)
    created = call(api, "POST", "/payouts", payout_body(amount="3.00"))[1]
    pending = call(api, "POST", "/payouts", payout_body("pending@example.com", "4.00", commit=True))[1]
    for payout in (created, pending):
        status, body, _ = call(api, "DELETE", f"/payouts/{payout['id']}")
        assert status == 200 and body["status"] == "CANCELED"
    assert balance(api) == before
    status, error, _ = call(api, "POST", f"/payouts/{created['id']}/commit")
    assert (status, error["code"]) == (409, "415027")
    status, error, _ = call(api, "DELETE", f"/payouts/{created['id']}")
    assert (status, error["code"]) == (409, "415055")
    status, error, _ = call(api, "GET", f"/payouts/{uuid.uuid4()}")
    assert (status, error["code"]) == (404, "415005")
    assert airtm.wait_idle(5)
    assert [t for _, t, _ in receiver[0].received()][-4:] == [
        "payout.created", "payout.created", "payout.canceled", "payout.canceled"]


# --- faults ------------------------------------------------------------------------------------------------
READS = {
    "airtm-payins-get": ("GET", "/payins/by-code/anything"),
    "airtm-payouts-get": ("GET", "/payouts/00000000-0000-4000-8000-000000000000"),
    "airtm-users-get": ("GET", "/users/maria@example.com"),
    "airtm-balance": ("GET", "/me/balance"),
    "airtm-payins-cancel": ("DELETE", "/payins/00000000-0000-4000-8000-000000000000"),
    "airtm-payouts-cancel": ("DELETE", "/payouts/00000000-0000-4000-8000-000000000000"),
    "airtm-payouts-commit": ("POST", "/payouts/00000000-0000-4000-8000-000000000000/commit"),
}


def _request_for(target: str) -> tuple[str, str, Any]:
    if target == "airtm-payins-create":
        return "POST", "/payins", payin_body()
    if target == "airtm-payouts-create":
        return "POST", "/payouts", payout_body("unknown@example.com")
    return (*READS[target], None)


@pytest.mark.parametrize("target", sorted(AIRTM_TARGETS))
def test_error_and_rate_limit_faults_hit_the_next_call_only(api, sandbox, target):
    airtm, _, _ = sandbox
    method, path, body = _request_for(target)
    airtm.faults.arm(target, "error", 1)
    status, error, _ = call(api, method, path, body)
    assert (status, error["code"]) == (503, "415999")
    airtm.faults.arm(target, "rate-limit", 2)
    for _ in range(2):
        status, _, response = call(api, method, path, body)
        assert status == 429 and response.headers["retry-after"] == "1"
    assert call(api, method, path, body)[0] not in (429, 503)


def test_a_timed_out_create_was_applied_and_only_the_answer_was_lost(api, sandbox):
    airtm, _, _ = sandbox
    fund(api, airtm)
    body = payin_body()
    airtm.faults.arm("airtm-payins-create", "timeout", 1)
    with pytest.raises(httpx.ReadTimeout):
        call(api, "POST", "/payins", body, timeout=CLIENT_WAIT)
    assert call(api, "GET", f"/payins/by-code/{body['code']}")[1]["status"] == "CREATED"
    assert call(api, "POST", "/payins", body)[1]["code"] == "415029"  # a blind retry is refused

    before = balance(api)
    code = "wd_" + secrets.token_hex(6)
    airtm.faults.arm("airtm-payouts-create", "timeout", 1)
    with pytest.raises(httpx.ReadTimeout):
        call(api, "POST", "/payouts", payout_body(amount="2.00", code=code), timeout=CLIENT_WAIT)
    payout = call(api, "GET", f"/payouts/by-code/{code}")[1]
    assert payout["status"] == "CREATED"
    assert balance(api)["available"] == before["available"] - 2
    airtm.faults.arm("airtm-payouts-commit", "timeout", 1)
    with pytest.raises(httpx.ReadTimeout):
        call(api, "POST", f"/payouts/{payout['id']}/commit", timeout=CLIENT_WAIT)
    assert call(api, "GET", f"/payouts/{payout['id']}")[1]["status"] == "COMPLETED"


def test_a_timed_out_read_or_cancel_changes_nothing(api, sandbox):
    airtm, _, _ = sandbox
    payin = call(api, "POST", "/payins", payin_body())[1]
    for target, method in (("airtm-payins-cancel", "DELETE"), ("airtm-payins-get", "GET")):
        airtm.faults.arm(target, "timeout", 1)
        with pytest.raises(httpx.ReadTimeout):
            call(api, method, f"/payins/{payin['id']}", timeout=CLIENT_WAIT)
    assert call(api, "GET", f"/payins/{payin['id']}")[1]["status"] == "CREATED"
    started = time.monotonic()  # without the client giving up, the held answer is a 504
    airtm.faults.arm("airtm-balance", "timeout", 1)
    assert call(api, "GET", "/me/balance")[0] == 504 and time.monotonic() - started >= HOLD


# --- webhooks ----------------------------------------------------------------------------------------------
def test_failed_deliveries_are_retried_with_the_same_id_and_hold_back_later_events(api, sandbox, receiver):
    airtm, _, _ = sandbox
    hook, _ = receiver
    hook.fail_next = 2
    payin = call(api, "POST", "/payins", payin_body())[1]
    call(api, "DELETE", f"/payins/{payin['id']}")
    assert airtm.wait_idle(5)
    ids = [headers["svix-id"] for headers, _, _ in hook.calls]
    assert [status for _, _, status in hook.calls] == [500, 500, 204, 204]
    assert ids[0] == ids[1] == ids[2] != ids[3]
    assert [t for _, t, _ in hook.received()] == ["payin.created", "payin.canceled"]
    assert [s for i, _, s in airtm.delivered if i == ids[0]] == [500, 500, 204]
    for headers, body, _ in hook.calls:
        Webhook(WEBHOOK_SECRET).verify(body, headers)


def test_an_endpoint_that_never_answers_2xx_is_given_up_after_eight_attempts(api, sandbox, receiver):
    airtm, _, _ = sandbox
    receiver[0].fail_next = 100
    payin = call(api, "POST", "/payins", payin_body())[1]
    assert airtm.wait_idle(5)
    attempts = [s for _, t, s in airtm.delivered if t == "payin.created" and s == 500]
    assert len(receiver[0].calls) == 8 and len(attempts) >= 8
    assert airtm.given_up[-1][1] == "payin.created"
    assert payin["status"] == "CREATED"


def test_webhook_faults_drop_duplicate_and_delay(api, sandbox, receiver):
    airtm, _, _ = sandbox
    hook, _ = receiver
    airtm.faults.arm("webhook-delivery", "drop", 1)
    dropped = call(api, "POST", "/payins", payin_body())[1]
    call(api, "DELETE", f"/payins/{dropped['id']}")
    assert airtm.wait_idle(5)
    assert [t for _, t, _ in hook.received()] == ["payin.canceled"]
    assert airtm.dropped[-1].type == "payin.created" and airtm.dropped[-1].object_id == dropped["id"]

    hook.calls.clear()
    airtm.faults.arm("webhook-delivery", "duplicate", 1)
    call(api, "POST", "/payins", payin_body())
    assert airtm.wait_idle(5)
    (first_id, first, _), (second_id, second, _) = hook.received()
    assert first_id == second_id and first == second == "payin.created"
    assert hook.calls[0][1] == hook.calls[1][1]

    hook.calls.clear()
    airtm.faults.arm("webhook-delivery", "delay", 1)
    delayed = call(api, "POST", "/payins", payin_body())[1]
    call(api, "DELETE", f"/payins/{delayed['id']}")
    deadline = time.monotonic() + 0.4
    while not hook.calls and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [t for _, t, _ in hook.received()] == ["payin.canceled"]  # the later event overtook it
    assert airtm.wait_idle(5)
    assert [t for _, t, _ in hook.received()] == ["payin.canceled", "payin.created"]


def test_without_a_url_events_stay_in_the_outbox(tmp_path):
    airtm = AirtmSandbox(tmp_path / "airtm.sqlite", api_key=KEY, api_secret=SECRET)
    try:
        payin = airtm.create_payin(payin_body())
        airtm.complete_payin(payin["id"], "confirmed")
        assert [m.type for m in airtm.outbox] == ["payin.created", "payin.confirmed"]
        assert airtm.outbox[1].payload()["data"]["status"] == "CONFIRMED"
        assert airtm.wait_idle(1) and airtm.delivered == []
        assert airtm.webhook_secret.startswith("whsec_")  # made up and kept when none was given
    finally:
        airtm.close()


# --- restart -----------------------------------------------------------------------------------------------
def test_state_survives_a_restart(api, sandbox, receiver):
    airtm, _, path = sandbox
    fund(api, airtm)
    payin = call(api, "POST", "/payins", payin_body())[1]
    payout = call(api, "POST", "/payouts", payout_body("pending@example.com", "7.00", code="wd_" + secrets.token_hex(4),
                                                       commit=True))[1]
    reopened = AirtmSandbox(path, api_key=KEY, api_secret=SECRET, initial_balance="1000.00")
    try:
        assert reopened.payin(payin["id"]) == call(api, "GET", f"/payins/{payin['id']}")[1]
        assert reopened.payout_by_code(payout["code"])["status"] == "PENDING"
        assert reopened.balance() == balance(api)  # the opening balance applies to a new file only
        assert (reopened.webhook_url, reopened.webhook_secret) == (receiver[1], WEBHOOK_SECRET)
        reopened.complete_payout(payout["id"], "completed")
        assert call(api, "GET", f"/payouts/{payout['id']}")[1]["status"] == "COMPLETED"
        assert reopened.wait_idle(5)
    finally:
        reopened.close()


def test_the_opening_balance_is_a_constructor_option(tmp_path):
    airtm = AirtmSandbox(tmp_path / "airtm.sqlite", api_key=KEY, api_secret=SECRET, initial_balance="250.00")
    try:
        assert airtm.balance() == {"available": Decimal("250.00"), "pending": Decimal("0.00")}
        assert airtm.create_payout(payout_body(amount="250.00"))["status"] == "CREATED"
        assert airtm.balance() == {"available": Decimal("0.00"), "pending": Decimal("250.00")}
    finally:
        airtm.close()


# --- mounted in the rails ----------------------------------------------------------------------------------
@pytest.fixture
def rails(tmp_path, receiver) -> Iterator[tuple[SandboxRails, str]]:
    made = SandboxRails(tmp_path / "chain.sqlite", airtm_webhook_secret=WEBHOOK_SECRET, airtm_rate_limit=None)
    base, server = _serve(made.app())
    yield made, base
    server.should_exit = True
    made.close()


def test_the_rails_serve_airtm_with_its_credentials_and_control_routes(rails, receiver, tmp_path):
    made, base = rails
    hook, url = receiver
    env = made.environment(base)
    assert env["AIRTM_API_URL"] == f"{base}/airtm"
    with httpx.Client(base_url=env["AIRTM_API_URL"], auth=(env["AIRTM_API_KEY"], env["AIRTM_API_SECRET"])) as api, \
            httpx.Client(base_url=f"{base}/control") as control:
        assert api.get("/me/balance").status_code == 200
        assert httpx.get(f"{base}/airtm/me/balance").status_code == 401
        assert control.post("/airtm/webhooks", json={"url": url}).json()["url"] == url
        assert control.post("/airtm/webhooks", json={"url": url, "secret": "whsec_***"}).status_code == 400
        payin = call(api, "POST", "/payins", payin_body("100.00"))[1]
        done = control.post(f"/airtm/payins/{payin['id']}/complete",
                            json={"outcome": "confirmed", "payerEmail": "buyer@example.com"})
        assert done.status_code == 200 and loads(done.content)["status"] == "CONFIRMED"
        assert loads(done.content)["airtmUserEmail"] == "buyer@example.com"
        assert control.post(f"/airtm/payins/{payin['id']}/complete", json={"outcome": "failed"}).status_code == 409
        assert control.post(f"/airtm/payins/{uuid.uuid4()}/complete", json={"outcome": "failed"}).status_code == 404
        other = call(api, "POST", "/payins", payin_body())[1]
        assert control.post(f"/airtm/payins/{other['id']}/complete", json={"outcome": "paid"}).status_code == 400
        assert control.get("/airtm/balance").json() == {"available": "98.50", "pending": "0.00"}

        payout = call(api, "POST", "/payouts", payout_body("pending@example.com", "8.50", commit=True))[1]
        created = call(api, "POST", "/payouts", payout_body(amount="1.00"))[1]
        assert control.post(f"/airtm/payouts/{created['id']}/complete", json={"outcome": "completed"}
                            ).status_code == 409
        done = control.post(f"/airtm/payouts/{payout['id']}/complete", json={"outcome": "completed"})
        assert done.status_code == 200 and loads(done.content)["status"] == "COMPLETED"
        assert control.get("/airtm/balance").json() == {"available": "89.00", "pending": "1.00"}
        assert made.airtm.wait_idle(5)
        seen = control.get("/airtm/webhooks").json()
        assert [e["type"] for e in seen["events"]][:2] == ["payin.created", "payin.confirmed"]
        assert all(a["status"] == 204 for a in seen["attempts"])
        ours = {e["svixId"] for e in seen["events"]}
        assert {a["svixId"] for a in seen["attempts"]} == ours
        for headers, body, _ in [c for c in hook.calls if c[0]["svix-id"] in ours]:
            Webhook(WEBHOOK_SECRET).verify(body, headers)

    again = SandboxRails(tmp_path / "chain.sqlite")  # a restart keeps the credentials and the Airtm state
    try:
        assert again.environment(base)["AIRTM_API_KEY"] == env["AIRTM_API_KEY"]
        assert again.environment(base)["AIRTM_API_SECRET"] == env["AIRTM_API_SECRET"]
        assert again.airtm.payin(payin["id"])["status"] == "CONFIRMED"
        assert again.airtm.webhook_secret == WEBHOOK_SECRET
    finally:
        again.close()


@pytest.mark.parametrize(("target", "mode", "accepted"), [
    ("airtm-payins-create", "rate-limit", True), ("airtm-payouts-commit", "timeout", True),
    ("webhook-delivery", "drop", True), ("webhook-delivery", "duplicate", True), ("webhook-delivery", "delay", True),
    ("deploy", "rate-limit", False), ("webhook-delivery", "error", False), ("airtm-balance", "drop", False),
    ("horizon-submit", "timeout", True), ("send-transaction", "delay", False), ("airtm-nothing", "error", False),
])
def test_the_fault_route_accepts_each_mode_only_for_its_targets(rails, target, mode, accepted):
    made, base = rails
    answer = httpx.post(f"{base}/control/faults", json={"target": target, "mode": mode, "count": 1})
    assert answer.status_code == (200 if accepted else 400)
    assert (target in made.faults.armed()) is accepted
