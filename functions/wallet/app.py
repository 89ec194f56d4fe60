"""wallet: a user's invisible Stellar wallet (public key, balances) and deposit instructions."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from offerhub.core.context import RequestContext
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


app = create_api(router, title="wallet")
handler = make_handler(app)
