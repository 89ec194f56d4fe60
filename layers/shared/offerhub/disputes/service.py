"""Dispute use cases: open (freezes the escrow on chain), read, list, comment, assign, resolve.

Opening moves the order IN_PROGRESS → DISPUTED and records the dispute first; the escrow is then frozen
on its rail (crypto mode: the on-chain dispute, signed by the opener's wallet) and, if the rail fails,
that is done as the first step of the resolution instead. Support may take the dispute first (assign:
OPEN → UNDER_REVIEW, as upstream); resolution is support's decision, from OPEN or UNDER_REVIEW: FULL_RELEASE,
FULL_REFUND or SPLIT.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from offerhub.adapters.postgres.unit_of_work import UnitOfWork, read_only, transaction
from offerhub.audit.service import record
from offerhub.core.clock import iso, utcnow
from offerhub.core.context import RequestContext
from offerhub.core.errors import (
    Conflict,
    InsufficientScope,
    InvalidAmount,
    InvalidState,
    NotFound,
    OfferHubError,
    ValidationFailed,
)
from offerhub.core.ids import looks_like, new_id
from offerhub.core.money import format_amount
from offerhub.core.pagination import Page, PageRequest
from offerhub.disputes import store
from offerhub.escrow import store as escrow_store
from offerhub.escrow.rails import rail_for
from offerhub.events import catalogue
from offerhub.observability import logger
from offerhub.orders import lease, states
from offerhub.orders import store as order_store
from offerhub.orders.service import lock_order, transition
from offerhub.resolution import service as resolution

OPENED_BY = ("BUYER", "SELLER")
REASONS = ("NOT_DELIVERED", "QUALITY_ISSUE", "OTHER")
OPEN, UNDER_REVIEW, RESOLVING, RESOLVED = "OPEN", "UNDER_REVIEW", "RESOLVING", "RESOLVED"
STATUSES = (OPEN, UNDER_REVIEW, RESOLVING, RESOLVED)
ASSIGNABLE = (OPEN, UNDER_REVIEW)
DECISIONS = (resolution.FULL_RELEASE, resolution.FULL_REFUND, resolution.SPLIT)


def view(conn: Connection, row: dict[str, Any] | None, *, with_comments: bool = True) -> dict[str, Any]:
    assert row is not None
    out = {
        "id": row["id"], "orderId": row["order_id"], "openedBy": row["opened_by"], "reason": row["reason"],
        "evidence": row["evidence"], "status": row["status"], "decision": row["decision"],
        "releaseAmount": None if row["release_amount"] is None else format_amount(row["release_amount"]),
        "refundAmount": None if row["refund_amount"] is None else format_amount(row["refund_amount"]),
        "decisionNote": row["decision_note"], "resolvedBy": row["resolved_by"],
        "createdAt": iso(row["created_at"]), "updatedAt": iso(row["updated_at"]), "resolvedAt": iso(row["resolved_at"]),
        "assignedTo": row["assigned_to"], "assignedAt": iso(row["assigned_at"]),
    }
    if with_comments:
        out["comments"] = [_comment_view(c) for c in store.comments(conn, row["id"])]
    return out


def _found(conn: Connection, dispute_id: str, *, for_update: bool = False) -> dict[str, Any]:
    row = store.get(conn, dispute_id, for_update=for_update) if looks_like(dispute_id, "dsp") else None
    if row is None:
        raise NotFound(f"dispute {dispute_id} not found", code="DISPUTE_NOT_FOUND")
    return row


def lock_dispute(uow: UnitOfWork, dispute_id: str) -> dict[str, Any]:
    return _found(uow.conn, dispute_id, for_update=True)


def open_dispute(ctx: RequestContext, order_id: str, opened_by: str, reason: str, evidence: list[str]) -> dict:
    with transaction(ctx) as uow:
        order = lock_order(uow, order_id)
        if store.of_order(uow.conn, order_id) is not None:
            raise Conflict("this order already has a dispute", code="DISPUTE_ALREADY_OPEN",
                           details={"orderId": order_id})
        states.require_status(order, [states.IN_PROGRESS], "dispute")
        dispute = store.insert(uow.conn, {"id": new_id("dsp"), "order_id": order_id, "opened_by": opened_by,
                                          "reason": reason, "evidence": evidence})
        data = {"disputeId": dispute["id"], "orderId": order_id, "openedBy": opened_by, "reason": reason,
                "evidence": evidence, "openedAt": iso(dispute["created_at"])}
        uow.emit(catalogue.DISPUTE_OPENED, "Dispute", dispute["id"], data)
        record(uow, catalogue.DISPUTE_OPENED, "Dispute", dispute["id"], after=data)
        transition(uow, order, states.DISPUTED, catalogue.ORDER_DISPUTED, data)
        escrow = escrow_store.of_orders(uow.conn, [order_id])[order_id]
        leased = _try_lease(uow, order_id)
    if leased:
        with lease.running(ctx, order_id, "dispute.freeze"):
            _freeze(ctx, order, escrow, opened_by)
    return get_dispute(dispute["id"])


def _try_lease(uow: UnitOfWork, order_id: str) -> bool:
    try:
        lease.claim(uow, order_id)
        return True
    except Conflict:
        return False


def _freeze(ctx: RequestContext, order: dict[str, Any], escrow: dict[str, Any], opened_by: str) -> None:
    try:
        rail_for(escrow).freeze(ctx, order, escrow, opened_by)
    except OfferHubError as exc:  # the resolution runs this step first if it is still missing
        logger.warning("on-chain dispute deferred", extra={"orderId": order["id"], "code": exc.code})


def get_dispute(dispute_id: str) -> dict[str, Any]:
    with read_only() as conn:
        return view(conn, _found(conn, dispute_id))


def list_disputes(page: PageRequest, *, order_id: str | None, status: str | None, opened_by: str | None) -> Page:
    for field, value, allowed in (("status", status, STATUSES), ("openedBy", opened_by, OPENED_BY)):
        if value is not None and value not in allowed:
            raise ValidationFailed(f"unknown {field}", details={"field": field, "allowed": list(allowed)})
    with read_only() as conn:
        if page.cursor and not (looks_like(page.cursor, "dsp") and store.exists(conn, page.cursor)):
            raise ValidationFailed("cursor is not a known dispute id", details={"field": "cursor"})
        rows = store.search(conn, order_id=order_id, status=status, opened_by=opened_by, cursor=page.cursor,
                            limit=page.limit + 1)
        return Page.from_rows([view(conn, r, with_comments=False) for r in rows], page.limit, lambda d: d["id"])


AUTHOR_ROLES = ("BUYER", "SELLER", "SUPPORT")


def add_comment(ctx: RequestContext, dispute_id: str, body: str, author_role: str | None, *,
                as_support: bool) -> dict[str, Any]:
    """A comment by one side or by support. A key with the support scope writes as SUPPORT unless it says
    otherwise; any other key must say which party it writes for, and cannot write as SUPPORT."""
    role = author_role or ("SUPPORT" if as_support else None)
    if role is None:
        raise ValidationFailed("authorRole is required (BUYER or SELLER) for a key without the support scope",
                               details={"field": "authorRole", "allowed": ["BUYER", "SELLER"]})
    if role == "SUPPORT" and not as_support:
        raise InsufficientScope("only a key with the support scope comments as SUPPORT",
                                details={"required": "support", "field": "authorRole"})
    with transaction(ctx) as uow:
        dispute = lock_dispute(uow, dispute_id)
        comment = store.add_comment(uow.conn, {"id": new_id("cmt"), "dispute_id": dispute["id"],
                                               "author_id": ctx.actor.id, "author_role": role, "body": body})
        data = {"disputeId": dispute_id, "commentId": comment["id"], "authorId": ctx.actor.id, "authorRole": role}
        uow.emit(catalogue.DISPUTE_COMMENT_ADDED, "Dispute", dispute_id, data)
        record(uow, catalogue.DISPUTE_COMMENT_ADDED, "Dispute", dispute_id, after={**data, "body": body})
        return _comment_view(comment)


def _comment_view(c: dict[str, Any]) -> dict[str, Any]:
    return {"id": c["id"], "disputeId": c["dispute_id"], "authorId": c["author_id"], "authorRole": c["author_role"],
            "body": c["body"], "createdAt": iso(c["created_at"])}


def assign(ctx: RequestContext, dispute_id: str, assigned_to: str) -> dict[str, Any]:
    """A support agent takes the dispute: OPEN → UNDER_REVIEW, or, under review, it passes to another agent.
    Assigning it again to the same agent changes nothing (no event, no audit row)."""
    with transaction(ctx) as uow:
        dispute = lock_dispute(uow, dispute_id)
        if dispute["status"] not in ASSIGNABLE:
            raise InvalidState(f"a {dispute['status']} dispute cannot be assigned",
                               details={"disputeId": dispute_id, "currentState": dispute["status"],
                                        "allowedStates": list(ASSIGNABLE)})
        if dispute["status"] == UNDER_REVIEW and dispute["assigned_to"] == assigned_to:
            return view(uow.conn, dispute)
        now = utcnow()
        store.update_dispute(uow.conn, dispute_id, status=UNDER_REVIEW, assigned_to=assigned_to, assigned_at=now)
        data = {"disputeId": dispute_id, "orderId": dispute["order_id"], "assignedTo": assigned_to,
                "reviewedBy": assigned_to, "assignedBy": ctx.actor.id, "reviewStartedAt": iso(now),
                "previousAssignee": dispute["assigned_to"]}
        uow.emit(catalogue.DISPUTE_UNDER_REVIEW, "Dispute", dispute_id, data)
        record(uow, catalogue.DISPUTE_UNDER_REVIEW, "Dispute", dispute_id,
               before={"status": dispute["status"], "assignedTo": dispute["assigned_to"]},
               after={"status": UNDER_REVIEW, **data})
        return view(uow.conn, store.get(uow.conn, dispute_id))


def resolve(ctx: RequestContext, dispute_id: str, decision: str, release_amount: Decimal | None,
            refund_amount: Decimal | None, note: str | None) -> dict[str, Any]:
    """Turn a decision into the two shares, then settle it (resolution.resolve_dispute)."""
    with read_only() as conn:
        order = order_store.get(conn, _found(conn, dispute_id)["order_id"])
    assert order is not None
    amount = order["amount"]
    if decision in (resolution.FULL_RELEASE, resolution.FULL_REFUND):
        shares = (amount, Decimal("0.00")) if decision == resolution.FULL_RELEASE else (Decimal("0.00"), amount)
        given = (release_amount, refund_amount)
        if any(g is not None and g != implied for g, implied in zip(given, shares, strict=True)):
            raise InvalidAmount(f"{decision} pays the whole order to one side: releaseAmount and refundAmount, "
                                "when given, must be the order amount and 0.00", code="INVALID_AMOUNT",
                                details={"orderAmount": format_amount(amount)})
    else:
        if release_amount is None or refund_amount is None:
            raise InvalidAmount("SPLIT needs releaseAmount and refundAmount", code="INVALID_AMOUNT",
                                details={"field": "releaseAmount" if release_amount is None else "refundAmount"})
        if release_amount == 0 or refund_amount == 0:
            raise InvalidAmount("a SPLIT pays both sides; use FULL_RELEASE or FULL_REFUND", code="INVALID_AMOUNT")
        shares = (release_amount, refund_amount)
    return resolution.resolve_dispute(ctx, dispute_id, decision, shares[0], shares[1], note)


def resolve_by_amounts(ctx: RequestContext, dispute_id: str, release_amount: Decimal, refund_amount: Decimal,
                       note: str | None) -> dict[str, Any]:
    """POST /resolution/resolve gives amounts only: a zero side means a full release or refund."""
    if refund_amount == 0:
        decision = resolution.FULL_RELEASE
    elif release_amount == 0:
        decision = resolution.FULL_REFUND
    else:
        decision = resolution.SPLIT
    return resolve(ctx, dispute_id, decision, release_amount, refund_amount, note)
