"""health: GET /api/v1/health (public)."""

from fastapi import APIRouter, Request

from offerhub.health import check_health
from offerhub.http.app import create_api
from offerhub.http.lambda_entry import make_handler
from offerhub.http.responses import ok

router = APIRouter()


@router.get("/health")
async def health(request: Request):
    report = check_health()
    return ok(request, report, status=200 if report["status"] == "healthy" else 503)


app = create_api(router, title="health")
handler = make_handler(app)
