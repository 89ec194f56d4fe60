"""test-helpers: sandbox rails only (404 otherwise): a real USDC deposit on the sandbox network, the Airtm
user's side of a payin or a pending payout, external Stellar accounts, and rail fault injection."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from offerhub.core.context import RequestContext
from offerhub.core.money import parse_amount
from offerhub.http.app import create_api
from offerhub.http.lambda_entry import make_handler
from offerhub.http.params import AmountText, NonEmpty, StrictBody
from offerhub.http.responses import ok
from offerhub.http.security import require
from offerhub.sandbox import helpers

router = APIRouter(prefix="/test-helpers")


class Deposit(StrictBody):
    userId: NonEmpty
    amount: AmountText


class Fault(StrictBody):
    target: Literal[helpers.FAULT_TARGETS]  # type: ignore[valid-type]
    mode: Literal[helpers.FAULT_MODES] = "error"  # type: ignore[valid-type]
    count: int = Field(1, ge=0, le=100)


class TopupOutcome(StrictBody):
    outcome: Literal[helpers.TOPUP_OUTCOMES]  # type: ignore[valid-type]


class PayoutOutcome(StrictBody):
    outcome: Literal[helpers.PAYOUT_OUTCOMES]  # type: ignore[valid-type]


class StellarAccount(StrictBody):
    trustUsdc: bool = True


@router.post("/deposits")
async def deposit(request: Request, body: Deposit, _: Annotated[RequestContext, Depends(require("write"))]):
    return ok(request, helpers.deposit(body.userId, parse_amount(body.amount)), status=201)


@router.post("/faults")
async def fault(request: Request, body: Fault, _: Annotated[RequestContext, Depends(require("write"))]):
    return ok(request, helpers.arm_fault(body.target, body.mode, body.count))


@router.post("/topups/{topup_id}/complete")
async def complete_topup(request: Request, topup_id: str, body: TopupOutcome,
                         _: Annotated[RequestContext, Depends(require("write"))]):
    return ok(request, helpers.complete_topup(topup_id, body.outcome))


@router.post("/withdrawals/{withdrawal_id}/complete")
async def complete_withdrawal(request: Request, withdrawal_id: str, body: PayoutOutcome,
                              _: Annotated[RequestContext, Depends(require("write"))]):
    return ok(request, helpers.complete_withdrawal(withdrawal_id, body.outcome))


@router.post("/stellar-accounts")
async def new_stellar_account(request: Request, body: StellarAccount,
                              _: Annotated[RequestContext, Depends(require("write"))]):
    return ok(request, helpers.new_stellar_account(body.trustUsdc), status=201)


@router.get("/stellar-accounts/{address}")
async def stellar_account(request: Request, address: str, _: Annotated[RequestContext, Depends(require("read"))]):
    return ok(request, helpers.stellar_account(address))


app = create_api(router, title="test-helpers")
handler = make_handler(app)
