"""The webhook ingress use case: verify, record once, enqueue — and nothing else (the worker applies it).

Answers `{"status": "ok", "duplicate": bool}` once the event is safely recorded and queued; a bad or missing
signature is a 401 with nothing stored; a queue outage is a 503, so the provider delivers again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from offerhub.adapters.aws.queue import enqueue
from offerhub.adapters.postgres.unit_of_work import transaction
from offerhub.config import settings
from offerhub.core.context import RequestContext
from offerhub.core.errors import ServiceUnavailable, ValidationFailed
from offerhub.webhooks import inbox
from offerhub.webhooks.verify import sign_hex_hmac, verify_hex_hmac, verify_svix

AIRTM, TRUSTLESS_WORK = "AIRTM", "TRUSTLESS_WORK"
MAX_BODY_BYTES = 256 * 1024


def _secret(plain: str | None, arn: str | None, what: str) -> str:
    if plain:
        return plain
    if arn:
        from offerhub.adapters.aws.secrets import get_secret_string

        value = get_secret_string(arn)
        if value and value != "set-me":
            return value
    raise ServiceUnavailable(f"the {what} webhook secret is not configured", code="WEBHOOK_NOT_CONFIGURED")


def receive_airtm(ctx: RequestContext, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    cfg = settings()
    secret = _secret(cfg.airtm_webhook_secret, cfg.airtm_webhook_secret_arn, "Airtm")
    try:
        event_id = verify_svix(secret, headers, body)
    except ValueError as exc:  # an unusable configured secret: ours to fix, the provider must retry
        raise ServiceUnavailable("the Airtm webhook secret is unusable", code="WEBHOOK_NOT_CONFIGURED") from exc
    payload = _json_object(body)
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    if not isinstance(payload.get("type"), str) or not data.get("id"):
        raise ValidationFailed("an Airtm webhook has a `type` and a `data` object with an `id`")
    return _record(ctx, AIRTM, event_id, payload["type"], str(data["id"]), payload)


def receive_trustless_work(ctx: RequestContext, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    cfg = settings()
    secret = _secret(cfg.trustless_webhook_secret, cfg.trustless_webhook_secret_arn, "Trustless Work")
    verify_hex_hmac(secret, headers.get("x-tw-signature"), body)
    payload = _json_object(body)
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    contract = data.get("contract_id") or data.get("contractId")
    # No event id in the body: the signature over the exact bytes identifies the delivery.
    event_id = str(payload.get("event_id") or payload.get("eventId") or sign_hex_hmac(secret, body))
    return _record(ctx, TRUSTLESS_WORK, event_id[:200], str(payload.get("type") or "unknown")[:100],
                   str(contract)[:100] if contract else None, payload)


def _json_object(body: bytes) -> dict[str, Any]:
    if len(body) > MAX_BODY_BYTES:
        raise ValidationFailed("the webhook body is too large")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
        raise ValidationFailed("the webhook body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise ValidationFailed("the webhook body is not a JSON object")
    if not _storable(payload):  # Postgres jsonb refuses NaN, NUL and lone surrogates: keep what we use
        data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
        payload = {"type": str(payload.get("type")), "data": {"id": str(data.get("id"))}}
    return payload


def _storable(payload: dict[str, Any]) -> bool:
    try:
        text = json.dumps(payload, allow_nan=False, ensure_ascii=False)
        text.encode("utf-8")
    except (ValueError, UnicodeEncodeError):
        return False
    return "\\u0000" not in text


def _record(ctx: RequestContext, provider: str, event_id: str, type: str, object_id: str | None,
            payload: dict[str, Any]) -> dict[str, Any]:
    with transaction(ctx) as uow:
        new, must_queue = inbox.record(uow.conn, provider, event_id, type, object_id, payload)
    if must_queue:
        enqueue({"provider": provider, "eventId": event_id})
        with transaction(ctx) as uow:
            inbox.mark_enqueued(uow.conn, provider, event_id)
    return {"status": "ok", "duplicate": not new}
