"""Provider webhooks through the queue: duplicates, drops, reordering and forgeries never move money
twice or backwards; a poison message reaches the DLQ; Airtm's own failures (429, 5xx, timeouts) are
retried or leave a state a retry finishes."""

from __future__ import annotations

import json
import threading
import time

import boto3
import httpx

from tests.airtm.conftest import balance, drain
from tests.conftest import AIRTM_WEBHOOK_SECRET, RAILS, TRUSTLESS_WEBHOOK_SECRET, WEBHOOK_QUEUE_URL
from tests.lambda_client import call


def _fault(key: str, target: str, mode: str, count: int = 1) -> None:
    armed = call("POST", "/api/v1/test-helpers/faults", key=key, body={"target": target, "mode": mode, "count": count})
    assert armed.status == 200, armed.body


def _topup(key: str, user_id: str, amount: str = "20.00") -> dict:
    created = call("POST", "/api/v1/topups", key=key, body={"userId": user_id, "amount": amount})
    assert created.status == 201, created.body
    return created.data


def _complete(key: str, topup_id: str, outcome: str = "confirmed") -> None:
    done = call("POST", f"/api/v1/test-helpers/topups/{topup_id}/complete", key=key, body={"outcome": outcome})
    assert done.status == 200, done.body


def _signed(body: bytes, svix_id: str, secret: str = AIRTM_WEBHOOK_SECRET, ts: int | None = None) -> dict:
    from offerhub.webhooks.verify import sign_svix

    ts = int(time.time()) if ts is None else ts
    return {"svix-id": svix_id, "svix-timestamp": str(ts), "svix-signature": sign_svix(secret, svix_id, ts, body),
            "content-type": "application/json"}


def test_duplicate_delivery_credits_once(key, airtm_user):
    from sqlalchemy import text

    from offerhub.adapters.postgres.unit_of_work import read_only

    user = airtm_user()
    topup = _topup(key, user["id"])
    drain()
    _fault(key, "webhook-delivery", "duplicate")
    _complete(key, topup["id"])
    drain()
    assert balance(key, user["id"])["available"] == "19.70"
    confirmed = [m.svix_id for m in RAILS.airtm.events
                 if m.type == "payin.confirmed" and m.object_id == topup["airtmPayinId"]]
    assert len(confirmed) == 1
    deliveries = [status for svix_id, _, status in RAILS.airtm.delivered if svix_id == confirmed[0]]
    assert deliveries == [200, 200]  # delivered twice, both accepted
    with read_only() as conn:
        rows = conn.execute(text("SELECT attempts, processed_at FROM webhook_inbox WHERE event_id = :e"),
                            {"e": confirmed[0]}).all()
    assert len(rows) == 1 and rows[0].attempts == 1 and rows[0].processed_at is not None  # recorded, applied once


def test_dropped_webhook_is_applied_by_the_reconciliation(key, airtm_user, monkeypatch):
    from local.functions import LambdaContext
    from offerhub.resolution import reconcile
    from tests.lambda_client import load_function

    user = airtm_user()
    topup = _topup(key, user["id"])
    drain()  # payin.created: any event makes the worker read Airtm's truth, so apply it before the drop
    _fault(key, "webhook-delivery", "drop", count=5)
    _complete(key, topup["id"])
    drain()
    _fault(key, "webhook-delivery", "drop", count=0)
    assert call("GET", f"/api/v1/topups/{topup['id']}", key=key).data["status"] == "TOPUP_AWAITING_USER_CONFIRMATION"
    monkeypatch.setattr(reconcile, "STALE_AFTER", __import__("datetime").timedelta(0))
    load_function("reconciliation").handler({"id": "t"}, LambdaContext(function_name="reconciliation"))
    assert call("GET", f"/api/v1/topups/{topup['id']}", key=key).data["status"] == "TOPUP_SUCCEEDED"
    assert balance(key, user["id"])["available"] == "19.70"


def test_out_of_order_and_replayed_events_never_move_a_state_back(key, airtm_user, gateway):
    user = airtm_user()
    topup = _topup(key, user["id"])
    drain()
    _fault(key, "webhook-delivery", "delay")  # payin.confirmed arrives late
    _complete(key, topup["id"])
    drain()
    assert call("GET", f"/api/v1/topups/{topup['id']}", key=key).data["status"] == "TOPUP_SUCCEEDED"
    # An old "payin.created" event replayed now (validly signed, new svix id): Airtm says CONFIRMED, nothing moves.
    body = json.dumps({"type": "payin.created", "data": {"id": topup["airtmPayinId"], "code": topup["id"],
                                                         "status": "CREATED"}}).encode()
    answer = httpx.post(f"{gateway}/webhooks/airtm", content=body, headers=_signed(body, "msg_replayed_old_event"))
    assert answer.status_code == 200 and answer.json()["data"] == {"status": "ok", "duplicate": False}
    again = httpx.post(f"{gateway}/webhooks/airtm", content=body, headers=_signed(body, "msg_replayed_old_event"))
    assert again.json()["data"]["duplicate"] is True
    drain()
    assert call("GET", f"/api/v1/topups/{topup['id']}", key=key).data["status"] == "TOPUP_SUCCEEDED"
    assert balance(key, user["id"])["available"] == "19.70"


