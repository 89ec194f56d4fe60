"""Release, refund and dispute settlement. Each is a request (the order moves to *_REQUESTED and the
decision is recorded), the escrow rail's work (escrow/rails.py: resumable on-chain steps in crypto mode,
nothing in airtm mode), then one settlement transaction: ledger lines, escrow and order states, events and
audit rows together. A failed or timed-out step leaves the order in its requested state; the same request
again (or the reconciliation) finishes the job.

A buyer's share (a refund, a split's refund part) arrives whole when REFUND_FEES_PAID_BY=platform: the rail
reports it covered and the settlement credits the buyer the gross (escrow/settlement.py). `order.closed`
carries the outcome and the money: each side's share and net, and the fees.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from offerhub.adapters.postgres.unit_of_work import UnitOfWork, read_only, transaction
from offerhub.audit.service import record
from offerhub.core.clock import iso, utcnow
from offerhub.core.context import RequestContext
from offerhub.core.errors import InvalidAmount, InvalidState
from offerhub.core.money import CURRENCY, format_amount
from offerhub.disputes import store as dispute_store
from offerhub.escrow import service as escrow_service
from offerhub.escrow import store as escrow_store
from offerhub.escrow.rails import rail_for
from offerhub.escrow.settlement import Payout, closed_data, pay_share
from offerhub.events import catalogue
from offerhub.orders import lease, states, views
from offerhub.orders import store as order_store
from offerhub.orders.service import lock_order, transition
from offerhub.wallets import store as wallet_store

FULL_RELEASE, FULL_REFUND, SPLIT = "FULL_RELEASE", "FULL_REFUND", "SPLIT"


def _escrow_of(uow: UnitOfWork, order_id: str) -> dict[str, Any]:
    escrow = escrow_store.of_orders(uow.conn, [order_id]).get(order_id)
    assert escrow is not None, "an order past IN_PROGRESS has a funded escrow"
    return escrow


def release(ctx: RequestContext, order_id: str) -> dict[str, Any]:
    with transaction(ctx) as uow:
        order = lock_order(uow, order_id)
        _refuse_if_disputed(uow, order)
        _request(uow, order, states.RELEASE_REQUESTED, catalogue.ORDER_RELEASE_REQUESTED, "release")
        escrow = _escrow_of(uow, order_id)
        positions = [m["position"] for m in order_store.milestones_of(uow.conn, [order_id])[order_id]]
        lease.claim(uow, order_id)
    with lease.running(ctx, order_id, "order.release"):
        rail_for(escrow).release(ctx, order, escrow, positions)
        return _settle_whole(ctx, order_id, escrow, outcome=states.OUTCOME_RELEASED, covered=frozenset())


def refund(ctx: RequestContext, order_id: str, reason: str) -> dict[str, Any]:
    with transaction(ctx) as uow:
        order = lock_order(uow, order_id)
        _refuse_if_disputed(uow, order)
        _request(uow, order, states.REFUND_REQUESTED, catalogue.ORDER_REFUND_REQUESTED, "refund", {"reason": reason})
        escrow = _escrow_of(uow, order_id)
        lease.claim(uow, order_id)
    with lease.running(ctx, order_id, "order.refund"):
        covered = rail_for(escrow).resolve(ctx, order, escrow, "BUYER", [("buyer", order["amount"])])
        return _settle_whole(ctx, order_id, escrow, outcome=states.OUTCOME_REFUNDED, covered=covered)


def _settle_whole(ctx: RequestContext, order_id: str, escrow: dict[str, Any], *, outcome: str,
                  covered: frozenset[str]) -> dict[str, Any]:
    """The whole escrow to one side, once its on-chain steps are done: ledger lines, states, events, audit.
    `covered`: the roles whose share the platform paid the fees of (the rail's answer)."""
    released = outcome == states.OUTCOME_RELEASED
    requested, role, what = ((states.RELEASE_REQUESTED, "seller", "release") if released
                             else (states.REFUND_REQUESTED, "buyer", "refund"))
    with transaction(ctx) as uow:
        order = lock_order(uow, order_id)
        states.require_status(order, [requested], f"settle the {what} of")
        wallet_store.lock_for_settlement(uow.conn, [order["buyer_id"], order["seller_id"]])
        gross = rail_for(escrow).payout(order["amount"], escrow["platform_fee_percent"], covered=role in covered)
        share = pay_share(uow, order_id, order[f"{role}_id"], gross, description=f"{what} of order {order_id}")
        if released:
            order_store.complete_milestones(uow.conn, order_id)
        _close(uow, order, escrow, outcome=outcome, payouts={role: share})
        return views.order(uow.conn, order_store.get(uow.conn, order_id))


def resolve_dispute(ctx: RequestContext, dispute_id: str, decision: str, release_amount: Decimal,
                    refund_amount: Decimal, note: str | None) -> dict[str, Any]:
    """Record support's decision, then pay it out (the dispute was opened on chain when it was filed)."""
    from offerhub.disputes.service import lock_dispute, view

    with transaction(ctx) as uow:
        dispute = lock_dispute(uow, dispute_id)
        order = lock_order(uow, dispute["order_id"])
        decided = (decision, release_amount, refund_amount)
        if dispute["status"] == "RESOLVED":
            raise InvalidState("the dispute is already resolved", details={
                "disputeId": dispute_id, "currentState": "RESOLVED",
                "allowedStates": ["OPEN", "UNDER_REVIEW", "RESOLVING"]})
        if dispute["status"] == "RESOLVING":
            if (dispute["decision"], dispute["release_amount"], dispute["refund_amount"]) != decided:
                raise InvalidState("the dispute is being settled with another decision",
                                   code="DISPUTE_ALREADY_RESOLVING",
                                   details={"disputeId": dispute_id, "decision": dispute["decision"]})
        else:
            total = release_amount + refund_amount
            if total != order["amount"]:
                raise InvalidAmount("releaseAmount and refundAmount must add up to the order amount",
                                    code="INVALID_AMOUNT", details={"orderAmount": format_amount(order["amount"]),
                                                                    "total": format_amount(total)})
            dispute_store.update_dispute(uow.conn, dispute_id, status="RESOLVING", decision=decision,
                                         release_amount=release_amount, refund_amount=refund_amount,
                                         decision_note=note, resolved_by=ctx.actor.id)
            dispute = {**dispute, "resolved_by": ctx.actor.id}
            data = {"disputeId": dispute_id, "orderId": order["id"], "decision": decision,
                    "releaseAmount": format_amount(release_amount), "refundAmount": format_amount(refund_amount)}
            uow.emit(catalogue.DISPUTE_RESOLVING, "Dispute", dispute_id, data)
            record(uow, catalogue.DISPUTE_RESOLVING, "Dispute", dispute_id, before={"status": dispute["status"]},
                   after={"status": "RESOLVING", **data})
            if decision == FULL_RELEASE:
                order = transition(uow, order, states.RELEASE_REQUESTED, catalogue.ORDER_RELEASE_REQUESTED,
                                   {"requestedBy": ctx.actor.id, "disputeId": dispute_id})
            elif decision == FULL_REFUND:
                order = transition(uow, order, states.REFUND_REQUESTED, catalogue.ORDER_REFUND_REQUESTED,
                                   {"requestedBy": ctx.actor.id, "disputeId": dispute_id})
        escrow = _escrow_of(uow, order["id"])
        lease.claim(uow, order["id"])
    with lease.running(ctx, order["id"], "dispute.resolve"):
        rail = rail_for(escrow)
        shares = [("seller", release_amount), ("buyer", refund_amount)]
        covered = rail.resolve(ctx, order, escrow, dispute["opened_by"], [s for s in shares if s[1] > 0])
        with transaction(ctx) as uow:
            order = lock_order(uow, order["id"])
            wallet_store.lock_for_settlement(uow.conn, [order["buyer_id"], order["seller_id"]])
            payouts: dict[str, Payout] = {}
            for role, user_id, amount in (("seller", order["seller_id"], release_amount),
                                          ("buyer", order["buyer_id"], refund_amount)):
                if amount > 0:
                    share = rail.payout(amount, escrow["platform_fee_percent"], covered=role in covered)
                    payouts[role] = pay_share(uow, order["id"], user_id, share,
                                              description=f"dispute {dispute_id} ({role} share)")
            outcome = {FULL_RELEASE: states.OUTCOME_RELEASED, FULL_REFUND: states.OUTCOME_REFUNDED,
                       SPLIT: states.OUTCOME_SPLIT}[decision]
            now = utcnow()
            dispute_store.update_dispute(uow.conn, dispute_id, status="RESOLVED", resolved_at=now)
            data = {"disputeId": dispute_id, "orderId": order["id"], "decision": decision, "decisionNote": note,
                    "resolvedBy": dispute["resolved_by"], "resolvedAt": iso(now),
                    "sellerAmount": format_amount(release_amount), "buyerAmount": format_amount(refund_amount),
                    "payouts": _public(payouts)}
            uow.emit(catalogue.DISPUTE_RESOLVED, "Dispute", dispute_id, data)
            record(uow, catalogue.DISPUTE_RESOLVED, "Dispute", dispute_id, before={"status": "RESOLVING"},
                   after={"status": "RESOLVED", **data})
            _close(uow, order, escrow, outcome=outcome, payouts=payouts)
            return view(uow.conn, dispute_store.get(uow.conn, dispute_id))


def _request(uow: UnitOfWork, order: dict[str, Any], target: str, event: str, action: str,
             data: dict[str, Any] | None = None) -> None:
    """IN_PROGRESS → the requested state; already there means a retry that resumes the steps."""
    if order["status"] == target:
        return
    states.require_status(order, [states.IN_PROGRESS, target], action)
    transition(uow, order, target, event, {"requestedBy": uow.ctx.actor.id, "requestedAt": iso(utcnow()),
                                           **(data or {})})


def _public(payouts: dict[str, Payout]) -> dict[str, dict[str, str]]:
    return {role: share.to_public() for role, share in payouts.items()}


def _close(uow: UnitOfWork, order: dict[str, Any], escrow: dict[str, Any], *, outcome: str,
           payouts: dict[str, Payout]) -> None:
    now = utcnow()
    data = {"escrowId": escrow["id"], "contractId": escrow["contract_id"], "amount": format_amount(order["amount"]),
            "currency": CURRENCY, "payouts": _public(payouts)}
    if outcome == states.OUTCOME_SPLIT:
        escrow_service.move_escrow(uow, escrow, escrow_service.SPLIT, catalogue.ESCROW_SPLIT, data,
                                   released_at=now, refunded_at=now)
    elif outcome == states.OUTCOME_RELEASED:
        escrow_service.move_escrow(uow, escrow, escrow_service.RELEASED, catalogue.ESCROW_RELEASED, data,
                                   released_at=now)
        order = transition(uow, order, states.RELEASED, catalogue.ORDER_RELEASED,
                           {**data, "sellerId": order["seller_id"], "releasedAt": iso(now)})
    else:
        escrow_service.move_escrow(uow, escrow, escrow_service.REFUNDED, catalogue.ESCROW_REFUNDED, data,
                                   refunded_at=now)
        order = transition(uow, order, states.REFUNDED, catalogue.ORDER_REFUNDED,
                           {**data, "buyerId": order["buyer_id"], "refundedAt": iso(now)})
    transition(uow, order, states.CLOSED, catalogue.ORDER_CLOSED,
               {"finalStatus": states.CLOSED, "closedAt": iso(now), **closed_data(outcome, order["amount"], payouts)},
               outcome=outcome)


def _refuse_if_disputed(uow: UnitOfWork, order: dict[str, Any]) -> None:
    dispute = dispute_store.of_order(uow.conn, order["id"])
    if dispute is not None and order["status"] != states.CLOSED:
        raise InvalidState("the order is disputed: resolve the dispute instead", code="DISPUTE_ALREADY_OPEN",
                           details={"orderId": order["id"], "disputeId": dispute["id"],
                                    "currentState": order["status"]})


def resume(ctx: RequestContext, order_id: str) -> dict[str, Any] | None:
    """Finish whatever an interrupted run left (used by the reconciliation)."""
    with read_only() as conn:
        order = order_store.get(conn, order_id)
        dispute = dispute_store.of_order(conn, order_id)
        escrow = escrow_store.of_orders(conn, [order_id]).get(order_id)
    if order is None:
        return None
    if dispute is not None and dispute["status"] == "RESOLVING":
        return resolve_dispute(ctx, dispute["id"], dispute["decision"], dispute["release_amount"],
                               dispute["refund_amount"], dispute["decision_note"])
    if order["status"] == states.RELEASE_REQUESTED:
        return release(ctx, order_id)
    if order["status"] == states.REFUND_REQUESTED:
        return refund(ctx, order_id, "resumed by reconciliation")
    if order["status"] == states.ESCROW_CREATING:
        return escrow_service.create_escrow(ctx, order_id)
    if order["status"] == states.ESCROW_FUNDING and escrow is not None and escrow["status"] == escrow_service.FUNDING:
        return escrow_service.fund_escrow(ctx, escrow["id"])
    return None
