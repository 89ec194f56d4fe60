"""balance: read a user's balance and ledger lines; manual credit/debit by support (audited)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request

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
from offerhub.wallets.sync import sync_balance

router = APIRouter(prefix="/balance")


class Adjustment(StrictBody):
    amount: AmountText
    reason: Text
    currency: str = "USD"
    reference: NonEmpty | None = None


@router.get("/{user_id}")
async def get_balance(request: Request, user_id: str, _: Annotated[RequestContext, Depends(require("read"))]):
    return ok(request, service.get_balance(user_id).to_public())


@router.get("/{user_id}/entries")
async def list_entries(request: Request, user_id: str, _: Annotated[RequestContext, Depends(require("read"))],
                       page: Annotated[PageRequest, Depends(page_request)]):
    return paged(request, service.list_entries(user_id, page))


@router.post("/{user_id}/credit")
async def credit(request: Request, user_id: str, body: Adjustment,
                 ctx: Annotated[RequestContext, Depends(require("support"))]):
    return ok(request, _adjust(ctx, user_id, "credit", body))


@router.post("/{user_id}/debit")
async def debit(request: Request, user_id: str, body: Adjustment,
                ctx: Annotated[RequestContext, Depends(require("support"))]):
    return ok(request, _adjust(ctx, user_id, "debit", body))


@router.post("/{user_id}/sync")
async def sync(request: Request, user_id: str, ctx: Annotated[RequestContext, Depends(require("write"))]):
    return ok(request, sync_balance(ctx, user_id))


def _adjust(ctx: RequestContext, user_id: str, operation: str, body: Adjustment) -> dict:
    check_currency(body.currency)
    amount = parse_amount(body.amount)
    return adjust_balance(ctx, user_id, operation, amount, reason=body.reason, reference=body.reference)


app = create_api(router, title="balance")
handler = make_handler(app)
