"""webhook_endpoints: where integrators receive signed webhooks — register (the secret is shown once), read,
list, delete, rotate the secret, enable again; an endpoint's deliveries and a manual retry of one."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field, StringConstraints

from offerhub.core.context import RequestContext
from offerhub.core.pagination import PageRequest
from offerhub.http.app import create_api
from offerhub.http.lambda_entry import make_handler
from offerhub.http.params import StrictBody, Text, page_request
from offerhub.http.responses import ok, paged
from offerhub.http.security import require
from offerhub.outbound import service
from offerhub.outbound.urls import MAX_URL_LENGTH

router = APIRouter(prefix="/webhook-endpoints")

EventPattern = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class CreateEndpoint(StrictBody):
    url: Annotated[str, StringConstraints(min_length=1, max_length=MAX_URL_LENGTH)]
    types: Annotated[list[EventPattern], Field(min_length=1, max_length=100)] | None = None
    description: Text | None = None


@router.post("")
async def create_endpoint(request: Request, body: CreateEndpoint,
                          ctx: Annotated[RequestContext, Depends(require("write"))]):
    return ok(request, service.create_endpoint(ctx, url=body.url, types=body.types, description=body.description),
              status=201)


@router.get("")
async def list_endpoints(request: Request, _: Annotated[RequestContext, Depends(require("read"))],
                         page: Annotated[PageRequest, Depends(page_request)]):
    return paged(request, service.list_endpoints(page))


@router.get("/{endpoint_id}")
async def get_endpoint(request: Request, endpoint_id: str, _: Annotated[RequestContext, Depends(require("read"))]):
    return ok(request, service.get_endpoint(endpoint_id))


@router.delete("/{endpoint_id}")
async def delete_endpoint(request: Request, endpoint_id: str,
                          ctx: Annotated[RequestContext, Depends(require("write"))]):
    return ok(request, service.delete_endpoint(ctx, endpoint_id))


@router.post("/{endpoint_id}/rotate-secret")
async def rotate_secret(request: Request, endpoint_id: str, ctx: Annotated[RequestContext, Depends(require("write"))]):
    return ok(request, service.rotate_secret(ctx, endpoint_id))


@router.post("/{endpoint_id}/enable")
async def enable_endpoint(request: Request, endpoint_id: str,
                          ctx: Annotated[RequestContext, Depends(require("write"))]):
    return ok(request, service.enable_endpoint(ctx, endpoint_id))


@router.get("/{endpoint_id}/deliveries")
async def list_deliveries(
    request: Request,
    endpoint_id: str,
    _: Annotated[RequestContext, Depends(require("read"))],
    page: Annotated[PageRequest, Depends(page_request)],
    status: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
):
    return paged(request, service.list_deliveries(endpoint_id, page, status=status))


@router.post("/{endpoint_id}/deliveries/{delivery_id}/retry")
async def retry_delivery(request: Request, endpoint_id: str, delivery_id: str,
                         ctx: Annotated[RequestContext, Depends(require("write"))]):
    return ok(request, service.retry_delivery(ctx, endpoint_id, delivery_id))


app = create_api(router, title="webhook_endpoints")
handler = make_handler(app)
