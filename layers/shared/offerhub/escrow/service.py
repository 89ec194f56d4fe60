"""Escrow use cases: create the order's escrow, fund it, complete a milestone, read it.

Each is the same whatever holds the money (escrow/rails.py): a transaction that checks and claims the
order, the rail's work outside any transaction (on chain it may take seconds and may fail half way, so
it is resumable), then a transaction that records the outcome: states, ledger lines, events, audit rows.
"""

from __future__ import annotations

from typing import Any

from offerhub.adapters.postgres.unit_of_work import UnitOfWork, read_only, transaction
from offerhub.audit.service import record
from offerhub.config import settings
from offerhub.core.clock import iso, utcnow
from offerhub.core.context import RequestContext
from offerhub.core.errors import Conflict, NotFound, OfferHubError
from offerhub.core.ids import looks_like, new_id
from offerhub.core.money import CURRENCY, format_amount
from offerhub.escrow import store
from offerhub.escrow.rails import provider_for_mode, rail_for
from offerhub.events import catalogue
from offerhub.ledger import accounts
from offerhub.ledger import service as ledger
from offerhub.orders import lease, states, views
from offerhub.orders import store as order_store
from offerhub.orders.service import find_milestone, lock_order, open_milestone_index, transition

# Escrow (our record) states.
CREATING, CREATED, FUNDING, FUNDED = "CREATING", "CREATED", "FUNDING", "FUNDED"
RELEASED, REFUNDED, SPLIT = "RELEASED", "REFUNDED", "SPLIT"


def create_escrow(ctx: RequestContext, order_id: str) -> dict[str, Any]:
    with transaction(ctx) as uow:
        order = lock_order(uow, order_id)
        escrow = store.of_orders(uow.conn, [order_id]).get(order_id)
        if order["status"] == states.FUNDS_RESERVED:
            escrow = store.insert(uow.conn, {
                "id": new_id("esc"), "order_id": order_id, "status": CREATING, "amount": order["amount"],
                "provider": provider_for_mode(), "platform_fee_percent": settings().platform_fee_percent})
            transition(uow, order, states.ESCROW_CREATING, catalogue.ORDER_ESCROW_CREATING,
                       {"escrowId": escrow["id"], "amount": format_amount(order["amount"])})
        elif escrow is not None and order["status"] != states.ESCROW_CREATING:
            raise Conflict(f"order {order_id} already has an escrow", code="ESCROW_ALREADY_EXISTS",
                           details={"orderId": order_id, "escrowId": escrow["id"]})
        else:
            states.require_status(order, [states.FUNDS_RESERVED, states.ESCROW_CREATING], "create an escrow for")
        lease.claim(uow, order_id)
        milestones = order_store.milestones_of(uow.conn, [order_id])[order_id]
    assert escrow is not None
    with lease.running(ctx, order_id, "escrow.deploy"):
        contract_id = rail_for(escrow).deploy(ctx, order, escrow, milestones)
        with transaction(ctx) as uow:
            order = lock_order(uow, order_id)
            states.require_status(order, [states.ESCROW_CREATING], "finish the escrow of")
            data = {"escrowId": escrow["id"], "orderId": order_id, "contractId": contract_id,
                    "provider": escrow["provider"], "amount": format_amount(order["amount"])}
            move_escrow(uow, escrow, CREATED, catalogue.ESCROW_CREATED, data, contract_id=contract_id)
            transition(uow, order, states.ESCROW_FUNDING, catalogue.ORDER_ESCROW_FUNDING, data)
            return _view(store.get(uow.conn, escrow["id"]))


def move_escrow(uow: UnitOfWork, escrow: dict[str, Any], status: str, event: str, data: dict[str, Any],
                **values: Any) -> None:
    """Change the escrow's status, emit its event and write its audit row, in the caller's transaction."""
    store.update_escrow(uow.conn, escrow["id"], status=status, **values)
    data = {"escrowId": escrow["id"], "orderId": escrow["order_id"], **data, "status": status}
    uow.emit(event, "Escrow", escrow["id"], data)
    record(uow, event, "Escrow", escrow["id"], before={"status": escrow["status"]}, after=data)


def _found(conn: Any, escrow_id: str, *, for_update: bool = False) -> dict[str, Any]:
    row = store.get(conn, escrow_id, for_update=for_update) if looks_like(escrow_id, "esc") else None
    if row is None:
        raise NotFound(f"escrow {escrow_id} not found", code="ESCROW_NOT_FOUND")
    return row


