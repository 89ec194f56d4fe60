"""Upstream's balance routes that move reserved money, answered through the order they concern.

Upstream let any caller move a user's money between available and reserved (`reserve`, `cancel-reservation`),
pay a reservation to a seller (`release`) or drop it (`deduct-reserved`) by naming an order id it never checked.
Its own escrow flow then moved the same money again (its defect list, §18.1 #5 and #6). Here a reservation only
exists as an order's, so:

- `reserve` is the order's reserve (ORDER_CREATED → FUNDS_RESERVED), and `cancel-reservation` is the order's
  cancel while only the reservation exists (FUNDS_RESERVED → CLOSED, CANCELED): the same use cases as
  POST /orders/{id}/reserve and /cancel, after checking the order is this user's and, when an amount is given,
  that it is the order's;
- `release` and `deduct-reserved` would move money around the escrow: they are refused with 422
  USE_ORDER_ROUTE naming the route that does the job (a release, the escrow's funding).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from offerhub.core.context import RequestContext
from offerhub.core.errors import BusinessRuleViolation, InvalidAmount
from offerhub.core.money import format_amount
from offerhub.ledger import service as ledger
from offerhub.orders import service as orders
from offerhub.orders import states
from offerhub.orders.cancel import cancel

RESERVE, CANCEL_RESERVATION = "RESERVE", "CANCEL_RESERVATION"
RELEASE, DEDUCT_RESERVED = "release", "deduct-reserved"
API = "/api/v1"
_INSTEAD = {
    RELEASE: ("paying a reservation to the seller is the order's release",
              ["POST {api}/orders/{order}/resolution/release", "POST {api}/resolution/release"]),
    DEDUCT_RESERVED: ("a reservation leaves the balance when the order's escrow is funded",
                      ["POST {api}/orders/{order}/escrow/fund", "POST {api}/escrow/{{escrowId}}/fund"]),
}


def reserve(ctx: RequestContext, user_id: str, order_id: str, amount: Decimal | None) -> dict[str, Any]:
    _order_of(user_id, order_id, amount)
    order = orders.reserve(ctx, order_id)
    return _result(RESERVE, user_id, order)


def cancel_reservation(ctx: RequestContext, user_id: str, order_id: str, amount: Decimal | None) -> dict[str, Any]:
    _order_of(user_id, order_id, amount)
    order = cancel(ctx, order_id, "reservation canceled", allowed=(states.FUNDS_RESERVED,))
    return _result(CANCEL_RESERVATION, user_id, order)


def refuse(operation: str, user_id: str, order_id: str | None) -> None:
    """release / deduct-reserved: a 422 naming the route to use (404 first for an unknown user)."""
    ledger.get_balance(user_id)
    why, routes = _INSTEAD[operation]
    named = [r.format(api=API, order=order_id or "{orderId}") for r in routes]
    raise BusinessRuleViolation(f"{why}: use {named[0]}", code="USE_ORDER_ROUTE",
                                details={"operation": operation, "use": named[0], "alternatives": named[1:]})


def _order_of(user_id: str, order_id: str, amount: Decimal | None) -> dict[str, Any]:
    ledger.get_balance(user_id)  # 404 USER_NOT_FOUND before anything about the order
    order = orders.get_order(order_id)
    if order["buyerId"] != user_id:
        raise BusinessRuleViolation(f"order {order_id} is not user {user_id}'s: its buyer reserves its funds",
                                    code="ORDER_USER_MISMATCH", details={"orderId": order_id, "userId": user_id})
    if amount is not None and amount != Decimal(order["amount"]):
        raise InvalidAmount("amount must be the order's amount (or left out)", code="INVALID_AMOUNT",
                            details={"field": "amount", "orderAmount": order["amount"],
                                     "amount": format_amount(amount)})
    return order


def _result(operation: str, user_id: str, order: dict[str, Any]) -> dict[str, Any]:
    return {"operation": operation, "orderId": order["id"], "amount": order["amount"],
            "balance": ledger.get_balance(user_id).to_public(), "order": order}
