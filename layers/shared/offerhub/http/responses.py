"""Response helpers used by the route functions."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from offerhub.core.pagination import Page
from offerhub.http import envelope


class EnvelopeResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return envelope.dumps(content).encode()


def request_id_of(request: Request) -> str:
    return request.scope["offerhub.request_id"]


def ok(request: Request, data: Any, *, status: int = 200) -> EnvelopeResponse:
    return EnvelopeResponse(envelope.success(data, request_id_of(request)), status_code=status)


def paged(request: Request, page: Page) -> EnvelopeResponse:
    return EnvelopeResponse(envelope.success(page.items, request_id_of(request), page))
