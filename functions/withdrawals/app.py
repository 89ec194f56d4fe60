"""withdrawals: money out — an Airtm payout (airtm mode) or a USDC payment to a Stellar address (crypto
mode); create, commit, cancel, refresh, read, list."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field

from offerhub.core.context import RequestContext
from offerhub.core.money import check_currency, parse_amount
from offerhub.core.pagination import PageRequest
from offerhub.http.app import create_api
from offerhub.http.lambda_entry import make_handler
from offerhub.http.params import AmountText, NonEmpty, StrictBody, Text, page_request
from offerhub.http.responses import ok, paged
from offerhub.http.security import require
from offerhub.withdrawals import service
from offerhub.withdrawals.stellar_rail import MAX_MEMO_ID

router = APIRouter(prefix="/withdrawals")

class CreateWithdrawal(StrictBody):
    userId: NonEmpty
    amount: AmountText
    destinationType: NonEmpty
    destinationRef: NonEmpty | None = None
    currency: str = "USD"
    commit: bool = False
    description: Text | None = None
    # Text or id. A constrained str also refuses what Postgres cannot store (lone surrogates); the crypto rail
    # checks the memo's own rules (28 bytes, uint64) and answers DESTINATION_INVALID / MEMO_INVALID.
    memo: Annotated[str, Field(min_length=1, max_length=64)] | Annotated[int, Field(ge=0, le=MAX_MEMO_ID)] | None = None


@router.post("")
async def create_withdrawal(request: Request, body: CreateWithdrawal,
                            ctx: Annotated[RequestContext, Depends(require("write"))]):
    check_currency(body.currency)
    withdrawal = service.create_withdrawal(ctx, service.NewWithdrawal(
        user_id=body.userId, amount=parse_amount(body.amount), destination_type=body.destinationType,
        destination_ref=body.destinationRef, commit=body.commit, description=body.description, memo=body.memo))
    return ok(request, withdrawal, status=201)


@router.get("")
async def list_withdrawals(
    request: Request,
    _: Annotated[RequestContext, Depends(require("read"))],
    page: Annotated[PageRequest, Depends(page_request)],
    userId: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    status: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
):
    return paged(request, service.list_withdrawals(page, user_id=userId, status=status))


@router.get("/{withdrawal_id}")
async def get_withdrawal(request: Request, withdrawal_id: str, _: Annotated[RequestContext, Depends(require("read"))]):
    return ok(request, service.get_withdrawal(withdrawal_id))


@router.post("/{withdrawal_id}/commit")
async def commit(request: Request, withdrawal_id: str, ctx: Annotated[RequestContext, Depends(require("write"))]):
    return ok(request, service.commit_withdrawal(ctx, withdrawal_id))


@router.post("/{withdrawal_id}/cancel")
async def cancel(request: Request, withdrawal_id: str, ctx: Annotated[RequestContext, Depends(require("write"))]):
    return ok(request, service.cancel_withdrawal(ctx, withdrawal_id))


@router.post("/{withdrawal_id}/refresh")
async def refresh(request: Request, withdrawal_id: str, ctx: Annotated[RequestContext, Depends(require("write"))]):
    return ok(request, service.refresh_withdrawal(ctx, withdrawal_id))


app = create_api(router, title="withdrawals")
handler = make_handler(app)
