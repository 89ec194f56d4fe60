"""wallet: a user's invisible Stellar wallet (public key, balances), deposit instructions and its latest payments
on chain (upstream's GET /users/{userId}/wallet/transactions; crypto mode)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from offerhub.core.context import RequestContext
from offerhub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from offerhub.http.app import create_api
from offerhub.http.lambda_entry import make_handler
from offerhub.http.responses import ok
from offerhub.http.security import require
from offerhub.wallets import service

router = APIRouter(prefix="/users/{user_id}/wallet")


@router.get("")
async def get_wallet(request: Request, user_id: str, _: Annotated[RequestContext, Depends(require("read"))]):
    return ok(request, service.get_wallet(user_id))


@router.get("/deposit")
async def deposit(request: Request, user_id: str, _: Annotated[RequestContext, Depends(require("read"))]):
    return ok(request, service.deposit_instructions(user_id))


@router.get("/transactions")
async def transactions(request: Request, user_id: str, _: Annotated[RequestContext, Depends(require("read"))],
                       limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT):
    return ok(request, service.wallet_transactions(user_id, limit))


app = create_api(router, title="wallet")
handler = make_handler(app)
