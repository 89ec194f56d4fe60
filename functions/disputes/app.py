"""disputes: open (also at upstream's POST /orders/{id}/resolution/dispute), read (with comments), list,
comment, assign to a support agent and resolve (both scope support)."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field

from offerhub.auth.service import Principal
from offerhub.core.context import RequestContext
from offerhub.core.errors import ValidationFailed
from offerhub.core.money import parse_amount
from offerhub.core.pagination import PageRequest
from offerhub.disputes import service
from offerhub.http.app import create_api
from offerhub.http.lambda_entry import make_handler
from offerhub.http.params import AmountText, NonEmpty, StrictBody, Text, page_request
from offerhub.http.responses import ok, paged
from offerhub.http.security import any_key, require

router = APIRouter()


class OpenDispute(StrictBody):
    orderId: NonEmpty
    openedBy: Literal["BUYER", "SELLER"]
    reason: Literal["NOT_DELIVERED", "QUALITY_ISSUE", "OTHER"]
    evidence: list[Text] = Field(default_factory=list, max_length=20)


class OpenOrderDispute(StrictBody):
    """Upstream's body: the order is the path's; `orderId`, when sent (upstream required it), must match it."""

    orderId: NonEmpty | None = None
    openedBy: Literal["BUYER", "SELLER"]
    reason: Literal["NOT_DELIVERED", "QUALITY_ISSUE", "OTHER"]
    evidence: list[Text] = Field(default_factory=list, max_length=20)


class AssignDispute(StrictBody):
    assignedTo: NonEmpty


class ResolveDispute(StrictBody):
    decision: Literal["FULL_RELEASE", "FULL_REFUND", "SPLIT"]
    releaseAmount: AmountText | None = None
    refundAmount: AmountText | None = None
    note: Text | None = None


class Comment(StrictBody):
    body: Annotated[str, Field(min_length=1, max_length=5000)]
    authorRole: Literal["BUYER", "SELLER", "SUPPORT"] | None = None


@router.post("/disputes")
async def open_dispute(request: Request, body: OpenDispute, ctx: Annotated[RequestContext, Depends(require("write"))]):
    return ok(request, service.open_dispute(ctx, body.orderId, body.openedBy, body.reason, body.evidence), status=201)


@router.post("/orders/{order_id}/resolution/dispute")
async def open_order_dispute(request: Request, order_id: str, body: OpenOrderDispute,
                             ctx: Annotated[RequestContext, Depends(require("write"))]):
    if body.orderId is not None and body.orderId != order_id:
        raise ValidationFailed("orderId must be the path's order id (or left out)", details={"field": "orderId"})
    return ok(request, service.open_dispute(ctx, order_id, body.openedBy, body.reason, body.evidence), status=201)


@router.get("/disputes")
async def list_disputes(
    request: Request,
    _: Annotated[RequestContext, Depends(require("read"))],
    page: Annotated[PageRequest, Depends(page_request)],
    orderId: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    status: Annotated[Literal["OPEN", "UNDER_REVIEW", "RESOLVING", "RESOLVED"] | None, Query()] = None,
    openedBy: Annotated[Literal["BUYER", "SELLER"] | None, Query()] = None,
):
    return paged(request, service.list_disputes(page, order_id=orderId, status=status, opened_by=openedBy))


@router.get("/disputes/{dispute_id}")
async def get_dispute(request: Request, dispute_id: str, _: Annotated[RequestContext, Depends(require("read"))]):
    return ok(request, service.get_dispute(dispute_id))


@router.post("/disputes/{dispute_id}/comments")
async def comment(request: Request, dispute_id: str, body: Comment,
                  ctx: Annotated[RequestContext, Depends(require("write"))],
                  who: Annotated[Principal, Depends(any_key)]):
    return ok(request, service.add_comment(ctx, dispute_id, body.body, body.authorRole,
                                           as_support=who.is_master or "support" in who.scopes), status=201)


@router.post("/disputes/{dispute_id}/assign")
async def assign(request: Request, dispute_id: str, body: AssignDispute,
                 ctx: Annotated[RequestContext, Depends(require("support"))]):
    return ok(request, service.assign(ctx, dispute_id, body.assignedTo))


@router.post("/disputes/{dispute_id}/resolve")
async def resolve(request: Request, dispute_id: str, body: ResolveDispute,
                  ctx: Annotated[RequestContext, Depends(require("support"))]):
    release = None if body.releaseAmount is None else parse_amount(body.releaseAmount, field="releaseAmount",
                                                                   allow_zero=True)
    refund = None if body.refundAmount is None else parse_amount(body.refundAmount, field="refundAmount",
                                                                 allow_zero=True)
    return ok(request, service.resolve(ctx, dispute_id, body.decision, release, refund, body.note))


app = create_api(router, title="disputes")
handler = make_handler(app)
