"""resolution: release to the seller, refund to the buyer, settle a dispute with amounts. Release and refund
also answer at upstream's paths, POST /orders/{id}/resolution/release|refund (same use cases; the order is the
path's). The dispute one, POST /orders/{id}/resolution/dispute, is served by the disputes function."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from offerhub.core.context import RequestContext
from offerhub.core.money import parse_amount
from offerhub.disputes import service as disputes
from offerhub.http.app import create_api
from offerhub.http.lambda_entry import make_handler
from offerhub.http.params import AmountText, NonEmpty, StrictBody, Text
from offerhub.http.responses import ok
from offerhub.http.security import require
from offerhub.resolution import service

router = APIRouter()


class Release(StrictBody):
    orderId: NonEmpty
    reason: Text | None = None


class Refund(StrictBody):
    orderId: NonEmpty
    reason: Text


class OrderRelease(StrictBody):
    reason: Text | None = None


class OrderRefund(StrictBody):
    reason: Text


class Resolve(StrictBody):
    disputeId: NonEmpty
    releaseAmount: AmountText
    refundAmount: AmountText
    note: Text | None = None


@router.post("/resolution/release")
async def release(request: Request, body: Release, ctx: Annotated[RequestContext, Depends(require("write"))]):
    return ok(request, service.release(ctx, body.orderId))


@router.post("/resolution/refund")
async def refund(request: Request, body: Refund, ctx: Annotated[RequestContext, Depends(require("write"))]):
    return ok(request, service.refund(ctx, body.orderId, body.reason))


@router.post("/orders/{order_id}/resolution/release")
async def release_order(request: Request, order_id: str, ctx: Annotated[RequestContext, Depends(require("write"))],
                        body: OrderRelease | None = None):
    return ok(request, service.release(ctx, order_id))


@router.post("/orders/{order_id}/resolution/refund")
async def refund_order(request: Request, order_id: str, body: OrderRefund,
                       ctx: Annotated[RequestContext, Depends(require("write"))]):
    return ok(request, service.refund(ctx, order_id, body.reason))


@router.post("/resolution/resolve")
async def resolve(request: Request, body: Resolve, ctx: Annotated[RequestContext, Depends(require("support"))]):
    release_amount = parse_amount(body.releaseAmount, field="releaseAmount", allow_zero=True)
    refund_amount = parse_amount(body.refundAmount, field="refundAmount", allow_zero=True)
    return ok(request, disputes.resolve_by_amounts(ctx, body.disputeId, release_amount, refund_amount, body.note))


app = create_api(router, title="resolution")
handler = make_handler(app)
