"""Deliveries to real receivers on 127.0.0.1: the body and its signature (and the docs' verifier), rotation,
retries with backoff, timeouts, the 24 h window, the disable rule, manual retries, claims under concurrency,
the scheduled handler. Time moves by the injected clock; every tick is called directly."""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from offerhub.core.context import RequestContext
from offerhub.outbound.sender import Sender
from tests.lambda_client import call
from tests.outbound.conftest import emit, follow_once

BASE = "/api/v1/webhook-endpoints"
ROOT = Path(__file__).resolve().parents[2]
CTX = RequestContext(request_id="outbound-test")


def sender(clock: Any, **options: Any) -> Sender:
    return Sender(CTX, clock=clock, jitter=lambda: 0.5, **options)


def deliveries(keys: dict[str, str], endpoint_id: str, **query: Any) -> list[dict[str, Any]]:
    result = call("GET", f"{BASE}/{endpoint_id}/deliveries", key=keys["read"], query=query)
    assert result.status == 200, result.body
    return result.data


def doc_verifier() -> Any:
    text = (ROOT / "docs" / "webhooks.md").read_text()
    snippet = re.search(r"<!-- verify-example -->\s*```python\n(.*?)```", text, re.S)
    assert snippet, "docs/webhooks.md lost its verification example"
    assert len(snippet.group(1).strip().splitlines()) <= 14
    namespace: dict[str, Any] = {}
    exec(compile(snippet.group(1), "docs/webhooks.md", "exec"), namespace)
    return namespace["verify"]


def test_a_delivery_is_the_events_item_signed_and_the_docs_verifier_accepts_it(keys, endpoint, receiver):
    made = endpoint(receiver.url, types=["user.created"])
    user = emit()
    emit("order.created")  # not a type it asked for
    follow_once(Sender(CTX))  # the real clock: the docs' verifier checks freshness against time.time()
    [received] = receiver.requests
    event = call("GET", "/api/v1/events", key=keys["read"], query={"resourceId": user}).data[0]
    assert received.json == event
    assert received.body == json.dumps(event, separators=(",", ":")).encode()
    headers = received.headers
    assert headers["content-type"] == "application/json" and headers["user-agent"].startswith("OfferHub-Webhooks/")
    assert headers["offerhub-event-id"] == event["id"] and headers["offerhub-event-type"] == "user.created"
    assert headers["offerhub-delivery-id"].startswith("whd_")
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", headers["offerhub-signature"])

    verify = doc_verifier()
    assert verify(made["secret"], headers["offerhub-signature"], received.body)
    assert not verify(made["secret"], headers["offerhub-signature"], received.body + b" ")
    assert not verify("whsec_wrong", headers["offerhub-signature"], received.body)
    stale = re.sub(r"t=\d+", lambda m: f"t={int(m.group(0)[2:]) - 301}", headers["offerhub-signature"])
    assert not verify(made["secret"], stale, received.body)
    assert not verify(made["secret"], "v1=" + "0" * 64, received.body)

    [delivery] = deliveries(keys, made["id"])
    assert delivery["status"] == "SUCCEEDED" and delivery["attempts"] == 1 and delivery["lastStatusCode"] == 200
    assert delivery["eventId"] == event["id"] and delivery["deliveredAt"] and delivery["nextAttemptAt"] is None


def test_the_signature_is_stripes_scheme(endpoint, receiver, clock):
    """Cross-check without the docs: HMAC-SHA256 over "<t>.<raw body>", keyed with the secret's UTF-8 bytes."""
    import hashlib
    import hmac

    made = endpoint(receiver.url)
    emit()
    follow_once(sender(clock))
    received = receiver.requests[-1]
    t = int(clock().timestamp())
    expected = hmac.new(made["secret"].encode(), f"{t}.".encode() + received.body, hashlib.sha256).hexdigest()
    assert received.headers["offerhub-signature"] == f"t={t},v1={expected}"


