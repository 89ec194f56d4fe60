"""audit: search and read the immutable audit log (scope support)."""

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

router = APIRouter(prefix="/audit")
Filter = Annotated[str | None, Query(min_length=1, max_length=255)]


@router.get("")
async def search(
    request: Request,
    _: Annotated[RequestContext, Depends(require("support"))],
    page: Annotated[PageRequest, Depends(page_request)],
    resourceType: Filter = None,
    resourceId: Filter = None,
    action: Filter = None,
    actorId: Filter = None,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: Annotated[datetime | None, Query()] = None,
):
    f = AuditFilter(resource_type=resourceType, resource_id=resourceId, action=action, actor_id=actorId,
                    occurred_from=from_, occurred_to=to)
    return paged(request, search_audit_logs(f, page))


@router.get("/{audit_id}")
async def get(request: Request, audit_id: str, _: Annotated[RequestContext, Depends(require("support"))]):
    return ok(request, get_audit_log(audit_id))


app = create_api(router, title="audit")
handler = make_handler(app)
