"""The FastAPI app factory every HTTP function uses."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from offerhub import __version__
from offerhub.http.body import use_strict_json
from offerhub.http.errors import install_error_handlers
from offerhub.http.middleware import RequestIdMiddleware

API_PREFIX = "/api/v1"


def create_api(router: APIRouter, *, title: str, raw_body: bool = False) -> FastAPI:
    """`raw_body=True` is for routes that read and verify their raw bytes themselves (provider webhooks):
    their bodies skip offerhub.http.body's strict parse and its refusal of bodies on body-less routes."""
    if not raw_body:
        use_strict_json(router)
    # No docs routes inside the Lambdas: API Gateway only routes our paths here anyway.
    app = FastAPI(title=title, version=__version__, docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(router, prefix=API_PREFIX)
    install_error_handlers(app)
    app.add_middleware(RequestIdMiddleware)
    return app