def test_rotation_signs_with_both_secrets_for_24h_then_the_new_one(keys, endpoint, receiver, clock):
    from offerhub.outbound.signing import signature

    made = endpoint(receiver.url, types=["user.created"])
    rotated = call("POST", f"{BASE}/{made['id']}/rotate-secret", key=keys["write"]).data
    old, new = made["secret"], rotated["secret"]
    expires = datetime.fromisoformat(rotated["previousSecretExpiresAt"].replace("Z", "+00:00"))

    def next_delivery_signed_by() -> list[str]:
        emit()
        follow_once(sender(clock))
        received = receiver.requests[-1]
        parts = [p.partition("=")[::2] for p in received.headers["offerhub-signature"].split(",")]
        t = int(dict(parts)["t"])
        v1 = [v for k, v in parts if k == "v1"]
        by = {signature(new, t, received.body): "new", signature(old, t, received.body): "old"}
        return [by.get(v, "unknown") for v in v1]

    assert next_delivery_signed_by() == ["new", "old"]
    clock.set(expires - timedelta(seconds=1))
    assert next_delivery_signed_by() == ["new", "old"]
    clock.set(expires + timedelta(milliseconds=1))  # the API shows milliseconds
    assert next_delivery_signed_by() == ["new"]
    clock.advance(days=3)
    assert next_delivery_signed_by() == ["new"]


def test_a_receiver_failing_three_times_gets_the_event_on_a_later_retry(keys, endpoint, receiver, clock):
    from offerhub.outbound.sender import retry_delay

    receiver.plan = [500, 503, 404]
    made = endpoint(receiver.url, types=["user.created"])
    emit()
    started = clock()
    follow_once(sender(clock))
    for attempt in (1, 2, 3):
        [delivery] = deliveries(keys, made["id"])
        assert delivery["status"] == "PENDING" and delivery["attempts"] == attempt
        assert delivery["lastStatusCode"] == [500, 503, 404][attempt - 1]
        assert delivery["lastError"] == f"HTTP {delivery['lastStatusCode']}"
        due = datetime.fromisoformat(delivery["nextAttemptAt"].replace("Z", "+00:00"))
        # base 60 s doubling, jitter pinned at the middle (x1.0)
        assert abs((due - clock()) - retry_delay(attempt, 60, 0.5)).total_seconds() < 0.01
        clock.advance(seconds=1)
        follow_once(sender(clock))  # not due yet: nothing is sent
        assert len(receiver.requests) == attempt
        clock.set(due + timedelta(milliseconds=1))  # the API shows milliseconds
        follow_once(sender(clock))
    assert len(receiver.requests) == 4
    assert len({r.headers["offerhub-event-id"] for r in receiver.requests}) == 1
    [delivery] = deliveries(keys, made["id"])
    assert delivery["status"] == "SUCCEEDED" and delivery["attempts"] == 4 and delivery["lastError"] is None
    assert (clock() - started).total_seconds() == pytest.approx(60 + 120 + 240, abs=0.1)
    assert call("GET", f"{BASE}/{made['id']}", key=keys["read"]).data["failingSince"] is None


def test_a_timeout_is_a_failure(keys, endpoint, receiver, clock):
    release = threading.Event()

    def slow() -> int:
        release.wait(10)
        return 200

    receiver.plan = [slow]
    made = endpoint(receiver.url, types=["user.created"])
    emit()
    try:
        follow_once(sender(clock, timeout=0.3))
    finally:
        release.set()
    [delivery] = deliveries(keys, made["id"])
    assert delivery["status"] == "PENDING" and delivery["attempts"] == 1
    assert delivery["lastError"] == "timed out after 0.3 s" and delivery["lastStatusCode"] is None
    assert delivery["nextAttemptAt"]


