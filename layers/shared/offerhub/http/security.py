"""Route dependencies: who is calling, and may they."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from starlette.requests import Request

from offerhub.auth.service import Principal, authenticate
from offerhub.core.context import RequestContext
from offerhub.http.responses import request_id_of


def token_from_headers(authorization: str | None, x_api_key: str | None) -> str | None:
    """The key from `Authorization: Bearer <key>`, else from `X-API-Key`. A blank Authorization (empty, or
    `Bearer` with no token, as some clients send when their token variable is unset) does not hide an
    X-API-Key; a non-empty token always wins; another scheme (`Basic ...`) is no key at all."""
    scheme, _, value = (authorization or "").strip().partition(" ")
    token = value.strip()
    if scheme and scheme.lower() != "bearer":
        return None
    return token if token else x_api_key


# Routes are `async def` and call the (synchronous) layer directly: a Lambda container serves one request
# at a time, so blocking the loop costs nothing and saves a thread hop per request.
async def principal(request: Request) -> Principal:
    cached = request.scope.get("offerhub.principal")
    if cached is None:
        cached = authenticate(
            token_from_headers(request.headers.get("authorization"), request.headers.get("x-api-key"))
        )
        request.scope["offerhub.principal"] = cached
    return cached


def require(scope: str) -> Callable[[Request], Coroutine[Any, Any, RequestContext]]:
    """Dependency: the caller must hold `scope`. Yields the RequestContext for the use case."""

    async def dependency(request: Request) -> RequestContext:
        who = await principal(request)
        who.require(scope)
        return RequestContext(request_id=request_id_of(request), actor=who.actor)

    return dependency


async def master_only(request: Request) -> RequestContext:
    who = await principal(request)
    who.require_master()
    return RequestContext(request_id=request_id_of(request), actor=who.actor)


async def any_key(request: Request) -> Principal:
    return await principal(request)
