"""health: GET /api/v1/health (public); GET /api/v1/openapi.json (public: the API's OpenAPI document);
GET /health/detailed (every dependency, bounded in time, always 200) and GET /config (currencies, enforced limits,
features, providers) with a key (scope read)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from offerhub.core.context import RequestContext
from offerhub.health import check_health, check_health_detailed
from offerhub.http.app import create_api
from offerhub.http.lambda_entry import make_handler
from offerhub.http.ratelimit import database_ms_of_admission
from offerhub.http.responses import ok
from offerhub.http.security import require
from offerhub.openapi import document
from offerhub.public_config import public_config

router = APIRouter()


@router.get("/health")
async def health(request: Request):
    report = check_health(database_ms=database_ms_of_admission())  # the rate limiter's statement reached Postgres
    return ok(request, report, status=200 if report["status"] == "healthy" else 503)


@router.get("/health/detailed")
async def health_detailed(request: Request, _: Annotated[RequestContext, Depends(require("read"))]):
    return ok(request, check_health_detailed())


@router.get("/config")
async def config(request: Request, _: Annotated[RequestContext, Depends(require("read"))]):
    return ok(request, public_config())


@router.get("/openapi.json")
async def openapi_document():
    return Response(document(), media_type="application/json", headers={"cache-control": "public, max-age=300"})


app = create_api(router, title="health")
handler = make_handler(app)