def test_a_connection_refused_is_a_failure(keys, endpoint, receivers, clock):
    gone = receivers()
    made = endpoint(gone.url, types=["user.created"])
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from sqlalchemy import text

    from offerhub.adapters.postgres.engine import get_engine

    with get_engine().begin() as conn:
        conn.execute(text("UPDATE webhook_endpoints SET url = :u WHERE id = :id"),
                     {"u": f"http://127.0.0.1:{port}/hooks", "id": made["id"]})
    emit()
    follow_once(sender(clock))
    [delivery] = deliveries(keys, made["id"])
    assert delivery["status"] == "PENDING" and delivery["lastError"].startswith("ConnectError")


def test_after_24h_of_failures_the_delivery_fails_and_the_endpoint_is_disabled(keys, endpoint, receivers, clock):
    failing, healthy = receivers(), receivers()
    failing.default = 500
    made = endpoint(failing.url, types=["user.created"])
    endpoint(healthy.url, types=["webhook_endpoint.*"])
    emit()
    created = clock()
    follow_once(sender(clock))
    while True:
        [delivery] = deliveries(keys, made["id"])
        if delivery["status"] != "PENDING":
            break
        clock.set(datetime.fromisoformat(delivery["nextAttemptAt"].replace("Z", "+00:00")) + timedelta(milliseconds=1))
        follow_once(sender(clock))
    assert delivery["status"] == "FAILED"
    assert (clock() - created).total_seconds() == pytest.approx(24 * 3600, abs=1)
    assert 25 <= delivery["attempts"] <= 35 and len(failing.requests) == delivery["attempts"]

    endpoint_now = call("GET", f"{BASE}/{made['id']}", key=keys["read"]).data
    assert endpoint_now["status"] == "DISABLED" and endpoint_now["disabledAt"]
    reason = endpoint_now["disabledReason"]
    assert "every attempt failed for 24 h" in reason and "HTTP 500" in reason
    audit = call("GET", "/api/v1/audit", key=keys["support"], query={"resourceId": made["id"]}).data
    assert audit[0]["action"] == "webhook_endpoint.disabled" and audit[0]["actorType"] == "system"
    events = call("GET", "/api/v1/events", key=keys["read"], query={"resourceId": made["id"]}).data
    assert events[-1]["type"] == "webhook_endpoint.disabled" and events[-1]["data"]["status"] == "DISABLED"

    # A disabled endpoint gets no new deliveries; the other endpoint is told.
    emit()
    follow_once(sender(clock))
    assert len(deliveries(keys, made["id"])) == 1
    # (its own registration first: it was registered after the failing one)
    assert [r.json["type"] for r in healthy.requests] == ["webhook_endpoint.created", "webhook_endpoint.disabled"]
    assert healthy.requests[1].json["aggregateId"] == made["id"]

    # Enabled again, it receives what happens from then on.
    failing.default = 200
    enabled = call("POST", f"{BASE}/{made['id']}/enable", key=keys["write"])
    assert enabled.status == 200 and enabled.data["status"] == "ENABLED" and enabled.data["failingSince"] is None
    emit()
    follow_once(sender(clock))
    assert deliveries(keys, made["id"])[0]["status"] == "SUCCEEDED"
    assert call("GET", "/api/v1/audit", key=keys["support"], query={"resourceId": made["id"]}
                ).data[0]["action"] == "webhook_endpoint.enabled"


def test_one_success_resets_the_disable_rule(keys, endpoint, receiver, clock):
    made = endpoint(receiver.url, types=["user.created"])
    receiver.default = 500
    emit()
    follow_once(sender(clock))  # fails: failingSince set
    assert call("GET", f"{BASE}/{made['id']}", key=keys["read"]).data["failingSince"]
    receiver.default = 200
    clock.advance(hours=1)
    follow_once(sender(clock))  # the retry succeeds
    assert call("GET", f"{BASE}/{made['id']}", key=keys["read"]).data["failingSince"] is None
    receiver.default = 500
    clock.advance(hours=23, minutes=30)
    emit()
    follow_once(sender(clock))  # 24.5 h after the first failure, but a success came between
    assert call("GET", f"{BASE}/{made['id']}", key=keys["read"]).data["status"] == "ENABLED"