def fund_escrow(ctx: RequestContext, escrow_id: str) -> dict[str, Any]:
    with transaction(ctx) as uow:
        escrow = _found(uow.conn, escrow_id, for_update=True)
        order = lock_order(uow, escrow["order_id"])
        states.require_status(order, [states.ESCROW_FUNDING], "fund the escrow of")
        if escrow["status"] == CREATED:
            move_escrow(uow, escrow, FUNDING, catalogue.ESCROW_FUNDING_STARTED,
                        {"contractId": escrow["contract_id"], "amount": format_amount(escrow["amount"])})
        lease.claim(uow, order["id"])
    with lease.running(ctx, order["id"], "escrow.fund"):
        result = rail_for(escrow).fund(ctx, order, escrow)
        with transaction(ctx) as uow:
            order = lock_order(uow, order["id"])
            states.require_status(order, [states.ESCROW_FUNDING], "fund the escrow of")
            ledger.spend_reserved(uow, order["buyer_id"], order["amount"],
                                  destination=accounts.order_escrow(order["id"]), order_id=order["id"],
                                  description=f"escrow {escrow_id} funded")
            now = utcnow()
            data = {"escrowId": escrow_id, "contractId": escrow["contract_id"],
                    "amount": format_amount(order["amount"]), "currency": CURRENCY, "fundedAt": iso(now),
                    "txHash": result.get("txHash")}
            move_escrow(uow, {**escrow, "status": FUNDING}, FUNDED, catalogue.ESCROW_FUNDED, data, funded_at=now)
            transition(uow, order, states.IN_PROGRESS, catalogue.ORDER_ESCROW_FUNDED, data)
            return _view(store.get(uow.conn, escrow_id))


def fund_order_escrow(ctx: RequestContext, order_id: str) -> dict[str, Any]:
    """Upstream's POST /orders/{id}/escrow/fund: fund_escrow, found by its order. An order without an escrow yet
    is in the wrong state for funding (409 INVALID_STATE, as fund_escrow answers for any other wrong state)."""
    with read_only() as conn:
        order = order_store.get(conn, order_id) if looks_like(order_id, "ord") else None
        if order is None:
            raise NotFound(f"order {order_id} not found", code="ORDER_NOT_FOUND")
        escrow = store.of_orders(conn, [order_id]).get(order_id)
    if escrow is None:
        states.require_status(order, [states.ESCROW_FUNDING], "fund the escrow of")
        raise NotFound(f"order {order_id} has no escrow", code="ESCROW_NOT_FOUND")  # ESCROW_FUNDING has one
    return fund_escrow(ctx, escrow["id"])


def complete_milestone(ctx: RequestContext, order_id: str, ref: str) -> dict[str, Any]:
    """The seller marks one milestone delivered (on chain in crypto mode); the release later approves it."""
    with transaction(ctx) as uow:
        order = lock_order(uow, order_id)
        milestones = order_store.milestones_of(uow.conn, [order_id])[order_id]
        milestone = find_milestone(order, milestones, ref)  # an unknown ref is a 404 whatever the order's state
        states.require_status(order, [states.IN_PROGRESS], "complete a milestone of")
        index = open_milestone_index(order, milestone)
        escrow = store.of_orders(uow.conn, [order_id])[order_id]
        lease.claim(uow, order_id)
    with lease.running(ctx, order_id, "escrow.milestone_complete"):
        result = rail_for(escrow).complete_milestone(ctx, order, escrow, index)
        with transaction(ctx) as uow:
            order_store.complete_milestones(uow.conn, order_id, ref)
            data = {"escrowId": escrow["id"], "orderId": order_id, "milestoneRef": ref,
                    "milestoneTitle": milestone["title"], "amount": format_amount(milestone["amount"]),
                    "completedAt": iso(utcnow()), "txHash": result.get("txHash")}
            uow.emit(catalogue.ESCROW_MILESTONE_COMPLETED, "Escrow", escrow["id"], data)
            record(uow, catalogue.ESCROW_MILESTONE_COMPLETED, "Order", order_id, before={"status": "OPEN"},
                   after={"milestoneRef": ref, "status": "COMPLETED"})
            return views.milestone(order_store.milestones_of(uow.conn, [order_id])[order_id][index])


def get_escrow(escrow_id: str) -> dict[str, Any]:
    with read_only() as conn:
        row = _found(conn, escrow_id)
        rail = store.steps_of(conn, row["order_id"])
    view = _view(row)
    view["steps"] = [{"step": s["step"], "signer": s["signer"], "txHash": s["tx_hash"], "status": s["status"],
                      "updatedAt": iso(s["updated_at"])} for s in rail]
    view["onChain"] = None
    try:
        view["onChain"] = rail_for(row).inspect(row)
    except OfferHubError as exc:  # our record is still worth answering with
        view["onChainError"] = {"code": exc.code, "message": exc.message}
    return view


def _view(row: dict[str, Any] | None) -> dict[str, Any]:
    assert row is not None
    return views.escrow(row)
