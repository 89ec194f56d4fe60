"""escrow: deploy the order's Trustless Work contract, fund it, read it (our record + on-chain state). Deploy and
fund also answer at upstream's paths, POST /orders/{id}/escrow and /orders/{id}/escrow/fund (same use cases,
the escrow found by its order)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from offerhub.core.context import RequestContext
from offerhub.escrow import service
from offerhub.http.app import create_api
from offerhub.http.lambda_entry import make_handler
from offerhub.http.params import NonEmpty, StrictBody
from offerhub.http.responses import ok
from offerhub.http.security import require

router = APIRouter()


class CreateEscrow(StrictBody):
    orderId: NonEmpty


@router.post("/escrow")
async def create_escrow(request: Request, body: CreateEscrow,
                        ctx: Annotated[RequestContext, Depends(require("write"))]):
    return ok(request, service.create_escrow(ctx, body.orderId), status=201)


@router.post("/escrow/{escrow_id}/fund")
async def fund(request: Request, escrow_id: str, ctx: Annotated[RequestContext, Depends(require("write"))]):
    return ok(request, service.fund_escrow(ctx, escrow_id))


@router.post("/orders/{order_id}/escrow")
async def create_order_escrow(request: Request, order_id: str,
                              ctx: Annotated[RequestContext, Depends(require("write"))]):
    return ok(request, service.create_escrow(ctx, order_id), status=201)


@router.post("/orders/{order_id}/escrow/fund")
async def fund_order_escrow(request: Request, order_id: str,
                            ctx: Annotated[RequestContext, Depends(require("write"))]):
    return ok(request, service.fund_order_escrow(ctx, order_id))


@router.get("/escrow/{escrow_id}")
async def get_escrow(request: Request, escrow_id: str, _: Annotated[RequestContext, Depends(require("read"))]):
    return ok(request, service.get_escrow(escrow_id))


app = create_api(router, title="escrow")
handler = make_handler(app)