def test_manual_retry_resends_a_failed_delivery_now(keys, endpoint, receiver, clock):
    receiver.default = 500
    made = endpoint(receiver.url, types=["user.created"])
    emit()
    follow_once(sender(clock))
    [delivery] = deliveries(keys, made["id"])
    retried = call("POST", f"{BASE}/{made['id']}/deliveries/{delivery['id']}/retry", key=keys["write"])
    assert retried.status == 200 and retried.data["status"] == "PENDING" and retried.data["attempts"] == 2
    receiver.default = 200
    retried = call("POST", f"{BASE}/{made['id']}/deliveries/{delivery['id']}/retry", key=keys["write"])
    assert retried.status == 200, retried.body
    assert retried.data["status"] == "SUCCEEDED" and retried.data["attempts"] == 3 and len(receiver.requests) == 3
    # Again on a succeeded one: resent, still SUCCEEDED.
    again = call("POST", f"{BASE}/{made['id']}/deliveries/{delivery['id']}/retry", key=keys["write"])
    assert again.data["status"] == "SUCCEEDED" and again.data["attempts"] == 4
    assert again.data["completedAt"] == retried.data["completedAt"]


def test_manual_retry_of_a_delivery_in_flight_is_409(keys, endpoint, receiver, clock):
    from offerhub.adapters.postgres.unit_of_work import transaction
    from offerhub.outbound import store

    receiver.default = 500
    made = endpoint(receiver.url, types=["user.created"])
    emit()
    follow_once(sender(clock))
    [delivery] = deliveries(keys, made["id"])
    with transaction(CTX) as uow:  # a sender holds it
        store.claim_one(uow.conn, delivery["id"], now=clock(), until=clock().replace(year=2999), token="held")
    busy = call("POST", f"{BASE}/{made['id']}/deliveries/{delivery['id']}/retry", key=keys["write"])
    assert busy.status == 409 and busy.error_code == "WEBHOOK_DELIVERY_BUSY" and busy.headers["retry-after"]
    other = endpoint(receiver.url)
    wrong = call("POST", f"{BASE}/{other['id']}/deliveries/{delivery['id']}/retry", key=keys["write"])
    assert wrong.status == 404 and wrong.error_code == "WEBHOOK_DELIVERY_NOT_FOUND"


def test_a_claim_left_by_a_dead_sender_lapses_and_the_delivery_is_sent(keys, endpoint, receiver, clock):
    from offerhub.adapters.postgres.unit_of_work import transaction
    from offerhub.outbound import store
    from offerhub.outbound.sender import CLAIM_SECONDS

    made = endpoint(receiver.url, types=["user.created"])
    emit()
    follow_once(Sender(CTX, clock=clock, time_left=lambda: 0))  # fans out, too late to send anything
    with transaction(CTX) as uow:  # a sender claims it, then dies
        [claimed] = store.claim_due(uow.conn, now=clock(), until=clock() + timedelta(seconds=CLAIM_SECONDS),
                                    token="dead", n=10)
    follow_once(sender(clock))
    assert receiver.requests == []  # still claimed
    clock.advance(seconds=CLAIM_SECONDS)
    follow_once(sender(clock))
    assert len(receiver.requests) == 1 and deliveries(keys, made["id"])[0]["status"] == "SUCCEEDED"
    assert claimed["id"] == deliveries(keys, made["id"])[0]["id"]


