"""The sample events in events/ go through the real handlers (as API Gateway would deliver them)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

import pytest

from tests.lambda_client import EVENTS_DIR, invoke

# file → (function, expected status, a check on the response body)
SAMPLES: dict[str, tuple[str, int, Callable[[dict[str, Any], dict[str, str]], bool]]] = {
    "health_get.json": ("health", 200, lambda b, _: b["data"]["status"] == "healthy"),
    "auth_create_api_key.json": ("auth", 201, lambda b, _: b["data"]["key"].startswith("ohk_test_key_")),
    "users_create.json": ("users", 201, lambda b, _: b["data"]["type"] == "SELLER"),
    "users_get.json": ("users", 200, lambda b, ids: b["data"]["id"] == ids["USER_ID"]),
    "balance_get.json": ("balance", 200, lambda b, _: b["data"]["currency"] == "USD"),
    "balance_credit.json": ("balance", 200, lambda b, _: b["data"]["balance"]["available"] == "25.00"),
    "balance_entries.json": ("balance", 200, lambda b, _: isinstance(b["data"], list)),
    "audit_search.json": ("audit", 200, lambda b, ids: all(r["resourceId"] == ids["USER_ID"] for r in b["data"])),
    "events_replay.json": ("events", 200, lambda b, _: {e["type"] for e in b["data"]} <= {
        "user.created", "balance.credited", "wallet.created", "wallet.activated"}),
    "orders_create.json": ("orders", 201, lambda b, ids: [m["ref"] for m in b["data"]["milestones"]] == [
        "draft", "final"] and b["data"]["sellerId"] == ids["SELLER_ID"]),
    "orders_list.json": ("orders", 200, lambda b, _: b["data"] == []),
    "wallet_get.json": ("wallet", 200, lambda b, _: b["data"]["publicKey"].startswith("G")),
    "wallet_deposit.json": ("wallet", 200, lambda b, _: b["data"]["asset"]["code"] == "USDC"),
    "disputes_list.json": ("disputes", 200, lambda b, _: isinstance(b["data"], list)),
    "withdrawals_list.json": ("withdrawals", 200, lambda b, _: b["data"] == [] or b["data"][0]["id"].startswith("wd_")),
    "webhook_endpoints_create.json": ("webhook_endpoints", 201, lambda b, _: b["data"]["id"].startswith("we_")
                                      and b["data"]["secret"].startswith("whsec_")),
    "webhook_endpoints_list.json": ("webhook_endpoints", 200, lambda b, _: isinstance(b["data"], list)),
    # crypto mode (the tests' default): a top-up names the mode it needs
    "topups_create.json": ("topups", 422, lambda b, _: b["error"]["code"] == "PAYMENT_PROVIDER_MISMATCH"),
    "testhelpers_deposit.json": ("testhelpers", 201, lambda b, _: len(b["data"]["transactionHash"]) == 64),
}
# Scheduled (EventBridge) events: function → a check on what the handler returns.
SCHEDULED = {"monitor": lambda r: r["pages"] >= 0, "reconciliation": lambda r: "finished" in r}


def test_every_sample_event_is_covered():
    # The WebSocket and stream dispatcher events go through their handlers in tests/streaming/test_sample_events.py.
    streaming = {p.name for pattern in ("ws_*.json", "stream_dispatcher*.json") for p in EVENTS_DIR.glob(pattern)}
    # The webhook sender's schedule event: tests/outbound/test_delivery.py (a run with a short deadline).
    outbound = {p.name for p in EVENTS_DIR.glob("webhook_sender*.json")}
    # ... and the wallet activator's SQS event and the activation relay's schedule: tests/crypto/test_activation.py.
    outbound |= {"wallet_activator_sqs.json", "activation_relay_schedule.json"}
    assert {p.name for p in EVENTS_DIR.glob("*.json")} - streaming - outbound == set(SAMPLES) | {"migrate_direct.json",
                                                                        "schedule_tick.json",
                                                                        "webhook_worker_sqs.json"}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_event_through_its_handler(name, master_key, api_key, new_user):
    function, status, check = SAMPLES[name]
    ids = {"MASTER_KEY": master_key, "API_KEY": api_key(), "USER_ID": new_user()["id"],
           "SELLER_ID": new_user()["id"], "RANDOM": secrets.token_hex(6)}
    text = (EVENTS_DIR / name).read_text()
    for placeholder, value in ids.items():
        text = text.replace("{{" + placeholder + "}}", value)
    response = invoke(function, json.loads(text))
    assert response.status == status, response.body
    assert response.headers["x-request-id"].startswith("sample-")
    assert check(response.body, ids)


@pytest.mark.parametrize("function", sorted(SCHEDULED))
def test_the_schedule_event_through_each_scheduled_handler(function, db):
    from local.functions import LambdaContext
    from tests.lambda_client import load_function

    event = json.loads((EVENTS_DIR / "schedule_tick.json").read_text())
    assert SCHEDULED[function](load_function(function).handler(event, LambdaContext(function_name=function)))


def test_the_sqs_event_through_the_webhook_worker(db):
    """A record the inbox does not know is acknowledged; a record that is not JSON is reported as failed
    (ReportBatchItemFailures), and only that one comes back."""
    from local.functions import LambdaContext
    from tests.lambda_client import load_function

    event = json.loads((EVENTS_DIR / "webhook_worker_sqs.json").read_text())
    result = load_function("webhook_worker").handler(event, LambdaContext(function_name="webhook_worker"))
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
