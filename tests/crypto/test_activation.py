"""Sign-up off the critical path (issue 11.3): POST /users creates the wallet (CREATED) and commits `wallet.created`;
the activation relay queues it from the log, the wallet activator (SQS) makes it ACTIVE, retried on failure, a
duplicate a no-op; a deposit that lands before the status flip is credited once; operations that need the wallet
answer 409 WALLET_NOT_ACTIVE meanwhile."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import RAILS
from tests.crypto.conftest import run_monitor
from tests.lambda_client import activation_deferred, call, drain_wallet_activations, relay_wallet_activations


def _sign_up(key: str) -> dict[str, Any]:
    """A user whose wallet's activation is still queued."""
    with activation_deferred():
        created = call("POST", "/api/v1/users", key=key, body={"externalUserId": "ext-" + secrets.token_hex(6)})
    assert created.status == 201, created.body
    return created.data



def test_sign_up_commits_the_user_and_its_sealed_wallet_in_one_transaction(key):
    """One transaction per sign-up: the user, its accounts and its wallet (with both events) share Postgres's
    transaction id, so no reader sees a new user without its wallet."""
    from offerhub.adapters.postgres.engine import get_engine

    user = _sign_up(key)
    with get_engine().connect() as conn:
        xids = conn.execute(text(
            "SELECT xmin::text FROM users WHERE id = :u UNION SELECT xmin::text FROM wallets WHERE user_id = :u "
            "UNION SELECT xmin::text FROM events WHERE aggregate_id = :u OR aggregate_id = "
            "(SELECT id FROM wallets WHERE user_id = :u)"), {"u": user["id"]}).scalars().all()
    assert len(xids) == 1, xids
    assert drain_wallet_activations() == [{"received": 1, "failed": 0, "deleted": 1}]


def _queued() -> int:
    import boto3

    attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=os.environ["WALLET_ACTIVATION_QUEUE_URL"],
                                                          AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def test_sign_up_makes_no_queue_call_and_the_relay_queues_the_activation_once(key, monkeypatch):
    from offerhub.adapters.aws import queue

    drain_wallet_activations()
    sent: list[str] = []
    real = queue._sqs()
    monkeypatch.setattr(queue, "_sqs", lambda: sent.append("sqs") or real)
    _sign_up(key)
    _sign_up(key)
    assert sent == [] and _queued() == 0  # the request path never reached SQS
    assert relay_wallet_activations() == 2  # both, in one SendMessageBatch
    assert sent == ["sqs"] and _queued() == 2
    assert relay_wallet_activations() == 0  # its cursor moved past them
    assert drain_wallet_activations() == [{"received": 2, "failed": 0, "deleted": 2}]


def test_the_relay_keeps_its_place_while_the_queue_refuses(key, monkeypatch):
    from offerhub.adapters.aws import queue
    from offerhub.core.errors import ServiceUnavailable

    class PartlyRefusing:  # SQS took none of the batch, or only some of it: the batch is sent again whole
        def __init__(self, failed: list[dict[str, Any]] | None):
            self.failed = failed

        def send_message_batch(self, **request: Any) -> dict[str, Any]:
            if self.failed is None:
                raise ConnectionError("SQS is unreachable")
            return {"Successful": [], "Failed": self.failed}

    drain_wallet_activations()
    user = _sign_up(key)
    real = queue._sqs()
    for failed in (None, [{"Id": "0", "SenderFault": False, "Code": "InternalError"}]):
        monkeypatch.setattr(queue, "_sqs", lambda failed=failed: PartlyRefusing(failed))
        with pytest.raises(ServiceUnavailable):
            relay_wallet_activations()
    monkeypatch.setattr(queue, "_sqs", lambda: real)
    assert relay_wallet_activations() == 1  # the runs that failed did not move the cursor
    assert drain_wallet_activations() == [{"received": 1, "failed": 0, "deleted": 1}]
    assert _wallet(key, user["id"])["status"] == "ACTIVE"


