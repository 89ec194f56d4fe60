"""Request bodies are read once, here, and only JSON that Postgres can store gets past.

Python's json accepts more than JSON (RFC 8259) does: `NaN`, `Infinity`, `-Infinity`, numbers too large for
a float (`1e400` becomes infinity), and `\\ud800`-style escapes that leave a lone surrogate. Postgres refuses
them all in `jsonb`, and refuses NUL (`\\u0000`) in any text. Each would reach the database from some route and
turn into a 500, so the one parse every route uses refuses them, with a 400 naming the field, before any
model or use case sees the body:

- `parse_json` is json.loads with NaN / Infinity / overflowing floats marked instead of accepted, then one
  walk over the result for those marks and for keys and strings holding NUL or a lone surrogate.
- `StrictJsonRoute` gives FastAPI a request whose `.json()` is `parse_json`, so bodies are parsed where
  FastAPI reads them and nowhere else. It also refuses a body sent to a route that declares none (cancel,
  refresh, commit, ...): an empty body and `{}` are accepted, anything else is a 400.
- `create_api` puts every route of an API function on `StrictJsonRoute`; the provider webhooks opt out
  (`raw_body=True`), because they verify a signature over the raw bytes and parse them themselves.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

MAX_FIELD_LENGTH = 200
# Methods whose body, when the route declares none, must be empty or `{}`.
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class InvalidBody(HTTPException):
    """A 400 VALIDATION_ERROR for the body. An HTTPException, so FastAPI lets it out of its body parsing
    unchanged (anything else raised there becomes a bare 400); `offerhub.http.errors` renders it."""

    def __init__(self, field: str, message: str, kind: str) -> None:
        super().__init__(status_code=400, detail=message)
        self.field = field
        self.kind = kind


class _NotFinite:
    """Stands where the text had NaN, Infinity, -Infinity or a float beyond float range."""


_NOT_FINITE = _NotFinite()


def _constant(_name: str) -> _NotFinite:
    return _NOT_FINITE


def _float(text: str) -> float | _NotFinite:
    value = float(text)
    return value if math.isfinite(value) else _NOT_FINITE


def parse_json(body: bytes) -> Any:
    """The body as JSON that Postgres can store, or InvalidBody naming where it is not."""
    try:
        value = json.loads(body, parse_constant=_constant, parse_float=_float)
    except json.JSONDecodeError as exc:
        raise InvalidBody("body", f"request body is not valid JSON ({exc.msg} at position {exc.pos})",
                          "json_invalid") from None
    except (ValueError, RecursionError):  # not UTF-8, an integer too long, nesting deeper than the parser goes
        raise InvalidBody("body", "request body is not valid JSON", "json_invalid") from None
    problem = _first_problem(value)
    if problem is not None:
        field, message = problem
        raise InvalidBody(field, message, "json_not_storable")
    return value


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "NUL characters (\\u0000)"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # json pairs valid surrogate escapes, so what is left is a lone one
            return "unpaired surrogates (\\ud800-\\udfff)"
    return None


def _first_problem(value: Any) -> tuple[str, str] | None:
    """(field, message) for the first thing JSON or Postgres cannot hold, in document order (an object's keys
    are looked at before its values), or None."""
    # Iterative, so nesting the parser accepted cannot exhaust the stack here; a path is a (parent, key) chain
    # built only for the field that is reported.
    stack: list[tuple[Any, tuple[Any, Any] | None]] = [(value, None)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, dict):
            for key in item:
                if (why := _text_problem(key)) is not None:
                    return _field(path), f"object keys must not contain {why}"
            stack.extend((child, (path, key)) for key, child in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((child, (path, index)) for index, child in reversed(list(enumerate(item))))
        elif isinstance(item, str):
            if (why := _text_problem(item)) is not None:
                return _field(path), f"must not contain {why}"
        elif item is _NOT_FINITE:
            return _field(path), "must be a finite number (NaN and Infinity are not JSON)"
    return None


def _field(path: tuple[Any, Any] | None) -> str:
    parts: list[str] = []
    while path is not None:
        path, key = path
        parts.append(str(key))
    field = ".".join(reversed(parts)) or "body"
    return field if len(field) <= MAX_FIELD_LENGTH else field[: MAX_FIELD_LENGTH - 3] + "..."


class StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json(await self.body())
        return self._json


async def refuse_a_body(request: Request) -> None:
    """For a route that declares no body: an empty body or `{}` passes, anything else is a 400."""
    body = await request.body()
    if not body.strip():
        return
    value = await request.json()
    if not isinstance(value, dict):
        raise InvalidBody("body", "this route takes no body: send none, or {}", "no_body")
    if value:
        raise InvalidBody(_field((None, next(iter(value)))), "unknown field: this route takes no body",
                          "extra_forbidden")


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class StrictJsonRoute(APIRoute):
    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        no_body = self.body_field is None and bool(self.methods & _BODY_METHODS)

        async def strict_handler(request: Request) -> Response:
            strict = StrictJsonRequest(request.scope, request.receive)
            if no_body:
                await refuse_a_body(strict)
            return await handler(strict)

        return strict_handler


def use_strict_json(router: APIRouter) -> None:
    """Put the router's routes on StrictJsonRoute before the app includes them (inclusion builds each route's
    handler from its class). Routes are declared as plain APIRoutes in the functions; StrictJsonRoute only
    overrides how the handler is built, so changing the class of a declared route is safe."""
    router.route_class = StrictJsonRoute
    for route in router.routes:
        if type(route) is APIRoute:
            route.__class__ = StrictJsonRoute
        elif isinstance(route, APIRoute) and not isinstance(route, StrictJsonRoute):
            raise TypeError(f"{route.path}: a custom route class would bypass the strict JSON body parse")
