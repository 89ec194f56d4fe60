"""The Lambda entry point of every HTTP function: Mangum around the FastAPI app.

It fixes the request id first (so the app, the logs and idempotent replays agree on it), admits the request
against its rate limit (`offerhub.http.ratelimit`: the key checked and the request counted in one statement; a
429 here never reaches the app), and sends a POST that carries an Idempotency-Key through
`offerhub.http.idempotency`. Every answer leaves with the rate limit headers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from mangum import Mangum

from offerhub.auth.service import admitted
from offerhub.http import ratelimit
from offerhub.http.idempotency import run_idempotent
from offerhub.http.request_id import resolve_request_id
from offerhub.observability import correlate, instrumented, logger

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def make_handler(app: Any) -> LambdaHandler:
    asgi = Mangum(app, lifespan="off")

    @logger.inject_lambda_context(clear_state=True)
    @instrumented
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        _ensure_event_loop()
        headers = event.get("headers") or {}
        event["headers"] = headers
        request_id = resolve_request_id(headers.get("x-request-id"))
        headers["x-request-id"] = request_id
        correlate(request_id, event)  # X-Request-ID, and API Gateway's request id beside it
        admission = ratelimit.admit(event)
        if admission.over_limit:
            return ratelimit.too_many(admission.quota, request_id)  # type: ignore[arg-type]
        method = event.get("requestContext", {}).get("http", {}).get("method", "")
        key = headers.get("idempotency-key")
        with admitted(admission):  # the app and idempotency authenticate from the admission, without a query
            if method == "POST" and key is not None:
                response = run_idempotent(asgi, event, context, key, request_id)
            else:
                response = asgi(event, context)
        return ratelimit.stamp(response, admission.quota)

    return handler


def _ensure_event_loop() -> None:
    """Mangum needs a loop in the calling thread. Lambda calls from the main thread (which has one);
    the local stack and tests call from worker threads, which do not."""
    try:
        asyncio.get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())
