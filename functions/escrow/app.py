"""escrow: deploy the order's Trustless Work contract, fund it, read it (our record + on-chain state)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from offerhub.core.context import RequestContext
from offerhub.escrow import service
from offerhub.http.app import create_api
from offerhub.http.lambda_entry import make_handler
from offerhub.http.params import NonEmpty, StrictBody
from offerhub.http.responses import ok
from offerhub.http.security import require

router = APIRouter(prefix="/escrow")


class CreateEscrow(StrictBody):
    orderId: NonEmpty


@router.post("")
async def create_escrow(request: Request, body: CreateEscrow,
                        ctx: Annotated[RequestContext, Depends(require("write"))]):
    return ok(request, service.create_escrow(ctx, body.orderId), status=201)


@router.post("/{escrow_id}/fund")
async def fund(request: Request, escrow_id: str, ctx: Annotated[RequestContext, Depends(require("write"))]):
    return ok(request, service.fund_escrow(ctx, escrow_id))


@router.get("/{escrow_id}")
async def get_escrow(request: Request, escrow_id: str, _: Annotated[RequestContext, Depends(require("read"))]):
    return ok(request, service.get_escrow(escrow_id))


app = create_api(router, title="escrow")
handler = make_handler(app)
