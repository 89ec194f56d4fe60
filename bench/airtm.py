"""Airtm mode in `make bench`: top-up create, the webhook ingress, the worker's throughput on a batch of
1,000 queued webhooks (goal >= 500 events/s), and an Airtm withdrawal created and committed in one call."""

from __future__ import annotations

import json
import os
import time
from typing import Any

WEBHOOK_EVENTS = 1000
TOPUP_CALLS = 200
WITHDRAWAL_CALLS = 100
WORKER_GOAL_PER_SECOND = 500


def bench_airtm(rails: Any, master: str, measure: Any, percentile: Any) -> None:
    import boto3

    from local.functions import LambdaContext
    from local.queues import queue_arn, sqs_event
    from offerhub.config import settings
    from offerhub.webhooks.verify import sign_svix
    from tests.lambda_client import call, http_event, invoke, load_function

    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="offerhub-bench-webhooks")["QueueUrl"]
    secret = "whsec_YmVuY2gtYmVuY2gtYmVuY2gtYmVuY2gtYmVuY2g="
    os.environ.update({"PAYMENT_PROVIDER": "airtm", "WEBHOOK_QUEUE_URL": queue_url, "AIRTM_WEBHOOK_SECRET": secret})
    settings.cache_clear()
    key = call("POST", "/api/v1/auth/api-keys", key=master, body={"name": "bench-airtm", "scopes": ["read", "write",
                                                                                                   "support"]}).data["key"]
    user = call("POST", "/api/v1/users", key=key, body={"externalUserId": "bench-airtm", "email": "bench@example.com"})
    user_id = user.data["id"]
    auth = {"authorization": f"Bearer {key}"}
    print("\nAirtm mode (sandbox Airtm over HTTP, Postgres, moto SQS)")
    print(f"  {'operation':<34} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    created: list[dict[str, Any]] = []

    def create_topup() -> None:
        result = invoke("topups", http_event("POST", "/api/v1/topups", headers=auth,
                                             body={"userId": user_id, "amount": "10.00"}))
        assert result.status == 201, result.body
        created.append(result.data)

    m = measure(create_topup, n=TOPUP_CALLS, warmup=10)
    print(f"  {'POST /topups':<34} {m['p50']:>8.2f} {m['p99']:>8.2f} {m['mean']:>8.2f}")

    # The users confirm on Airtm; Airtm's webhooks (signed as Svix signs) hit the ingress, which queues them.
    topups = [created.pop() for _ in range(min(WEBHOOK_EVENTS, len(created)))]
    while len(topups) < WEBHOOK_EVENTS:
        create_topup()
        topups.append(created.pop())
    for topup in topups:
        rails.airtm.complete_payin(topup["airtmPayinId"], "confirmed")
    samples = []
    for i, topup in enumerate(topups):
        body = json.dumps({"type": "payin.confirmed", "data": {"id": topup["airtmPayinId"], "code": topup["id"],
                                                               "status": "CONFIRMED"}}).encode()
        ts = int(time.time())
        headers = {"svix-id": f"msg_bench_{i}", "svix-timestamp": str(ts),
                   "svix-signature": sign_svix(secret, f"msg_bench_{i}", ts, body)}
        event = http_event("POST", "/api/v1/webhooks/airtm", headers=headers, raw_body=body.decode())
        t0 = time.perf_counter()
        result = invoke("webhooks", event)
        samples.append((time.perf_counter() - t0) * 1000)
        assert result.status == 200, result.body
    print(f"  {'POST /webhooks/airtm (ingress)':<34} {percentile(samples, 50):>8.2f} {percentile(samples, 99):>8.2f} "
          f"{sum(samples) / len(samples):>8.2f}")

    worker = load_function("webhook_worker").handler
    done, handler_ms, t0 = 0, 0.0, time.perf_counter()
    while done < WEBHOOK_EVENTS:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
                                       ).get("Messages", [])
        if not messages:
            break
        event = sqs_event(messages, queue_arn(queue_url), "us-east-1")
        h0 = time.perf_counter()
        result = worker(event, LambdaContext(function_name="webhook-worker"))
        handler_ms += (time.perf_counter() - h0) * 1000
        assert not result["batchItemFailures"], result
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
        done += len(messages)
    wall = time.perf_counter() - t0
    per_second = done / (handler_ms / 1000)
    verdict = "ok" if per_second >= WORKER_GOAL_PER_SECOND else f"BELOW GOAL {WORKER_GOAL_PER_SECOND}/s"
    print(f"  worker, batch of {done} webhooks: {per_second:,.0f} events/s in the handler "
          f"({done / wall:,.0f}/s with moto's receive/delete), each one a GET payin + credit  {verdict}")

    def withdraw() -> None:
        result = invoke("withdrawals", http_event("POST", "/api/v1/withdrawals", headers=auth, body={
            "userId": user_id, "amount": "1.00", "destinationType": "airtm", "commit": True}))
        assert result.status == 201 and result.data["status"] == "WITHDRAWAL_COMPLETED", result.body

    m = measure(withdraw, n=WITHDRAWAL_CALLS, warmup=5)
    print(f"  {'POST /withdrawals (airtm, commit)':<34} {m['p50']:>8.2f} {m['p99']:>8.2f} {m['mean']:>8.2f}")
    os.environ["PAYMENT_PROVIDER"] = "crypto"
    settings.cache_clear()