def test_forged_and_stale_webhooks_are_refused_and_not_stored(key, airtm_user, gateway):
    user = airtm_user()
    topup = _topup(key, user["id"])
    drain()
    body = json.dumps({"type": "payin.confirmed",
                       "data": {"id": topup["airtmPayinId"], "status": "CONFIRMED"}}).encode()
    for headers in (_signed(body, "msg_forged", secret="whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"),
                    _signed(body, "msg_stale", ts=int(time.time()) - 600),
                    {"svix-id": "msg_nosig", "svix-timestamp": str(int(time.time()))},
                    {}):
        answer = httpx.post(f"{gateway}/webhooks/airtm", content=body, headers=headers)
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"]["code"] == "WEBHOOK_SIGNATURE_INVALID"
    tampered = _signed(body, "msg_tampered")
    answer = httpx.post(f"{gateway}/webhooks/airtm", content=body.replace(b"CONFIRMED", b"CONFIRMEX"), headers=tampered)
    assert answer.status_code == 401
    from sqlalchemy import text

    from offerhub.adapters.postgres.unit_of_work import read_only

    with read_only() as conn:
        stored = conn.execute(text("SELECT count(*) FROM webhook_inbox WHERE event_id IN "
                                   "('msg_forged','msg_stale','msg_nosig','msg_tampered')")).scalar()
    assert stored == 0
    drain()
    assert call("GET", f"/api/v1/topups/{topup['id']}", key=key).data["status"] == "TOPUP_AWAITING_USER_CONFIRMATION"


def test_trustless_work_webhook_needs_its_signature(gateway):
    from offerhub.webhooks.verify import sign_hex_hmac

    body = json.dumps({"type": "escrow.funded", "event_id": "tw-1", "data": {"contract_id": "C" + "A" * 55}}).encode()
    assert httpx.post(f"{gateway}/webhooks/trustless-work", content=body).status_code == 401
    bad = httpx.post(f"{gateway}/webhooks/trustless-work", content=body, headers={"x-tw-signature": "00" * 32})
    assert bad.status_code == 401
    ok = httpx.post(f"{gateway}/webhooks/trustless-work", content=body,
                    headers={"x-tw-signature": sign_hex_hmac(TRUSTLESS_WEBHOOK_SECRET, body)})
    assert ok.status_code == 200 and ok.json()["data"]["duplicate"] is False
    assert drain()["failed"] == 0  # an unknown contract is acknowledged, not retried