def test_the_relay_function_runs_until_its_deadline_from_its_schedule_event(key):
    from local.functions import LambdaContext
    from tests.lambda_client import load_function, sample_event

    drain_wallet_activations()
    _sign_up(key)
    context = LambdaContext(function_name="activation_relay", timeout_seconds=5.6)  # stops 5 s before the deadline
    result = load_function("activation_relay").handler(sample_event("activation_relay_schedule.json"), context)
    assert result["reader"] == "wallet-activation" and not result["skipped"] and result["ticks"] >= 1
    assert result["queued"] == 1 and _queued() == 1
    assert drain_wallet_activations() == [{"received": 1, "failed": 0, "deleted": 1}]


def test_the_relay_skips_a_wallet_already_active(key):
    from offerhub.core.context import RequestContext
    from offerhub.wallets import activation, service

    drain_wallet_activations()
    user = _sign_up(key)
    activation.activate(RequestContext(request_id="req-direct"), service.wallet_row(user["id"]))  # e.g. an earlier
    assert relay_wallet_activations() == 0  # message, or the request path after a retried sign-up
    assert _queued() == 0

def _wallet(key: str, user_id: str) -> dict[str, Any]:
    wallet = call("GET", f"/api/v1/users/{user_id}/wallet", key=key)
    assert wallet.status == 200, wallet.body
    return wallet.data


def _events(wallet_id: str, event_type: str) -> int:
    from offerhub.adapters.postgres.engine import get_engine

    with get_engine().connect() as conn:
        return conn.execute(text("SELECT count(*) FROM events WHERE aggregate_id = :w AND type = :t"),
                            {"w": wallet_id, "t": event_type}).scalar_one()


def _arm(key: str, target: str, count: int = 1) -> None:
    armed = call("POST", "/api/v1/test-helpers/faults", key=key, body={"target": target, "mode": "error",
                                                                       "count": count})
    assert armed.status == 200, armed.body


def test_sign_up_returns_with_a_created_wallet_and_no_chain_transaction(key):
    ledger_before = RAILS.chain.ledger_sequence()
    user = _sign_up(key)
    wallet = _wallet(key, user["id"])
    assert wallet["status"] == "CREATED" and wallet["ready"] is False
    assert wallet["balance"] == {"usdc": None, "xlm": None}  # the account does not exist on chain yet
    deposit = call("GET", f"/api/v1/users/{user['id']}/wallet/deposit", key=key).data
    assert deposit["address"] == wallet["publicKey"] and deposit["ready"] is False and deposit["status"] == "CREATED"
    assert RAILS.chain.ledger_sequence() == ledger_before  # no friendbot, no trustline: nothing hit the chain
    assert RAILS.chain.account(wallet["publicKey"]) is None
    assert _events(wallet["id"], "wallet.created") == 1 and _events(wallet["id"], "wallet.activated") == 0

    assert drain_wallet_activations() == [{"received": 1, "failed": 0, "deleted": 1}]
    wallet = _wallet(key, user["id"])
    assert wallet["status"] == "ACTIVE" and wallet["ready"] is True
    # friendbot funded 10,000 XLM; the trustline transaction paid the 100-stroop fee
    assert wallet["balance"] == {"usdc": "0.0000000", "xlm": "9999.9999900"}
    assert _events(wallet["id"], "wallet.activated") == 1
    assert call("GET", f"/api/v1/users/{user['id']}/wallet/deposit", key=key).data["ready"] is True


def test_a_failing_activation_is_retried_and_then_succeeds(key):
    user = _sign_up(key)
    _arm(key, "horizon-submit")  # the trustline transaction fails once (Horizon answers 500)
    batches = drain_wallet_activations()
    assert batches == [{"received": 1, "failed": 1, "deleted": 0}, {"received": 1, "failed": 0, "deleted": 1}]
    wallet = _wallet(key, user["id"])
    # The retry resumed: funded once (friendbot was not asked again), one trustline transaction's fee.
    assert wallet["status"] == "ACTIVE" and wallet["balance"] == {"usdc": "0.0000000", "xlm": "9999.9999900"}
    assert _events(wallet["id"], "wallet.activated") == 1


