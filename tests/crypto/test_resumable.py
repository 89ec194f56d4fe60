"""Resumable money movement: a failed or timed-out step leaves the order in its *_REQUESTED state, and
the retry (or the reconciliation) finishes it. Nothing is paid twice, nothing is stranded."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from sqlalchemy import text

from local.functions import LambdaContext
from local.sandbox.rails import PASSPHRASE
from tests.conftest import RAILS
from tests.crypto.conftest import chain_usdc
from tests.lambda_client import call, load_function


def _steps(order_id: str) -> dict[str, str]:
    from offerhub.adapters.postgres.engine import get_engine

    with get_engine().connect() as conn:
        rows = conn.execute(text("SELECT step, status FROM rail_steps WHERE order_id = :o"), {"o": order_id})
        return {r.step: r.status for r in rows}


def _seller_state(key: str, setup: dict) -> tuple[str, Decimal]:
    seller = setup["seller"]
    wallet = call("GET", f"/api/v1/users/{seller['id']}/wallet", key=key).data["publicKey"]
    return call("GET", f"/api/v1/balance/{seller['id']}", key=key).data["available"], chain_usdc(RAILS, wallet)


def _fault(key: str, target: str, mode: str = "error", count: int = 1) -> None:
    armed = call("POST", "/api/v1/test-helpers/faults", key=key, body={"target": target, "mode": mode, "count": count})
    assert armed.status == 200, armed.body


def test_release_step_two_fails_then_the_retry_pays_the_seller_exactly_once(order_in, key):
    setup = order_in("IN_PROGRESS", amount="40.00")
    order_id = setup["order"]["id"]
    _fault(key, "approve-milestone", "error", count=3)  # more than the client's own retries
    failed = call("POST", "/api/v1/resolution/release", key=key, body={"orderId": order_id})
    assert failed.status == 502 and failed.error_code == "TRUSTLESS_WORK_UNAVAILABLE"
    assert call("GET", f"/api/v1/orders/{order_id}", key=key).data["status"] == "RELEASE_REQUESTED"
    assert _steps(order_id) == {"deploy": "CONFIRMED", "fund": "CONFIRMED", "ms:0:status": "CONFIRMED"}
    assert _seller_state(key, setup) == ("0.00", Decimal(0))

    retried = call("POST", "/api/v1/resolution/release", key=key, body={"orderId": order_id})
    assert retried.status == 200, retried.body
    assert retried.data["outcome"] == "RELEASED"
    assert _seller_state(key, setup) == ("39.48", Decimal("39.48"))  # 40.00 - 0.12 - 0.40, once
    again = call("POST", "/api/v1/resolution/release", key=key, body={"orderId": order_id})
    assert again.status == 409
    assert _seller_state(key, setup) == ("39.48", Decimal("39.48"))


def test_a_step_that_landed_but_whose_answer_was_lost_is_not_applied_twice(order_in, key):
    setup = order_in("IN_PROGRESS", amount="10.00")
    order_id = setup["order"]["id"]
    # send-transaction applies the first release step on chain, then never answers; the client resends the
    # same envelope twice more (answered from history, not applied again), then gives up.
    _fault(key, "send-transaction", "timeout", count=3)
    timed_out = call("POST", "/api/v1/resolution/release", key=key, body={"orderId": order_id})
    assert timed_out.status == 504 and timed_out.error_code == "TRUSTLESS_WORK_TIMEOUT"
    assert _steps(order_id)["ms:0:status"] == "SUBMITTED"  # its hash is on record
    assert call("GET", f"/api/v1/orders/{order_id}", key=key).data["status"] == "RELEASE_REQUESTED"
    retried = call("POST", "/api/v1/resolution/release", key=key, body={"orderId": order_id})
    assert retried.status == 200, retried.body
    assert _seller_state(key, setup) == ("9.87", Decimal("9.87"))


def test_two_releases_of_one_order_at_once_pay_once(order_in, key):
    setup = order_in("IN_PROGRESS", amount="30.00")
    order_id = setup["order"]["id"]
    results: list = []
    barrier = threading.Barrier(2)

    def release() -> None:
        barrier.wait()
        results.append(call("POST", "/api/v1/resolution/release", key=key, body={"orderId": order_id}))

    threads = [threading.Thread(target=release) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status for r in results)
    assert statuses == [200, 409], [r.body for r in results]
    loser = next(r for r in results if r.status == 409)
    assert loser.error_code in ("ORDER_BUSY", "INVALID_STATE")
    assert _seller_state(key, setup) == ("29.61", Decimal("29.61"))


def test_the_reconciliation_finishes_an_interrupted_refund(order_in, key, platform_float):
    setup = order_in("IN_PROGRESS", amount="10.00")
    order_id = setup["order"]["id"]
    _fault(key, "resolve-dispute", "error", count=3)
    failed = call("POST", "/api/v1/resolution/refund", key=key, body={"orderId": order_id, "reason": "x"})
    assert failed.status == 502
    assert call("GET", f"/api/v1/orders/{order_id}", key=key).data["status"] == "REFUND_REQUESTED"
    result = load_function("reconciliation").handler({"id": "t"}, LambdaContext(function_name="reconciliation"))
    assert order_id in result["finished"]
    order = call("GET", f"/api/v1/orders/{order_id}", key=key).data
    assert order["status"] == "CLOSED" and order["outcome"] == "REFUNDED"
    assert call("GET", f"/api/v1/balance/{setup['buyer']['id']}", key=key).data["available"] == "10.00"


def test_every_transition_writes_its_audit_row(order_in, key):
    setup = order_in("IN_PROGRESS", amount="5.00")
    order_id = setup["order"]["id"]
    call("POST", "/api/v1/resolution/release", key=key, body={"orderId": order_id})
    audit = call("GET", "/api/v1/audit", key=key, query={"resourceId": order_id, "limit": "100"}).data
    actions = {a["action"] for a in audit}
    assert {"order.created", "order.funds_reserved", "order.escrow_creating", "order.escrow_funding",
            "order.escrow_funded", "order.release_requested", "order.released", "order.closed"} <= actions


@pytest.mark.parametrize("recorded", [True, False])
def test_a_step_whose_effect_is_already_on_chain_is_not_repeated(order_in, key, recorded):
    """The approval landed through another envelope (a rebuilt one won the sequence race, or one we never
    recorded): the recorded envelope is refused and unknown to Horizon, or the build is refused as already
    approved; either way the contract shows the approval, so the step is done, not repeated."""
    from stellar_sdk import TransactionEnvelope

    from offerhub.adapters.postgres.unit_of_work import transaction
    from offerhub.core.context import RequestContext
    from offerhub.escrow import store as escrow_store
    from offerhub.trustless.client import trustless_work
    from offerhub.wallets.service import user_signer

    setup = order_in("IN_PROGRESS", amount="12.00")
    order = setup["order"]
    contract = order["escrow"]["contractId"]
    ctx = RequestContext(request_id="t")
    buyer = user_signer(ctx, setup["buyer"]["id"])
    tw = trustless_work()
    envelope = TransactionEnvelope.from_xdr(tw.build("approve-milestone", {
        "contractId": contract, "milestoneIndex": "0", "approver": buyer.public_key}), PASSPHRASE)
    envelope.sign(buyer.secret)
    tw.send_transaction(envelope.to_xdr())
    if recorded:
        with transaction(ctx) as uow:  # what we recorded: an envelope that will never land
            escrow_store.record_submission(uow.conn, order["id"], "ms:0:approve", "buyer", "0" * 64, "AAAA")
    released = call("POST", "/api/v1/resolution/release", key=key, body={"orderId": order["id"]})
    assert released.status == 200, released.body
    # 12.00 - 0.036 - 0.12 on chain; the ledger keeps cents and the 0.004 stays in the wallet as dust
    assert _seller_state(key, setup) == ("11.84", Decimal("11.844"))
    from offerhub.adapters.postgres.engine import get_engine

    with get_engine().connect() as conn:
        result = conn.execute(text("SELECT result FROM rail_steps WHERE order_id = :o AND step = 'ms:0:approve'"),
                              {"o": order["id"]}).scalar()
    assert result["byState"] is True


def test_a_lost_deploy_answer_is_recovered_by_deployer_and_engagement(order_in, key):
    from offerhub.trustless.client import trustless_work

    setup = order_in("IN_PROGRESS", amount="3.00")
    buyer_wallet = call("GET", f"/api/v1/users/{setup['buyer']['id']}/wallet", key=key).data["publicKey"]
    assert trustless_work().find_contract(buyer_wallet, setup["order"]["id"]) == setup["order"]["escrow"]["contractId"]
    assert trustless_work().find_contract(buyer_wallet, "ord_other") is None


def test_a_failed_run_is_in_the_audit_log(order_in, key):
    setup = order_in("IN_PROGRESS", amount="2.00")
    order_id = setup["order"]["id"]
    _fault(key, "release-funds", "error", count=3)
    assert call("POST", "/api/v1/resolution/release", key=key, body={"orderId": order_id}).status == 502
    audit = call("GET", "/api/v1/audit", key=key, query={"resourceId": order_id, "action": "order.release"}).data
    assert audit[0]["result"] == "FAILURE" and audit[0]["error"]["code"] == "TRUSTLESS_WORK_UNAVAILABLE"
    assert call("POST", "/api/v1/resolution/release", key=key, body={"orderId": order_id}).status == 200


def test_settlements_with_the_same_parties_in_opposite_roles_run_concurrently(funded_user, key, platform_float):
    """Two disputes between A and B (A buys from B, B buys from A) split at the same moment. Both resolutions
    are signed by the platform wallet, so they race for its sequence number (the loser rebuilds), and their
    settlements touch the same wallets in opposite roles (locked in id order: no deadlock). Both settle, and
    both users stay in sync with their wallets."""
    a, b = funded_user("50.00"), funded_user("50.00")
    disputes = []
    for buyer, seller in ((a, b), (b, a)):
        order = call("POST", "/api/v1/orders", key=key, body={"buyerId": buyer["id"], "sellerId": seller["id"],
                                                              "amount": "20.00", "title": "x"}).data["id"]
        call("POST", f"/api/v1/orders/{order}/reserve", key=key)
        escrow = call("POST", "/api/v1/escrow", key=key, body={"orderId": order}).data["id"]
        call("POST", f"/api/v1/escrow/{escrow}/fund", key=key)
        disputes.append(call("POST", "/api/v1/disputes", key=key, body={"orderId": order, "openedBy": "BUYER",
                                                                       "reason": "OTHER"}).data["id"])
    results: list = []
    barrier = threading.Barrier(2)

    def resolve(dispute_id: str) -> None:
        barrier.wait()
        results.append(call("POST", f"/api/v1/disputes/{dispute_id}/resolve", key=key,
                            body={"decision": "SPLIT", "releaseAmount": "7.77", "refundAmount": "12.23"}))

    threads = [threading.Thread(target=resolve, args=(d,)) for d in disputes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status for r in results] == [200, 200], [r.body for r in results]
    for user in (a, b):
        assert call("POST", f"/api/v1/balance/{user['id']}/sync", key=key).data["inSync"]


def test_one_buyer_releasing_many_orders_at_once(funded_user, key):
    """Every release is signed by the same buyer: their transactions race for one account's sequence
    numbers, and every release still completes, each seller paid once."""
    buyer = funded_user("50.00")
    sellers = [funded_user() for _ in range(4)]
    orders = []
    for seller in sellers:
        order = call("POST", "/api/v1/orders", key=key, body={"buyerId": buyer["id"], "sellerId": seller["id"],
                                                              "amount": "10.00", "title": "x"}).data["id"]
        call("POST", f"/api/v1/orders/{order}/reserve", key=key)
        escrow = call("POST", "/api/v1/escrow", key=key, body={"orderId": order}).data["id"]
        call("POST", f"/api/v1/escrow/{escrow}/fund", key=key)
        orders.append(order)
    results: list = []
    barrier = threading.Barrier(len(orders))

    def release(order_id: str) -> None:
        barrier.wait()
        results.append(call("POST", "/api/v1/resolution/release", key=key, body={"orderId": order_id}))

    threads = [threading.Thread(target=release, args=(o,)) for o in orders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status for r in results] == [200] * len(orders), [r.body for r in results if r.status != 200]
    for seller in sellers:
        assert call("GET", f"/api/v1/balance/{seller['id']}", key=key).data["available"] == "9.87"
    assert call("POST", f"/api/v1/balance/{buyer['id']}/sync", key=key).data["inSync"]


def test_a_busy_answer_is_not_stored_so_the_same_idempotency_key_reaches_the_real_outcome(order_in, key):
    from offerhub.adapters.postgres.engine import get_engine
    from offerhub.orders import store

    setup = order_in("IN_PROGRESS", amount="10.00")
    order_id = setup["order"]["id"]
    headers = {"Idempotency-Key": f"release-{order_id}"}
    with get_engine().begin() as conn:  # another run holds the order
        assert store.take_lease(conn, order_id, 60)
    busy = call("POST", "/api/v1/resolution/release", key=key, headers=headers, body={"orderId": order_id})
    assert busy.status == 409 and busy.error_code == "ORDER_BUSY"
    assert busy.headers.get("retry-after") == "1"
    with get_engine().begin() as conn:
        store.drop_lease(conn, order_id)
    retried = call("POST", "/api/v1/resolution/release", key=key, headers=headers, body={"orderId": order_id})
    assert retried.status == 200, retried.body
    assert "idempotent-replayed" not in retried.headers
    assert retried.data["outcome"] == "RELEASED"
    replay = call("POST", "/api/v1/resolution/release", key=key, headers=headers, body={"orderId": order_id})
    assert replay.headers.get("idempotent-replayed") == "true" and replay.body == retried.body
