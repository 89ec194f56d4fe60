"""Cancel an order: it closes as CANCELED and its reservation returns to available.

Possible until the escrow may hold money: ORDER_CREATED, FUNDS_RESERVED, and ESCROW_CREATING /
ESCROW_FUNDING while the escrow provably holds nothing (escrow/unfunded.py), so an order whose funding
failed is never stuck. Once the escrow may hold the money only a refund gives it back.
"""

from __future__ import annotations

from typing import Any

from offerhub.adapters.postgres.unit_of_work import UnitOfWork, transaction
from offerhub.core.context import RequestContext
from offerhub.escrow import service as escrow_service
from offerhub.escrow import store as escrow_store
from offerhub.escrow.settlement import closed_data, whole
from offerhub.escrow.unfunded import ensure_holds_nothing
from offerhub.events import catalogue
from offerhub.ledger import service as ledger
from offerhub.orders import lease, states, views
from offerhub.orders.service import lock_order, transition

BEFORE_ESCROW = (states.ORDER_CREATED, states.FUNDS_RESERVED)
WITH_ESCROW = (states.ESCROW_CREATING, states.ESCROW_FUNDING)
ESCROW_CANCELED = "CANCELED"


def cancel(ctx: RequestContext, order_id: str, reason: str | None,
           allowed: tuple[str, ...] = (*BEFORE_ESCROW, *WITH_ESCROW)) -> dict[str, Any]:
    """`allowed` narrows the states cancel accepts (orders/reservations.py: only a reservation, no escrow)."""
    with transaction(ctx) as uow:
        order = lock_order(uow, order_id)
        states.require_status(order, allowed, "cancel")
        if order["status"] in BEFORE_ESCROW:
            return _close(uow, order, None, reason)
        lease.claim(uow, order_id)  # no deploy or funding run may start while the rail is checked
        escrow = escrow_store.of_orders(uow.conn, [order_id]).get(order_id)
    with lease.running(ctx, order_id, "order.cancel"):
        ensure_holds_nothing(order, escrow)
        with transaction(ctx) as uow:
            order = lock_order(uow, order_id)
            states.require_status(order, WITH_ESCROW, "cancel")
            return _close(uow, order, escrow, reason)


def _close(uow: UnitOfWork, order: dict[str, Any], escrow: dict[str, Any] | None, reason: str | None
           ) -> dict[str, Any]:
    order_id = order["id"]
    released = order["status"] != states.ORDER_CREATED
    if released:
        ledger.release_reservation(uow, order["buyer_id"], order["amount"], order_id=order_id, reason="cancel",
                                   description=f"order {order_id} canceled")
    if escrow is not None:
        escrow_service.move_escrow(uow, escrow, ESCROW_CANCELED, catalogue.ESCROW_CANCELED,
                                   {"contractId": escrow.get("contract_id"), "reason": reason})
    data = {"buyerId": order["buyer_id"], "reason": reason, "fundsReleased": released,
            "canceledFrom": order["status"]}
    returned = {"buyer": whole(order["amount"])} if released else {}
    closed = closed_data(states.OUTCOME_CANCELED, order["amount"], returned)
    uow.emit(catalogue.ORDER_CANCELED, "Order", order_id, {"orderId": order_id, **data})
    order = transition(uow, order, states.CLOSED, catalogue.ORDER_CLOSED, {**data, **closed},
                       outcome=states.OUTCOME_CANCELED)
    return views.order(uow.conn, order)
