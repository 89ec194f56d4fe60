"""events: replay the event log, oldest first, resumable with a cursor (scope read)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from offerhub.core.context import RequestContext
from offerhub.core.pagination import PageRequest
from offerhub.events.service import list_events
from offerhub.http.app import create_api
from offerhub.http.lambda_entry import make_handler
from offerhub.http.params import page_request
from offerhub.http.responses import paged
from offerhub.http.security import require

router = APIRouter(prefix="/events")


@router.get("")
async def replay(
    request: Request,
    _: Annotated[RequestContext, Depends(require("read"))],
    page: Annotated[PageRequest, Depends(page_request)],
    type: Annotated[list[str], Query(max_length=20)] = [],  # noqa: B006 - FastAPI copies defaults
    resourceId: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
):
    return paged(request, list_events(page, types=type, resource_id=resourceId))


app = create_api(router, title="events")
handler = make_handler(app)
