"""Idempotency-Key on POST, around the whole request: a replay returns the stored status and body byte
for byte, so it must sit outside the app.

Scope = the API key, fingerprint = method + path + body (CONVENTIONS §3). Records are kept in DynamoDB by
Powertools idempotency. 2xx and 4xx results are stored; an answer that means "retry" is not (5xx, 401, 403,
429, and any answer with a Retry-After header, e.g. 409 ORDER_BUSY), so the same key, retried, reaches the
real outcome.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from typing import Any

from offerhub.config import settings
from offerhub.http import envelope
from offerhub.http.security import token_from_headers
from offerhub.observability import logger

AsgiHandler = Any  # mangum.Mangum: called as asgi(event, context)
_NOT_STORED = {401, 403, 429}
MAX_KEY_LENGTH = 255


class _NotStored(Exception):
    """Raised inside the idempotent call so Powertools deletes the record instead of storing it."""

    def __init__(self, response: dict[str, Any]):
        self.response = response


def run_idempotent(
    asgi: AsgiHandler, event: dict[str, Any], context: Any, key: str, request_id: str
) -> dict[str, Any]:
    if not (0 < len(key) <= MAX_KEY_LENGTH) or not key.isprintable():
        return _error(400, "VALIDATION_ERROR", "Idempotency-Key must be 1-255 printable characters",
                      request_id, {"header": "Idempotency-Key"})
    cfg = settings()
    if not cfg.idempotency_table:
        logger.warning("IDEMPOTENCY_TABLE is not set; Idempotency-Key ignored")
        return asgi(event, context)
    from offerhub.auth.service import authenticate

    headers = event["headers"]
    try:
        principal = authenticate(token_from_headers(headers.get("authorization"), headers.get("x-api-key")))
    except Exception:  # the app itself answers (401, or its error envelope); nothing is stored
        return asgi(event, context)

    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyPersistenceLayerError,
        IdempotencyValidationError,
    )

    body = event.get("body") or ""
    request = {
        "scope": principal.key_id,
        "key": key,
        "fingerprint": hashlib.sha256(
            json.dumps([event["requestContext"]["http"]["method"], event.get("rawPath", ""), body,
                        bool(event.get("isBase64Encoded"))]).encode()
        ).hexdigest(),
    }
    run = _idempotent_runner(cfg.idempotency_table, cfg.idempotency_ttl_seconds)
    try:
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            run.config.register_lambda_context(context)
        response = run(request=request, asgi=asgi, event=event, context=context)
    except _NotStored as not_stored:
        return not_stored.response
    except IdempotencyValidationError:
        return _error(422, "IDEMPOTENCY_KEY_REUSED",
                      "this Idempotency-Key was already used with a different request", request_id,
                      {"idempotencyKey": key})
    except IdempotencyAlreadyInProgressError:
        return _error(409, "IDEMPOTENCY_KEY_IN_PROGRESS",
                      "a request with this Idempotency-Key is still being processed; retry shortly",
                      request_id, {"idempotencyKey": key}, extra_headers={"retry-after": "1"})
    except IdempotencyPersistenceLayerError:
        logger.exception("idempotency store unavailable")
        return _error(503, "SERVICE_UNAVAILABLE", "idempotency store unavailable; retry later", request_id)
    response = dict(response)
    response["headers"] = {**response.get("headers", {}), "x-request-id": request_id}
    return response


@cache
def _idempotent_runner(table: str, ttl_seconds: int) -> Any:
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    def mark_replayed(response: dict[str, Any], _record: Any) -> dict[str, Any]:
        return {**response, "headers": {**response.get("headers", {}), "idempotent-replayed": "true"}}

    config = IdempotencyConfig(
        event_key_jmespath="[scope, key]",
        payload_validation_jmespath="fingerprint",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=ttl_seconds,
        response_hook=mark_replayed,
    )

    @idempotent_function(
        data_keyword_argument="request",
        persistence_store=DynamoDBPersistenceLayer(table_name=table),
        config=config,
        key_prefix="offerhub-http",
    )
    def run(request: dict[str, Any], asgi: AsgiHandler, event: dict[str, Any], context: Any) -> dict[str, Any]:
        response = asgi(event, context)
        status = int(response.get("statusCode", 500))
        if status >= 500 or status in _NOT_STORED or _means_retry(response):
            raise _NotStored(response)
        return response

    run.config = config  # type: ignore[attr-defined]
    return run


def _means_retry(response: dict[str, Any]) -> bool:
    headers = response.get("headers") or {}
    multi = response.get("multiValueHeaders") or {}
    return any(name.lower() == "retry-after" for name in (*headers, *multi))


def _error(status: int, code: str, message: str, request_id: str, details: dict[str, Any] | None = None,
           extra_headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", "x-request-id": request_id, **(extra_headers or {})},
        "body": envelope.dumps(envelope.error(code, message, request_id, details)),
        "isBase64Encoded": False,
    }
