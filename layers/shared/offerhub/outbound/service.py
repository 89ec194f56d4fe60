"""Webhook endpoint use cases: register, read, list, delete, rotate the secret, enable again; an endpoint's
deliveries and a manual retry of one.

Endpoints belong to the deployment, not to the API key that registered it: every key with `read` sees them and
every key with `write` manages them (one integrator per deployment); `createdBy` records the key. A deployment
has at most MAX_ENDPOINTS of them.

The signing secret is generated here, sealed at once (offerhub.outbound.sealing) and shown once: in the answer
to the registration, or to a rotation for the new one. After a rotation the previous secret keeps signing for
ROTATION_OVERLAP (two `v1=` entries); rotating again within that time drops the oldest secret at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from offerhub.adapters.postgres.unit_of_work import read_only, transaction
from offerhub.audit.service import record
from offerhub.config import settings
from offerhub.core.clock import iso, utcnow
from offerhub.core.context import RequestContext
from offerhub.core.errors import BusinessRuleViolation, Conflict, NotFound, ValidationFailed
from offerhub.core.ids import looks_like, new_id
from offerhub.core.pagination import Page, PageRequest
from offerhub.core.states import require_status
from offerhub.events import catalogue, tail
from offerhub.outbound import filters, sealing, signing, store, urls
from offerhub.outbound.sender import Sender, event_data

MAX_ENDPOINTS = 16
ROTATION_OVERLAP = timedelta(hours=24)
RESOURCE = "WebhookEndpoint"


def _not_found(endpoint_id: str) -> NotFound:
    return NotFound(f"webhook endpoint {endpoint_id} not found", code="WEBHOOK_ENDPOINT_NOT_FOUND")


def _found(conn: Any, endpoint_id: str, *, for_update: bool = False) -> dict[str, Any]:
    row = store.get_endpoint(conn, endpoint_id, for_update=for_update) if looks_like(endpoint_id, "we") else None
    if row is None or row["status"] == store.DELETED:
        raise _not_found(endpoint_id)
    return row


def create_endpoint(ctx: RequestContext, *, url: str, types: Sequence[str] | None, description: str | None
                    ) -> dict[str, Any]:
    patterns = filters.normalise(types)
    urls.check(url, allow_loopback=settings().webhook_allow_loopback)
    endpoint_id = new_id("we")
    secret = signing.new_secret()
    wrapped, sealed = sealing.seal(endpoint_id, 1, secret)
    now = utcnow()
    with transaction(ctx) as uow:
        store.lock_registrations(uow.conn)
        if store.count_live(uow.conn) >= MAX_ENDPOINTS:
            raise BusinessRuleViolation(f"a deployment has at most {MAX_ENDPOINTS} webhook endpoints",
                                        code="WEBHOOK_ENDPOINT_LIMIT", details={"limit": MAX_ENDPOINTS})
        row = store.insert_endpoint(uow.conn, {
            "id": endpoint_id, "url": url, "description": description, "types": patterns, "status": store.ENABLED,
            "secret_version": 1, "sealed_secret": sealed, "sealed_key": wrapped,
            # Events committed from now on are delivered to it (sequences follow commit order: events/store.py).
            "start_sequence": tail.head(uow.conn), "created_by": ctx.actor.id, "created_at": now, "updated_at": now})
        public = store.endpoint_to_public(row)
        uow.emit(catalogue.WEBHOOK_ENDPOINT_CREATED, RESOURCE, endpoint_id, event_data(row))
        record(uow, catalogue.WEBHOOK_ENDPOINT_CREATED, RESOURCE, endpoint_id, after=public)
    sealing.remember(endpoint_id, 1, secret)
    return {**public, "secret": secret}


def get_endpoint(endpoint_id: str) -> dict[str, Any]:
    with read_only() as conn:
        return store.endpoint_to_public(_found(conn, endpoint_id))


def list_endpoints(page: PageRequest) -> Page:
    with read_only() as conn:
        if page.cursor:
            known = looks_like(page.cursor, "we") and store.get_endpoint(conn, page.cursor)
            if not known or known["status"] == store.DELETED:
                raise ValidationFailed("cursor is not a known webhook endpoint id", details={"field": "cursor"})
        rows = store.search_endpoints(conn, cursor=page.cursor, limit=page.limit + 1)
    return Page.from_rows([store.endpoint_to_public(r) for r in rows], page.limit, lambda e: e["id"])


def delete_endpoint(ctx: RequestContext, endpoint_id: str) -> dict[str, Any]:
    now = utcnow()
    with transaction(ctx) as uow:
        before = _found(uow.conn, endpoint_id, for_update=True)
        row = store.update_endpoint(uow.conn, endpoint_id, status=store.DELETED, deleted_at=now, updated_at=now,
                                    sealed_secret=None, sealed_key=None, previous_sealed_secret=None,
                                    previous_sealed_key=None, previous_secret_expires_at=None)
        store.fail_pending(uow.conn, endpoint_id, now=now, reason="not sent: the endpoint was deleted")
        public = store.endpoint_to_public(row)
        uow.emit(catalogue.WEBHOOK_ENDPOINT_DELETED, RESOURCE, endpoint_id, event_data(row))
        record(uow, catalogue.WEBHOOK_ENDPOINT_DELETED, RESOURCE, endpoint_id,
               before=store.endpoint_to_public(before), after=public)
    sealing.forget(endpoint_id)
    return public


def rotate_secret(ctx: RequestContext, endpoint_id: str) -> dict[str, Any]:
    """A new secret (shown once); the current one keeps signing beside it for ROTATION_OVERLAP."""
    with read_only() as conn:
        version = _found(conn, endpoint_id)["secret_version"] + 1
    secret = signing.new_secret()
    wrapped, sealed = sealing.seal(endpoint_id, version, secret)  # KMS outside the transaction
    now = utcnow()
    with transaction(ctx) as uow:
        current = _found(uow.conn, endpoint_id, for_update=True)
        if current["secret_version"] != version - 1:
            raise Conflict("the secret was rotated by another request meanwhile; retry", code="WEBHOOK_ENDPOINT_BUSY",
                           details={"webhookEndpointId": endpoint_id}, retry_after=1)
        expires = now + ROTATION_OVERLAP
        row = store.update_endpoint(
            uow.conn, endpoint_id, secret_version=version, sealed_secret=sealed, sealed_key=wrapped,
            previous_secret_version=current["secret_version"], previous_sealed_secret=current["sealed_secret"],
            previous_sealed_key=current["sealed_key"], previous_secret_expires_at=expires, updated_at=now)
        public = store.endpoint_to_public(row)
        uow.emit(catalogue.WEBHOOK_ENDPOINT_SECRET_ROTATED, RESOURCE, endpoint_id,
                 event_data(row, secretVersion=version, previousSecretExpiresAt=iso(expires)))
        record(uow, catalogue.WEBHOOK_ENDPOINT_SECRET_ROTATED, RESOURCE, endpoint_id,
               before={"secretVersion": current["secret_version"]},
               after={"secretVersion": version, "previousSecretExpiresAt": iso(expires)})
    sealing.remember(endpoint_id, version, secret)
    return {**public, "secret": secret}


def enable_endpoint(ctx: RequestContext, endpoint_id: str) -> dict[str, Any]:
    """DISABLED → ENABLED: deliveries are created again for events from now on (the ones in between can be read
    with GET /events, from the last event id received)."""
    now = utcnow()
    with transaction(ctx) as uow:
        before = _found(uow.conn, endpoint_id, for_update=True)
        require_status(before, [store.DISABLED], "enable", noun="webhook endpoint", id_key="webhookEndpointId")
        row = store.update_endpoint(uow.conn, endpoint_id, status=store.ENABLED, failing_since=None,
                                    disabled_at=None, disabled_reason=None, start_sequence=tail.head(uow.conn),
                                    updated_at=now)
        public = store.endpoint_to_public(row)
        uow.emit(catalogue.WEBHOOK_ENDPOINT_ENABLED, RESOURCE, endpoint_id, event_data(row))
        record(uow, catalogue.WEBHOOK_ENDPOINT_ENABLED, RESOURCE, endpoint_id,
               before={"status": before["status"], "disabledReason": before["disabled_reason"]}, after=public)
    return public


def list_deliveries(endpoint_id: str, page: PageRequest, *, status: str | None) -> Page:
    if status is not None and status not in store.DELIVERY_STATUSES:
        raise ValidationFailed("unknown delivery status",
                               details={"field": "status", "allowed": list(store.DELIVERY_STATUSES)})
    with read_only() as conn:
        _found(conn, endpoint_id)
        if page.cursor and not (looks_like(page.cursor, "whd") and store.delivery_of(conn, endpoint_id, page.cursor)):
            raise ValidationFailed("cursor is not a known delivery of this endpoint", details={"field": "cursor"})
        rows = store.search_deliveries(conn, endpoint_id, status=status, cursor=page.cursor, limit=page.limit + 1)
    return Page.from_rows([store.delivery_to_public(r) for r in rows], page.limit, lambda d: d["id"])


def retry_delivery(ctx: RequestContext, endpoint_id: str, delivery_id: str, *,
                   clock: Any = utcnow) -> dict[str, Any]:
    """Send this delivery again now, once, and answer with the delivery as it is after the attempt. A success
    makes it SUCCEEDED; a failure of a pending delivery counts as one of its retries, of a finished one
    changes nothing but the attempt's record."""
    with read_only() as conn:
        _found(conn, endpoint_id)
        found = looks_like(delivery_id, "whd") and store.delivery_of(conn, endpoint_id, delivery_id)
    if not found:
        raise NotFound(f"webhook delivery {delivery_id} not found", code="WEBHOOK_DELIVERY_NOT_FOUND")
    Sender(ctx, clock=clock).retry(delivery_id)
    with read_only() as conn:
        row = store.get_delivery(conn, delivery_id)
    assert row is not None
    return store.delivery_to_public(row)
