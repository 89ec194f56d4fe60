"""balance: read a user's balance and ledger lines; manual credit/debit by support (audited); ledger vs chain.

Every route also answers at upstream's path, /users/{userId}/balance… (same route functions; upstream's
`description` is accepted for a credit's or a debit's `reason`). Upstream's reserve and cancel-reservation act
through the user's order (offerhub.orders.reservations); its release and deduct-reserved name the order route
that does the job instead.
"""

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import AliasChoices, Field

from offerhub.core.context import RequestContext
from offerhub.core.money import check_currency, parse_amount
from offerhub.core.pagination import PageRequest
from offerhub.http.app import create_api
from offerhub.http.lambda_entry import make_handler
from offerhub.http.params import AmountText, NonEmpty, StrictBody, Text, page_request
from offerhub.http.responses import ok, paged
from offerhub.http.security import require
from offerhub.ledger import service
from offerhub.ledger.adjustments import adjust_balance
from offerhub.orders import reservations
from offerhub.wallets.sync import sync_balance, verify_balance

router = APIRouter()


class Adjustment(StrictBody):
    amount: AmountText
    reason: Text = Field(validation_alias=AliasChoices("reason", "description"))
    currency: str = "USD"
    reference: NonEmpty | None = None


class OrderReservation(StrictBody):
    """Upstream's reserve / cancel-reservation body: the order says what is reserved; an amount must be its."""

    orderId: NonEmpty
    amount: AmountText | None = None
    currency: str = "USD"
    description: Text | None = None


class ReservedMove(StrictBody):
    """Upstream's release / deduct-reserved body, read only to name the route to use instead."""

    orderId: NonEmpty | None = None
    sellerId: NonEmpty | None = None
    amount: AmountText | None = None
    currency: str | None = None
    description: Text | None = None


@router.get("/balance/{user_id}")
@router.get("/users/{user_id}/balance")
async def get_balance(request: Request, user_id: str, _: Annotated[RequestContext, Depends(require("read"))]):
    return ok(request, service.get_balance(user_id).to_public())


@router.get("/balance/{user_id}/entries")
async def list_entries(request: Request, user_id: str, _: Annotated[RequestContext, Depends(require("read"))],
                       page: Annotated[PageRequest, Depends(page_request)]):
    return paged(request, service.list_entries(user_id, page))


@router.post("/balance/{user_id}/credit")
@router.post("/users/{user_id}/balance/credit")
async def credit(request: Request, user_id: str, body: Adjustment,
                 ctx: Annotated[RequestContext, Depends(require("support"))]):
    return ok(request, _adjust(ctx, user_id, "credit", body))


@router.post("/balance/{user_id}/debit")
@router.post("/users/{user_id}/balance/debit")
async def debit(request: Request, user_id: str, body: Adjustment,
                ctx: Annotated[RequestContext, Depends(require("support"))]):
    return ok(request, _adjust(ctx, user_id, "debit", body))


@router.post("/balance/{user_id}/sync")
@router.post("/users/{user_id}/balance/sync")
async def sync(request: Request, user_id: str, ctx: Annotated[RequestContext, Depends(require("write"))]):
    return ok(request, sync_balance(ctx, user_id))


@router.get("/users/{user_id}/balance/verify")
async def verify(request: Request, user_id: str, _: Annotated[RequestContext, Depends(require("read"))]):
    return ok(request, verify_balance(user_id))


@router.post("/users/{user_id}/balance/reserve")
async def reserve(request: Request, user_id: str, body: OrderReservation,
                  ctx: Annotated[RequestContext, Depends(require("write"))]):
    check_currency(body.currency)
    return ok(request, reservations.reserve(ctx, user_id, body.orderId, _amount(body.amount)))


@router.post("/users/{user_id}/balance/cancel-reservation")
async def cancel_reservation(request: Request, user_id: str, body: OrderReservation,
                             ctx: Annotated[RequestContext, Depends(require("write"))]):
    check_currency(body.currency)
    return ok(request, reservations.cancel_reservation(ctx, user_id, body.orderId, _amount(body.amount)))


@router.post("/users/{user_id}/balance/release")
async def release(request: Request, user_id: str, _: Annotated[RequestContext, Depends(require("write"))],
                  body: ReservedMove | None = None):
    reservations.refuse(reservations.RELEASE, user_id, body.orderId if body else None)


@router.post("/users/{user_id}/balance/deduct-reserved")
async def deduct_reserved(request: Request, user_id: str, _: Annotated[RequestContext, Depends(require("write"))],
                          body: ReservedMove | None = None):
    reservations.refuse(reservations.DEDUCT_RESERVED, user_id, body.orderId if body else None)


def _adjust(ctx: RequestContext, user_id: str, operation: str, body: Adjustment) -> dict:
    check_currency(body.currency)
    amount = parse_amount(body.amount)
    return adjust_balance(ctx, user_id, operation, amount, reason=body.reason, reference=body.reference)


def _amount(text: str | None) -> Decimal | None:
    return None if text is None else parse_amount(text)


app = create_api(router, title="balance")
handler = make_handler(app)
