"""test-helpers: sandbox rails only (404 otherwise): a real USDC deposit on the sandbox network, and
rail fault injection."""

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


@router.post("/deposits")
async def deposit(request: Request, body: Deposit, _: Annotated[RequestContext, Depends(require("write"))]):
    return ok(request, helpers.deposit(body.userId, parse_amount(body.amount)), status=201)


@router.post("/faults")
async def fault(request: Request, body: Fault, _: Annotated[RequestContext, Depends(require("write"))]):
    return ok(request, helpers.arm_fault(body.target, body.mode, body.count))


app = create_api(router, title="test-helpers")
handler = make_handler(app)