def test_overlapping_senders_never_send_a_delivery_twice(keys, endpoint, receiver, clock):
    made = endpoint(receiver.url, types=["user.created"])
    for _ in range(40):
        emit()
    follow_once(Sender(CTX, clock=clock, time_left=lambda: 0))  # fan out only
    assert len(deliveries(keys, made["id"], limit=100)) == 40
    senders = [sender(clock, workers=4) for _ in range(3)]
    threads = [threading.Thread(target=s.send_due) for s in senders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in senders:
        s.close()
    ids = [r.headers["offerhub-event-id"] for r in receiver.requests]
    assert len(ids) == 40 and len(set(ids)) == 40
    assert sum(s.report.attempted for s in senders) == 40
    assert all(d["status"] == "SUCCEEDED" for d in deliveries(keys, made["id"], limit=100))


def test_a_batch_handed_out_twice_creates_each_delivery_once(keys, endpoint, receiver, clock):
    from offerhub.adapters.postgres.unit_of_work import read_only
    from offerhub.events import tail

    made = endpoint(receiver.url, types=["user.created"])
    emit()
    with read_only() as conn:
        batch = tail.read_after(conn, tail.head(conn) - 1)
    s = sender(clock)
    assert s.fan_out(batch) == 1 and s.fan_out(batch) == 0
    assert len(deliveries(keys, made["id"])) == 1


def test_events_before_registration_are_not_delivered(keys, endpoint, receiver, clock):
    emit()  # committed before the endpoint exists, not yet fanned out
    made = endpoint(receiver.url, types=["user.created", "webhook_endpoint.created"])
    follow_once(sender(clock))
    assert [r.json["type"] for r in receiver.requests] == ["webhook_endpoint.created"]
    assert receiver.requests[0].json["aggregateId"] == made["id"]


def test_deliveries_list_paginates_and_filters(keys, endpoint, receiver, clock):
    made = endpoint(receiver.url, types=["user.created"])
    receiver.plan = [500]
    for _ in range(3):
        emit()
    follow_once(sender(clock, workers=1))
    everything = deliveries(keys, made["id"], limit=100)
    assert len(everything) == 3
    page = call("GET", f"{BASE}/{made['id']}/deliveries", key=keys["read"], query={"limit": 2})
    assert page.body["meta"]["pagination"]["hasMore"] is True
    rest = deliveries(keys, made["id"], limit=2, cursor=page.body["meta"]["pagination"]["nextCursor"])
    assert [d["id"] for d in page.data + rest] == [d["id"] for d in everything]
    assert len(deliveries(keys, made["id"], status="PENDING")) == 1
    assert len(deliveries(keys, made["id"], status="SUCCEEDED")) == 2


def test_deleting_an_endpoint_ends_its_pending_deliveries(keys, endpoint, receiver, clock):
    receiver.default = 500
    made = endpoint(receiver.url, types=["user.created"])
    emit()
    follow_once(sender(clock))
    assert call("DELETE", f"{BASE}/{made['id']}", key=keys["write"]).status == 200
    clock.advance(hours=2)
    follow_once(sender(clock))
    assert len(receiver.requests) == 1
    from offerhub.adapters.postgres.unit_of_work import read_only
    from offerhub.outbound import store

    with read_only() as conn:
        [row] = store.search_deliveries(conn, made["id"], status=None, cursor=None, limit=5)
    assert row["status"] == "FAILED" and row["next_attempt_at"] is None


def test_the_scheduled_handler_stops_in_time(keys, endpoint, receiver, clock):
    """The sample event through the real handler, with a Lambda context that has 5.6 s left: the run polls until
    its 5 s reserve, fans the waiting event out, and starts no attempt it could not finish (10 s) in time. The
    next run sends it."""
    from local.functions import LambdaContext
    from tests.lambda_client import load_function, sample_event

    made = endpoint(receiver.url, types=["user.created"])
    emit()
    from offerhub.observability import logger

    context = LambdaContext(function_name="webhook_sender", timeout_seconds=5.6)
    level = logger.log_level
    logger.setLevel("INFO")  # the run's summary is logged, as in AWS
    try:
        result = load_function("webhook_sender").handler(sample_event("webhook_sender_schedule.json"), context)
    finally:
        logger.setLevel(level)
    assert result["reader"] == "webhooks" and not result["skipped"] and result["ticks"] >= 1
    assert result["created"] == 1 and result["attempted"] == 0 and receiver.requests == []
    follow_once(Sender(CTX))
    assert len(receiver.requests) == 1 and deliveries(keys, made["id"])[0]["status"] == "SUCCEEDED"
