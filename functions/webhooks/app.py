"""webhooks (no API key): provider webhooks in — verify the signature over the raw bytes, record once,
enqueue for the worker. 401 WEBHOOK_SIGNATURE_INVALID stores nothing."""

from fastapi import APIRouter, Request

from offerhub.core.context import RequestContext
from offerhub.http.app import create_api
from offerhub.http.lambda_entry import make_handler
from offerhub.http.responses import ok, request_id_of
from offerhub.webhooks import ingress

router = APIRouter(prefix="/webhooks")


@router.post("/airtm")
async def airtm(request: Request):
    ctx = RequestContext(request_id=request_id_of(request))
    return ok(request, ingress.receive_airtm(ctx, request.headers, await request.body()))


@router.post("/trustless-work")
async def trustless_work(request: Request):
    ctx = RequestContext(request_id=request_id_of(request))
    return ok(request, ingress.receive_trustless_work(ctx, request.headers, await request.body()))


app = create_api(router, title="webhooks", raw_body=True)
handler = make_handler(app)