def test_poison_message_reaches_the_dead_letter_queue(gateway):
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=WEBHOOK_QUEUE_URL, MessageBody="{not json")
    totals = drain(max_batches=10)
    assert totals["failed"] == 5  # received five times, reported failed each time
    dlq = sqs.get_queue_url(QueueName="offerhub-webhooks-dlq-test")["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
    assert [m["Body"] for m in messages] == ["{not json"]
    for m in messages:
        sqs.delete_message(QueueUrl=dlq, ReceiptHandle=m["ReceiptHandle"])


def test_airtm_outages_are_retried_or_resumable(key, airtm_user):
    user = airtm_user()
    _fault(key, "airtm-payins-create", "rate-limit", count=1)  # retried by the client after Retry-After
    assert _topup(key, user["id"])["status"] == "TOPUP_AWAITING_USER_CONFIRMATION"
    _fault(key, "airtm-payins-create", "error", count=3)  # every attempt fails: 502, the top-up stays CREATED
    failed = call("POST", "/api/v1/topups", key=key, body={"userId": user["id"], "amount": "20.00"})
    assert failed.status == 502 and failed.error_code == "PROVIDER_ERROR", failed.body
    topup_id = failed.body["error"]["details"]["topupId"]
    assert call("GET", f"/api/v1/topups/{topup_id}", key=key).data["status"] == "TOPUP_CREATED"
    _fault(key, "airtm-payins-create", "timeout", count=3)  # created at Airtm, every answer lost: 504
    lost = call("POST", "/api/v1/topups", key=key, body={"userId": user["id"], "amount": "30.00"})
    assert lost.status == 504 and lost.error_code == "PROVIDER_TIMEOUT", lost.body
    lost_id = lost.body["error"]["details"]["topupId"]
    refreshed = call("POST", f"/api/v1/topups/{lost_id}/refresh", key=key)
    assert refreshed.data["status"] == "TOPUP_AWAITING_USER_CONFIRMATION" and refreshed.data["airtmPayinId"]
    _complete(key, lost_id)
    drain()
    assert balance(key, user["id"])["available"] == "29.55"


def test_concurrent_withdrawals_and_reserves_never_overdraw(key, funded_airtm_user):
    seller = funded_airtm_user("0.00")
    buyer = funded_airtm_user("101.52")  # 100.00 net
    order = call("POST", "/api/v1/orders", key=key, body={"buyerId": buyer["id"], "sellerId": seller["id"],
                                                          "amount": "40.00", "title": "x"}).data
    results: list[int] = []

    def withdraw() -> None:
        results.append(call("POST", "/api/v1/withdrawals", key=key, body={
            "userId": buyer["id"], "amount": "40.00", "destinationType": "airtm"}).status)

    def reserve() -> None:
        results.append(call("POST", f"/api/v1/orders/{order['id']}/reserve", key=key).status)

    threads = [threading.Thread(target=f) for f in (withdraw, withdraw, withdraw, reserve)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results).count(422) == 2 and len([s for s in results if s in (200, 201)]) == 2, results
    after = balance(key, buyer["id"])
    assert after["available"] == "20.00" and after["total"] == "100.00", after


def test_pending_payout_completed_by_the_recipient_later(key, funded_airtm_user):
    user = funded_airtm_user("30.46", email="pending-bob@example.com")  # 30.00 net
    wd = call("POST", "/api/v1/withdrawals", key=key, body={"userId": user["id"], "amount": "10.00",
                                                            "destinationType": "airtm_balance", "commit": True})
    assert wd.status == 201 and wd.data["status"] == "WITHDRAWAL_PENDING", wd.body
    assert balance(key, user["id"])["pending"] == "10.00"
    done = call("POST", f"/api/v1/test-helpers/withdrawals/{wd.data['id']}/complete", key=key,
                body={"outcome": "completed"})
    assert done.status == 200, done.body
    drain()
    final = call("GET", f"/api/v1/withdrawals/{wd.data['id']}", key=key).data
    assert final["status"] == "WITHDRAWAL_COMPLETED"
    assert balance(key, user["id"])["pending"] == "0.00"


def test_failed_payout_and_cancel_return_the_money(key, funded_airtm_user):
    user = funded_airtm_user("30.46", email="pending-carol@example.com")
    wd = call("POST", "/api/v1/withdrawals", key=key, body={"userId": user["id"], "amount": "10.00",
                                                            "destinationType": "airtm", "commit": True}).data
    call("POST", f"/api/v1/test-helpers/withdrawals/{wd['id']}/complete", key=key, body={"outcome": "failed"})
    drain()
    assert call("GET", f"/api/v1/withdrawals/{wd['id']}", key=key).data["status"] == "WITHDRAWAL_FAILED"
    assert balance(key, user["id"])["available"] == "30.00"
    other = call("POST", "/api/v1/withdrawals", key=key, body={"userId": user["id"], "amount": "5.00",
                                                               "destinationType": "airtm"}).data
    canceled = call("POST", f"/api/v1/withdrawals/{other['id']}/cancel", key=key)
    assert canceled.status == 200 and canceled.data["status"] == "WITHDRAWAL_CANCELED", canceled.body
    assert call("POST", f"/api/v1/withdrawals/{other['id']}/commit", key=key).status == 409
    assert balance(key, user["id"])["available"] == "30.00"
    topup = _topup(key, user["id"])
    assert call("POST", f"/api/v1/topups/{topup['id']}/cancel", key=key).data["status"] == "TOPUP_CANCELED"
    assert call("POST", f"/api/v1/topups/{topup['id']}/cancel", key=key).status == 409
    refused = call("POST", "/api/v1/withdrawals", key=key, body={"userId": user["id"], "amount": "5.00",
                                                                 "destinationType": "airtm",
                                                                 "destinationRef": "unknown-x@example.com"})
    assert refused.status == 422 and refused.error_code == "AIRTM_USER_INVALID"
    assert balance(key, user["id"])["available"] == "30.00"


def test_an_unreadable_airtm_answer_is_a_502_and_moves_nothing(key, airtm_user, monkeypatch):
    from offerhub.topups import service

    user = airtm_user()
    topup = _topup(key, user["id"])
    real = service.airtm()

    class Garbled:
        def payin(self, payin_id: str) -> dict:
            return {**real.payin(payin_id), "status": "CONFIRMED", "netAmount": "NaN", "amount": {"x": 1}}

    monkeypatch.setattr(service, "airtm", Garbled)
    refreshed = call("POST", f"/api/v1/topups/{topup['id']}/refresh", key=key)
    assert refreshed.status == 502 and refreshed.error_code == "PROVIDER_ERROR", refreshed.body
    monkeypatch.setattr(service, "airtm", lambda: real)
    assert call("GET", f"/api/v1/topups/{topup['id']}", key=key).data["status"] == "TOPUP_AWAITING_USER_CONFIRMATION"
    assert balance(key, user["id"])["available"] == "0.00"
