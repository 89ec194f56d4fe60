"""Writing and reading the audit log."""

from __future__ import annotations

from typing import Any

from offerhub.adapters.postgres.unit_of_work import UnitOfWork, read_only, transaction
from offerhub.audit import store
from offerhub.audit.store import AuditFilter
from offerhub.core.context import RequestContext
from offerhub.core.errors import NotFound, OfferHubError, ValidationFailed
from offerhub.core.ids import looks_like
from offerhub.core.pagination import Page, PageRequest


def record(
    uow: UnitOfWork,
    action: str,
    resource_type: str,
    resource_id: str | None,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> str:
    """A successful action, written in the same transaction as the change it describes (at its commit, with its
    events: adapters/postgres/unit_of_work.py). Returns the row's id."""
    row = store.new_row(uow.ctx, action=action, resource_type=resource_type, resource_id=resource_id,
                        result="SUCCESS", before=before, after=after)
    uow.audit(row)
    return row["id"]


def record_failure(
    ctx: RequestContext, action: str, resource_type: str, resource_id: str | None, error: OfferHubError
) -> str:
    """A refused action. The change was rolled back, so this row gets its own transaction."""
    with transaction(ctx) as uow:
        return store.insert_row(
            uow.conn,
            ctx,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            result="FAILURE",
            error={"code": error.code, "message": error.message, "details": error.details},
        )


def get_audit_log(audit_id: str) -> dict[str, Any]:
    with read_only() as conn:
        row = store.get(conn, audit_id) if looks_like(audit_id, "aud") else None
    if row is None:
        raise NotFound(f"audit log {audit_id} not found", code="AUDIT_LOG_NOT_FOUND")
    return row


def search_audit_logs(f: AuditFilter, page: PageRequest) -> Page:
    if f.occurred_from and f.occurred_to and f.occurred_from > f.occurred_to:
        raise ValidationFailed("from must not be after to", details={"field": "from"})
    with read_only() as conn:
        if page.cursor and not store.exists(conn, page.cursor):
            raise ValidationFailed("cursor is not a known audit log id", details={"field": "cursor"})
        rows = store.search(conn, f, cursor=page.cursor, limit=page.limit + 1)
    return Page.from_rows(rows, page.limit, lambda r: r["id"])
