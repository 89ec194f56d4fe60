"""topups (airtm mode): fiat pay-ins through Airtm — create (the user confirms on Airtm's checkout), read,
list, cancel while awaiting the user, refresh from Airtm; the payer's return from the checkout (public)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse

from offerhub.core.context import RequestContext
from offerhub.core.money import check_currency, parse_amount
from offerhub.core.pagination import PageRequest
from offerhub.http.app import create_api
from offerhub.http.lambda_entry import make_handler
from offerhub.http.params import AmountText, NonEmpty, StrictBody, Text, page_request
from offerhub.http.responses import ok, paged, request_id_of
from offerhub.http.security import require
from offerhub.topups import service

router = APIRouter(prefix="/topups")


class CreateTopup(StrictBody):
    userId: NonEmpty
    amount: AmountText
    currency: str = "USD"
    description: Text | None = None


@router.post("")
async def create_topup(request: Request, body: CreateTopup, ctx: Annotated[RequestContext, Depends(require("write"))]):
    check_currency(body.currency)
    return ok(request, service.create_topup(ctx, body.userId, parse_amount(body.amount), body.description),
              status=201)


@router.get("")
async def list_topups(
    request: Request,
    _: Annotated[RequestContext, Depends(require("read"))],
    page: Annotated[PageRequest, Depends(page_request)],
    userId: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    status: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
):
    return paged(request, service.list_topups(page, user_id=userId, status=status))


@router.get("/{topup_id}")
async def get_topup(request: Request, topup_id: str, _: Annotated[RequestContext, Depends(require("read"))]):
    return ok(request, service.get_topup(topup_id))


@router.get("/{topup_id}/callback")
async def callback(request: Request, topup_id: str,
                   status: Annotated[str | None, Query(max_length=64)] = None,
                   code: Annotated[str | None, Query(max_length=255)] = None):
    """Public: the payer's browser, back from Airtm's checkout (no key; `status` and `code` are not trusted)."""
    shown, redirect = service.payer_returned(RequestContext(request_id=request_id_of(request)), topup_id)
    return RedirectResponse(redirect, status_code=302) if redirect else ok(request, shown)


@router.post("/{topup_id}/cancel")
async def cancel(request: Request, topup_id: str, ctx: Annotated[RequestContext, Depends(require("write"))]):
    return ok(request, service.cancel_topup(ctx, topup_id))


@router.post("/{topup_id}/refresh")
async def refresh(request: Request, topup_id: str, ctx: Annotated[RequestContext, Depends(require("write"))]):
    return ok(request, service.refresh_topup(ctx, topup_id))


app = create_api(router, title="topups")
handler = make_handler(app)