def test_a_duplicate_activation_message_is_a_no_op(new_user, key):
    from offerhub.adapters.aws.queue import enqueue_wallet_activation

    user = new_user()  # activated by its own message
    wallet = _wallet(key, user["id"])
    assert wallet["status"] == "ACTIVE"
    ledger_before = RAILS.chain.ledger_sequence()
    enqueue_wallet_activation({"walletId": wallet["id"]})
    enqueue_wallet_activation({"walletId": wallet["id"]})
    assert drain_wallet_activations() == [{"received": 2, "failed": 0, "deleted": 2}]
    assert RAILS.chain.ledger_sequence() == ledger_before
    assert _events(wallet["id"], "wallet.activated") == 1
    assert _wallet(key, user["id"])["balance"] == wallet["balance"]


@pytest.mark.parametrize("scan_mode", ["network", "wallets"])
def test_a_deposit_arriving_before_the_status_flip_is_credited_once(key, monkeypatch, scan_mode):
    """The trustline exists, the DB flip failed (a crash, a database error): a payment lands in that window.
    The network scan credits it at once (it credits any of our wallets); the per-wallet scan takes ACTIVE wallets
    only and reads the wallet's history from its first operation after the flip. Either way: once."""
    from offerhub.core.context import RequestContext
    from offerhub.deposits.monitor import scan
    from offerhub.wallets import store

    def flip_fails(*_: Any) -> bool:
        raise RuntimeError("database went away before the status flip")

    user = _sign_up(key)
    monkeypatch.setattr(store, "mark_active", flip_fails)
    assert drain_wallet_activations(max_batches=1) == [{"received": 1, "failed": 1, "deleted": 0}]
    wallet = _wallet(key, user["id"])
    assert wallet["status"] == "CREATED" and wallet["balance"]["usdc"] == "0.0000000"  # the trustline exists
    assert RAILS.mint(wallet["publicKey"], "7.25")["status"] == 200

    ctx = RequestContext(request_id="t")
    first = scan(ctx, mode=scan_mode)
    balance = call("GET", f"/api/v1/balance/{user['id']}", key=key).data
    assert balance["available"] == ("7.25" if scan_mode == "network" else "0.00"), first.to_dict()

    monkeypatch.undo()
    assert drain_wallet_activations() == [{"received": 1, "failed": 0, "deleted": 1}]  # the retry flips it
    assert _wallet(key, user["id"])["status"] == "ACTIVE"
    for _ in range(2):
        scan(ctx, mode=scan_mode)
        run_monitor()  # the configured mode too: the two never credit the same operation twice
    assert call("GET", f"/api/v1/balance/{user['id']}", key=key).data["available"] == "7.25"
    from offerhub.adapters.postgres.engine import get_engine

    with get_engine().connect() as conn:
        credited = conn.execute(text("SELECT amount FROM stellar_deposits WHERE wallet_id = :w"),
                                {"w": wallet["id"]}).scalars().all()
    assert credited == [Decimal("7.25")]
    assert call("POST", f"/api/v1/balance/{user['id']}/sync", key=key).data["inSync"] is True


def test_operations_that_need_the_wallet_answer_409_until_it_is_active(new_user, key):
    seller = new_user()
    buyer = _sign_up(key)  # after the seller: a sign-up through `call` runs the activator on the whole queue
    order = call("POST", "/api/v1/orders", key=key, body={"buyerId": buyer["id"], "sellerId": seller["id"],
                                                          "amount": "5.00", "title": "early bird"})
    assert order.status == 201, order.body
    with activation_deferred():
        refused = call("POST", f"/api/v1/orders/{order.data['id']}/reserve", key=key)
        assert refused.status == 409 and refused.error_code == "WALLET_NOT_ACTIVE", refused.body
        assert refused.headers["retry-after"] == "5"
        assert refused.body["error"]["details"] == {"userId": buyer["id"], "walletId": _wallet(key, buyer["id"])["id"],
                                                    "status": "CREATED"}
        upstream = call("POST", f"/api/v1/users/{buyer['id']}/balance/reserve", key=key,
                        body={"amount": "5.00", "orderId": order.data["id"]})
        assert upstream.status == 409 and upstream.error_code == "WALLET_NOT_ACTIVE", upstream.body
        destination = call("POST", "/api/v1/test-helpers/stellar-accounts", key=key, body={"trustUsdc": True})
        withdrawal = call("POST", "/api/v1/withdrawals", key=key, body={
            "userId": buyer["id"], "amount": "1.00", "destinationType": "crypto",
            "destinationRef": destination.data["address"]})
        assert withdrawal.status == 409 and withdrawal.error_code == "WALLET_NOT_ACTIVE", withdrawal.body
    assert call("GET", f"/api/v1/orders/{order.data['id']}", key=key).data["status"] == "ORDER_CREATED"
    # The refusals queued the activation again (a duplicate for the worker): a retry after it succeeds.
    drain_wallet_activations()
    assert call("POST", "/api/v1/test-helpers/deposits", key=key,
                body={"userId": buyer["id"], "amount": "5.00"}).status == 201
    run_monitor()
    reserved = call("POST", f"/api/v1/orders/{order.data['id']}/reserve", key=key)
    assert reserved.status == 200 and reserved.data["status"] == "FUNDS_RESERVED", reserved.body


