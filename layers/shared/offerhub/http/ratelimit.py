"""Rate limits at the edge of every HTTP function, before the app and before idempotency.

`admit` checks the request's key and counts the request in one statement (offerhub.auth.service.admit): against
the key (the stricter `create` bucket for top-up and withdrawal creation), or against the source IP that API
Gateway saw when the request has no key that authenticates. Over the limit, the answer is a 429 `RATE_LIMITED`
with `Retry-After`, made here: the app never runs and nothing is stored for an Idempotency-Key (so the same key,
retried after the wait, runs the request). Every other answer leaves with the counter as this request left it
(`stamp`): errors, the app's last-resort 500 and idempotent replays included, so a replay shows the current count,
not the one stored with the first answer.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from offerhub.auth import limits
from offerhub.auth.service import Admission, current_admission
from offerhub.auth.service import admit as admit_token
from offerhub.http import envelope
from offerhub.http.security import token_from_headers

# The routes with the stricter limit: creating a top-up or a withdrawal (each starts a money movement with a
# provider). Everything else a key does counts in its general bucket.
CREATE_ROUTES = frozenset({("POST", "/api/v1/topups"), ("POST", "/api/v1/withdrawals")})
UNKNOWN_IP = "unknown"


def bucket_of(method: str, path: str) -> str:
    return limits.CREATE if (method, path.rstrip("/")) in CREATE_ROUTES else limits.API


def source_ip(event: dict[str, Any]) -> str:
    """The client address API Gateway saw (HTTP API payload 2.0), not a header the client could write."""
    return ((event.get("requestContext") or {}).get("http") or {}).get("sourceIp") or UNKNOWN_IP


def admit(event: dict[str, Any]) -> Admission:
    headers = event.get("headers") or {}
    http = (event.get("requestContext") or {}).get("http") or {}
    token = token_from_headers(headers.get("authorization"), headers.get("x-api-key"))
    bucket = bucket_of(http.get("method", ""), event.get("rawPath") or http.get("path") or "")
    started = time.perf_counter()
    admission = admit_token(token, source_ip=source_ip(event), bucket=bucket)
    if admission.quota is None:  # the limiter is off, or counting failed: nothing says Postgres answered
        return admission
    return replace(admission, database_ms=round((time.perf_counter() - started) * 1000, 1))


def database_ms_of_admission() -> float | None:
    """How long the current request's counting statement took, when it reached Postgres: GET /health reports the
    database up from it instead of sending a statement of its own."""
    admission = current_admission()
    return admission.database_ms if admission is not None else None


def headers_of(quota: limits.Quota) -> dict[str, str]:
    return {
        "x-ratelimit-limit": str(quota.limit),
        "x-ratelimit-remaining": str(quota.remaining),
        "x-ratelimit-reset": str(quota.reset_at),
    }


def stamp(response: dict[str, Any], quota: limits.Quota | None) -> dict[str, Any]:
    """The response with the counter's headers (none with the limiter off)."""
    if quota is None:
        return response
    return {**response, "headers": {**(response.get("headers") or {}), **headers_of(quota)}}


def too_many(quota: limits.Quota, request_id: str) -> dict[str, Any]:
    wait = quota.retry_after(limits.clock())
    who = {limits.IP: "this source IP", limits.CREATE: "this API key on top-up and withdrawal creation"}.get(
        quota.bucket, "this API key")
    body = envelope.error(
        "RATE_LIMITED",
        f"rate limit exceeded: {quota.limit} requests per {quota.window_seconds} s for {who}; retry after {wait} s",
        request_id,
        {"limit": quota.limit, "windowSeconds": quota.window_seconds, "bucket": quota.bucket, "retryAfter": wait},
    )
    return {
        "statusCode": 429,
        "headers": {"content-type": "application/json", "x-request-id": request_id, "retry-after": str(wait),
                    **headers_of(quota)},
        "body": envelope.dumps(body),
        "isBase64Encoded": False,
    }
