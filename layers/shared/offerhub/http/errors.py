"""Every failure becomes the error envelope with an honest status. A 500 is a bug, and is logged as one."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request

from offerhub.core.errors import InvalidAmount, OfferHubError
from offerhub.http.body import InvalidBody
from offerhub.http.envelope import error
from offerhub.http.params import AMOUNT_ERROR
from offerhub.http.responses import EnvelopeResponse, request_id_of


def _respond(request: Request, status: int, code: str, message: str, details: dict[str, Any] | None = None,
             retry_after: int | None = None):
    headers = {"retry-after": str(retry_after)} if retry_after is not None else None
    return EnvelopeResponse(error(code, message, request_id_of(request), details), status_code=status,
                            headers=headers)


def _validation_details(exc: RequestValidationError) -> dict[str, Any]:
    problems = []
    for e in exc.errors():
        loc = [str(p) for p in e.get("loc", ()) if p != "body"]
        problems.append({"field": ".".join(loc) or "body", "message": e.get("msg", "invalid"),
                         "type": e.get("type")})
    return {"validationErrors": problems}


def _validation_code(details: dict[str, Any]) -> str:
    """INVALID_AMOUNT_FORMAT when every problem is an amount's format (offerhub.http.params.AmountText),
    as parse_amount answers; VALIDATION_ERROR as soon as anything else is wrong too."""
    problems = details["validationErrors"]
    if problems and all(p["type"] == AMOUNT_ERROR for p in problems):
        details["field"] = problems[0]["field"]
        return InvalidAmount.code
    return "VALIDATION_ERROR"


def _validation_message(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return "request body is not valid JSON"
    first = errors[0] if errors else {}
    loc = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    return f"{loc}: {first.get('msg', 'invalid')}" if loc else "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(OfferHubError)
    async def domain_error(request: Request, exc: OfferHubError):
        return _respond(request, exc.status, exc.code, exc.message, exc.details, exc.retry_after)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        details = _validation_details(exc)
        return _respond(request, 400, _validation_code(details), _validation_message(exc), details)

    @app.exception_handler(InvalidBody)
    async def invalid_body(request: Request, exc: InvalidBody):
        message = exc.detail if exc.field == "body" else f"{exc.field}: {exc.detail}"
        return _respond(request, 400, "VALIDATION_ERROR", message,
                        {"validationErrors": [{"field": exc.field, "message": exc.detail, "type": exc.kind}]})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        codes = {400: "VALIDATION_ERROR", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}
        return _respond(request, exc.status_code, codes.get(exc.status_code, "HTTP_ERROR"), str(exc.detail))