def test_the_activator_acknowledges_an_unknown_wallet_and_reports_a_malformed_record(db):
    import json

    from local.functions import LambdaContext
    from tests.lambda_client import EVENTS_DIR, load_function

    event = json.loads((EVENTS_DIR / "wallet_activator_sqs.json").read_text())
    result = load_function("wallet_activator").handler(event, LambdaContext(function_name="wallet_activator"))
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}


def test_a_stalled_activation_is_queued_again_by_the_reconciliation(key):
    """Messages that ran out (the DLQ) or were never sent: the reconciliation queues the activation again once the
    wallet has waited STALLED_AFTER, and the wallet becomes ACTIVE."""
    import boto3

    from local.functions import LambdaContext
    from offerhub.core.context import RequestContext
    from offerhub.wallets import activation
    from tests.lambda_client import load_function

    user = _sign_up(key)
    wallet_id = _wallet(key, user["id"])["id"]
    sqs, url = boto3.client("sqs"), os.environ["WALLET_ACTIVATION_QUEUE_URL"]
    assert relay_wallet_activations() == 1
    sqs.purge_queue(QueueUrl=url)  # the message is gone, as after its last receive
    assert drain_wallet_activations() == []

    reconciliation = load_function("reconciliation").handler
    young = reconciliation({"id": "tick"}, LambdaContext(function_name="ReconciliationFunction"))["walletActivations"]
    assert wallet_id not in young["queued"]  # it has not waited STALLED_AFTER yet
    drain_wallet_activations()
    assert _wallet(key, user["id"])["status"] == "CREATED"

    stalled = activation.requeue_stalled(RequestContext(request_id="req-stalled"), older_than=timedelta(0))
    assert wallet_id in stalled["queued"]
    drain_wallet_activations()
    assert _wallet(key, user["id"])["status"] == "ACTIVE"
    assert _events(wallet_id, "wallet.activated") == 1


def test_with_the_wallet_key_down_a_retried_sign_up_still_answers_and_a_new_one_heals_on_retry(key, monkeypatch):
    """The wallet is sealed before the user's transaction; when KMS is down, a retried POST /users (its wallet
    exists) answers 200 as before, and a new user is created without a wallet and answered 503, the wallet made by
    the retry once the key is back."""
    from offerhub.adapters.aws import kms
    from offerhub.wallets import sealing

    existing = _sign_up(key)
    drain_wallet_activations()
    working = sealing._sealer
    monkeypatch.setattr(sealing, "_sealer", lambda: kms.KmsEnvelope("alias/offerhub-test-missing"))
    kms.forget_data_keys()
    again = call("POST", "/api/v1/users", key=key, body={"externalUserId": existing["externalUserId"]})
    assert again.status == 200 and again.data["id"] == existing["id"]
    external = "ext-" + secrets.token_hex(6)
    refused = call("POST", "/api/v1/users", key=key, body={"externalUserId": external})
    assert refused.status == 503 and refused.body["error"]["code"] == "WALLET_KEY_UNAVAILABLE"
    monkeypatch.setattr(sealing, "_sealer", working)
    healed = call("POST", "/api/v1/users", key=key, body={"externalUserId": external})
    assert healed.status == 200
    assert _wallet(key, healed.data["id"])["status"] in ("CREATED", "ACTIVE")
