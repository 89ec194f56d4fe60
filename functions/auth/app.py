"""auth: API keys (master key only), short-lived tokens for a key (the key itself or the master key), and the
caller's identity."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import Field, StringConstraints

from offerhub.auth import service, tokens
from offerhub.auth.service import Principal
from offerhub.core.context import RequestContext
from offerhub.core.pagination import PageRequest
from offerhub.http.app import create_api
from offerhub.http.lambda_entry import make_handler
from offerhub.http.params import StrictBody, page_request
from offerhub.http.responses import ok, paged, request_id_of
from offerhub.http.security import any_key, master_only, token_from_headers

router = APIRouter(prefix="/auth")


class CreateApiKey(StrictBody):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    scopes: list[str]


@router.post("/api-keys")
async def create_api_key(request: Request, body: CreateApiKey,
                         ctx: Annotated[RequestContext, Depends(master_only)]):
    return ok(request, service.create_api_key(ctx, name=body.name, scopes=body.scopes), status=201)


@router.get("/api-keys")
async def list_api_keys(request: Request, _: Annotated[RequestContext, Depends(master_only)],
                        page: Annotated[PageRequest, Depends(page_request)]):
    return paged(request, service.list_api_keys(page))


@router.delete("/api-keys/{key_id}")
async def revoke_api_key(request: Request, key_id: str, ctx: Annotated[RequestContext, Depends(master_only)]):
    return ok(request, service.revoke_api_key(ctx, key_id))


class IssueToken(StrictBody):
    scopes: Annotated[list[str], Field(max_length=10)] | None = None
    expiresIn: int | None = None


@router.post("/api-keys/{key_id}/token")
async def issue_token(request: Request, key_id: str, who: Annotated[Principal, Depends(any_key)],
                      body: IssueToken | None = None):
    ctx = RequestContext(request_id=request_id_of(request), actor=who.actor)
    presented = token_from_headers(request.headers.get("authorization"), request.headers.get("x-api-key"))
    return ok(request, tokens.issue(ctx, who, key_id, scopes=body.scopes if body else None,
                                    expires_in=body.expiresIn if body else None,
                                    caller_is_token=tokens.is_token(presented)), status=201)


@router.get("/me")
async def me(request: Request, who: Annotated[Principal, Depends(any_key)]):
    return ok(request, {"apiKeyId": who.key_id, "apiKeyName": who.name, "scopes": sorted(who.scopes),
                        "isMaster": who.is_master})


app = create_api(router, title="auth")
handler = make_handler(app)
