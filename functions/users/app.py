"""users: create (idempotent by externalUserId), get, list; link an Airtm account (airtm mode)."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import StringConstraints

from offerhub.core.context import RequestContext
from offerhub.core.pagination import PageRequest
from offerhub.http.app import create_api
from offerhub.http.lambda_entry import make_handler
from offerhub.http.params import NonEmpty, StrictBody, page_request
from offerhub.http.responses import ok, paged
from offerhub.http.security import require
from offerhub.users import airtm_link, service

router = APIRouter(prefix="/users")

Email = Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class CreateUser(StrictBody):
    externalUserId: NonEmpty
    email: Email | None = None
    type: Literal["BUYER", "SELLER", "BOTH"] = "BOTH"


@router.post("")
async def create_user(request: Request, body: CreateUser, ctx: Annotated[RequestContext, Depends(require("write"))]):
    user, created = service.create_user(
        ctx, service.NewUser(external_user_id=body.externalUserId, email=body.email, type=body.type)
    )
    return ok(request, user, status=201 if created else 200)


@router.get("")
async def list_users(
    request: Request,
    _: Annotated[RequestContext, Depends(require("read"))],
    page: Annotated[PageRequest, Depends(page_request)],
    externalUserId: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
):
    return paged(request, service.list_users(page, external_user_id=externalUserId))


@router.get("/{user_id}")
async def get_user(request: Request, user_id: str, _: Annotated[RequestContext, Depends(require("read"))]):
    return ok(request, service.get_user(user_id))


class LinkAirtm(StrictBody):
    email: Email


@router.post("/{user_id}/airtm/link")
async def link_airtm(request: Request, user_id: str, body: LinkAirtm,
                     ctx: Annotated[RequestContext, Depends(require("write"))]):
    return ok(request, airtm_link.link(ctx, user_id, body.email))


app = create_api(router, title="users")
handler = make_handler(app)
