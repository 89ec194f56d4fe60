"""orders: create (camelCase or upstream snake_case), read, list, reserve, cancel, milestones."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AliasChoices, Field, field_validator

from offerhub.core.context import RequestContext
from offerhub.core.errors import ValidationFailed
from offerhub.core.money import check_currency, parse_amount
from offerhub.core.pagination import PageRequest
from offerhub.escrow.service import complete_milestone
from offerhub.http.app import create_api
from offerhub.http.lambda_entry import make_handler
from offerhub.http.params import AmountText, JsonObject, NonEmpty, StrictBody, Text, page_request
from offerhub.http.responses import ok, paged
from offerhub.http.security import require
from offerhub.orders import service, states
from offerhub.orders.cancel import cancel as cancel_order

router = APIRouter(prefix="/orders")


class MilestoneIn(StrictBody):
    ref: NonEmpty = Field(validation_alias=AliasChoices("ref", "milestoneRef", "milestone_ref"))
    title: NonEmpty
    amount: AmountText


class CreateOrder(StrictBody):
    buyerId: NonEmpty = Field(validation_alias=AliasChoices("buyerId", "buyer_id"))
    sellerId: NonEmpty = Field(validation_alias=AliasChoices("sellerId", "seller_id"))
    amount: AmountText
    title: NonEmpty
    description: Text | None = None
    currency: str = "USD"
    clientOrderRef: NonEmpty | None = Field(None, validation_alias=AliasChoices("clientOrderRef", "client_order_ref"))
    metadata: JsonObject | None = None
    milestones: list[MilestoneIn] = Field(default_factory=list, max_length=50)

    @field_validator("milestones", mode="before")
    @classmethod
    def milestones_list(cls, value: Any) -> Any:
        return [] if value is None else value


class CancelOrder(StrictBody):
    reason: Text | None = None


@router.post("")
async def create_order(request: Request, body: CreateOrder, ctx: Annotated[RequestContext, Depends(require("write"))]):
    check_currency(body.currency)
    new = service.NewOrder(
        buyer_id=body.buyerId, seller_id=body.sellerId, amount=parse_amount(body.amount), title=body.title,
        description=body.description, client_order_ref=body.clientOrderRef, metadata=body.metadata,
        milestones=[service.NewMilestone(m.ref, m.title, parse_amount(m.amount, field=f"milestones[{i}].amount"))
                    for i, m in enumerate(body.milestones)],
    )
    return ok(request, service.create_order(ctx, new), status=201)


@router.get("")
async def list_orders(
    request: Request,
    _: Annotated[RequestContext, Depends(require("read"))],
    page: Annotated[PageRequest, Depends(page_request)],
    buyerId: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    sellerId: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    status: Annotated[Literal[states.STATUSES] | None, Query()] = None,  # type: ignore[valid-type]
    # Upstream's query names, as POST /orders takes its body names.
    buyer_id: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    seller_id: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
):
    buyer, seller = _one_of("buyerId", buyerId, buyer_id), _one_of("sellerId", sellerId, seller_id)
    return paged(request, service.list_orders(page, buyer_id=buyer, seller_id=seller, status=status))


def _one_of(field: str, ours: str | None, upstream: str | None) -> str | None:
    if ours is not None and upstream is not None and ours != upstream:
        raise ValidationFailed(f"{field} and its upstream name disagree", details={"field": field})
    return ours if ours is not None else upstream


@router.get("/{order_id}")
async def get_order(request: Request, order_id: str, _: Annotated[RequestContext, Depends(require("read"))]):
    return ok(request, service.get_order(order_id))


@router.post("/{order_id}/reserve")
async def reserve(request: Request, order_id: str, ctx: Annotated[RequestContext, Depends(require("write"))]):
    return ok(request, service.reserve(ctx, order_id))


@router.post("/{order_id}/cancel")
async def cancel(request: Request, order_id: str, ctx: Annotated[RequestContext, Depends(require("write"))],
                 body: CancelOrder | None = None):
    return ok(request, cancel_order(ctx, order_id, body.reason if body else None))


@router.get("/{order_id}/milestones")
async def milestones(request: Request, order_id: str, _: Annotated[RequestContext, Depends(require("read"))]):
    return ok(request, service.list_milestones(order_id))


@router.post("/{order_id}/milestones/{ref}/complete")
async def complete(request: Request, order_id: str, ref: str,
                   ctx: Annotated[RequestContext, Depends(require("write"))]):
    return ok(request, complete_milestone(ctx, order_id, ref))


app = create_api(router, title="orders")
handler = make_handler(app)
