"""audit: search (also at upstream's GET /audit/logs) and read the immutable audit log (scope support)."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from offerhub.audit.service import get_audit_log, search_audit_logs
from offerhub.audit.store import AuditFilter
from offerhub.core.context import RequestContext
from offerhub.core.pagination import PageRequest
from offerhub.http.app import create_api
from offerhub.http.lambda_entry import make_handler
from offerhub.http.params import page_request
from offerhub.http.responses import ok, paged
from offerhub.http.security import require

router = APIRouter()
Filter = Annotated[str | None, Query(min_length=1, max_length=255)]


# /audit/logs is upstream's path (its query names are ours too, plus userId). Declared before /audit/{audit_id},
# so "logs" is never read as an id (API Gateway, and the local gateway, also prefer the literal segment).
@router.get("/audit")
@router.get("/audit/logs")
async def search(
    request: Request,
    _: Annotated[RequestContext, Depends(require("support"))],
    page: Annotated[PageRequest, Depends(page_request)],
    resourceType: Filter = None,
    resourceId: Filter = None,
    action: Filter = None,
    actorId: Filter = None,
    userId: Filter = None,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: Annotated[datetime | None, Query()] = None,
):
    f = AuditFilter(resource_type=resourceType, resource_id=resourceId, action=action, actor_id=actorId,
                    occurred_from=from_, occurred_to=to, user_id=userId)
    return paged(request, search_audit_logs(f, page))


@router.get("/audit/{audit_id}")
async def get(request: Request, audit_id: str, _: Annotated[RequestContext, Depends(require("support"))]):
    return ok(request, get_audit_log(audit_id))


app = create_api(router, title="audit")
handler = make_handler(app)
