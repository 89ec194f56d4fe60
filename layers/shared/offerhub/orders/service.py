"""Order use cases: create, read, list, reserve, milestones (cancel: orders/cancel.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from offerhub import limits
from offerhub.adapters.postgres.unit_of_work import UnitOfWork, read_only, transaction
from offerhub.audit.service import record
from offerhub.core.context import RequestContext
from offerhub.core.errors import Conflict, InsufficientFunds, InvalidAmount, InvalidState, NotFound, ValidationFailed
from offerhub.core.ids import looks_like, new_id
from offerhub.core.money import CURRENCY, format_amount
from offerhub.core.pagination import Page, PageRequest
from offerhub.events import catalogue
from offerhub.ledger import service as ledger
from offerhub.modes import CRYPTO
from offerhub.modes import current as current_mode
from offerhub.orders import states, store, views
from offerhub.users import store as user_store

DEFAULT_MILESTONE_REF = "main"
MILESTONE_REF = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True)
class NewMilestone:
    ref: str
    title: str
    amount: Decimal


@dataclass(frozen=True)
class NewOrder:
    buyer_id: str
    seller_id: str
    amount: Decimal
    title: str
    description: str | None = None
    client_order_ref: str | None = None
    metadata: dict[str, Any] | None = None
    milestones: list[NewMilestone] = field(default_factory=list)


def _validate(new: NewOrder) -> list[NewMilestone]:
    if new.buyer_id == new.seller_id:
        raise ValidationFailed("buyer and seller must be different users", details={"field": "sellerId"})
    limits.check(limits.ORDER, new.amount)
    milestones = new.milestones or [NewMilestone(DEFAULT_MILESTONE_REF, new.title, new.amount)]
    refs = [m.ref for m in milestones]
    for i, ref in enumerate(refs):  # a ref is a path segment (POST /orders/{id}/milestones/{ref}/complete)
        if not MILESTONE_REF.fullmatch(ref):
            raise ValidationFailed("a milestone ref is 1-64 letters, digits, '_', '-' or '.'",
                                   details={"field": f"milestones[{i}].ref", "pattern": MILESTONE_REF.pattern})
    if len(set(refs)) != len(refs):
        raise ValidationFailed("milestone refs must be unique", details={"field": "milestones"})
    total = sum((m.amount for m in milestones), Decimal(0))
    if total != new.amount:
        raise InvalidAmount("milestone amounts must add up to the order amount", code="INVALID_AMOUNT",
                            details={"amount": format_amount(new.amount), "milestonesTotal": format_amount(total)})
    return milestones


def create_order(ctx: RequestContext, new: NewOrder) -> dict[str, Any]:
    milestones = _validate(new)
    try:
        with transaction(ctx) as uow:
            for role, user_id in (("buyerId", new.buyer_id), ("sellerId", new.seller_id)):
                if not (looks_like(user_id, "usr") and user_store.exists(uow.conn, user_id)):
                    raise NotFound(f"user {user_id} not found", code="USER_NOT_FOUND", details={"field": role})
            if new.client_order_ref and (existing := store.client_ref_taken(uow.conn, new.client_order_ref)):
                raise _duplicate_ref(new.client_order_ref, existing)
            row = store.insert(uow.conn, {
                "id": new_id("ord"), "client_order_ref": new.client_order_ref, "buyer_id": new.buyer_id,
                "seller_id": new.seller_id, "amount": new.amount, "currency": CURRENCY,
                "status": states.ORDER_CREATED, "title": new.title, "description": new.description,
                "metadata": new.metadata,
            }, [{"ref": m.ref, "title": m.title, "amount": m.amount} for m in milestones])
            order = views.order(uow.conn, row)
            uow.emit(catalogue.ORDER_CREATED, "Order", order["id"], {
                "orderId": order["id"], "buyerId": new.buyer_id, "sellerId": new.seller_id,
                "amount": order["amount"], "currency": CURRENCY, "title": new.title,
                "clientOrderRef": new.client_order_ref})
            record(uow, catalogue.ORDER_CREATED, "Order", order["id"], after=order)
            return order
    except IntegrityError as exc:  # two creates raced on the same clientOrderRef
        if new.client_order_ref and "client_order_ref" in str(exc.orig):
            raise _duplicate_ref(new.client_order_ref, None) from None
        raise


def _duplicate_ref(ref: str, order_id: str | None) -> Conflict:
    return Conflict(f"an order with clientOrderRef {ref!r} already exists", code="DUPLICATE_CLIENT_ORDER_REF",
                    details={"clientOrderRef": ref, **({"orderId": order_id} if order_id else {})})


def _found(conn: Connection, order_id: str, *, for_update: bool = False) -> dict[str, Any]:
    row = store.get(conn, order_id, for_update=for_update) if looks_like(order_id, "ord") else None
    if row is None:
        raise NotFound(f"order {order_id} not found", code="ORDER_NOT_FOUND")
    return row


def lock_order(uow: UnitOfWork, order_id: str) -> dict[str, Any]:
    return _found(uow.conn, order_id, for_update=True)


def get_order(order_id: str) -> dict[str, Any]:
    with read_only() as conn:
        return views.order(conn, _found(conn, order_id))


def list_orders(page: PageRequest, *, buyer_id: str | None = None, seller_id: str | None = None,
                status: str | None = None) -> Page:
    if status is not None and status not in states.STATUSES:
        raise ValidationFailed("unknown order status", details={"field": "status", "allowed": list(states.STATUSES)})
    with read_only() as conn:
        if page.cursor and not (looks_like(page.cursor, "ord") and store.exists(conn, page.cursor)):
            raise ValidationFailed("cursor is not a known order id", details={"field": "cursor"})
        rows = store.search(conn, buyer_id=buyer_id, seller_id=seller_id, status=status, cursor=page.cursor,
                            limit=page.limit + 1)
        return Page.from_rows(views.orders(conn, rows), page.limit, lambda o: o["id"])


def transition(uow: UnitOfWork, order: dict[str, Any], status: str, event: str, data: dict[str, Any] | None = None,
               *, outcome: str | None = None) -> dict[str, Any]:
    """Move the order, emit the event and write the audit row, in the caller's transaction."""
    before = {"status": order["status"]}
    order = store.set_status(uow.conn, order, status, outcome=outcome)
    data = {"status": status, **({"outcome": outcome} if outcome else {}), **(data or {})}
    uow.emit(event, "Order", order["id"], {"orderId": order["id"], **data})
    record(uow, event, "Order", order["id"], before=before, after=data)
    return order


def reserve(ctx: RequestContext, order_id: str) -> dict[str, Any]:
    on_chain = _buyer_wallet_usdc(ctx, order_id)  # read before any lock: it is a network call
    with transaction(ctx) as uow:
        order = lock_order(uow, order_id)
        states.require_status(order, [states.ORDER_CREATED], "reserve funds for")
        change = ledger.reserve(uow, order["buyer_id"], order["amount"], order_id=order_id,
                                description=f"funds reserved for order {order_id}")
        if on_chain is not None:
            _require_backed(order, change.after.reserved + change.after.pending, on_chain)
        order = transition(uow, order, states.FUNDS_RESERVED, catalogue.ORDER_FUNDS_RESERVED, {
            "buyerId": order["buyer_id"], "amount": format_amount(order["amount"]), "currency": CURRENCY,
            "availableBalance": format_amount(change.after.available),
            "reservedBalance": format_amount(change.after.reserved)})
        return views.order(uow.conn, order)


def _buyer_wallet_usdc(ctx: RequestContext, order_id: str) -> Decimal | None:
    """The buyer's wallet USDC in crypto mode (None in airtm mode, where the ledger is the only record); 409
    WALLET_NOT_ACTIVE (Retry-After) while the buyer's wallet is still being activated after sign-up."""
    if current_mode() != CRYPTO:
        return None
    from offerhub.wallets.service import active_wallet_usdc

    with read_only() as conn:
        buyer_id = _found(conn, order_id)["buyer_id"]
    return active_wallet_usdc(ctx, buyer_id) or Decimal(0)


def _require_backed(order: dict[str, Any], needed: Decimal, on_chain: Decimal) -> None:
    """Every reserved and pending cent will leave the wallet on chain, so the wallet must hold them now; a
    ledger balance the chain does not back (e.g. a manual credit) would only fail later, at funding."""
    if on_chain < needed:
        raise InsufficientFunds(
            f"the buyer's wallet holds {format_amount(on_chain)} USDC on chain; reserving this order needs "
            f"{format_amount(needed)}", details={"orderId": order["id"], "buyerId": order["buyer_id"],
                                                 "walletBalance": format_amount(on_chain),
                                                 "required": format_amount(needed)})


def list_milestones(order_id: str) -> list[dict[str, Any]]:
    return get_order(order_id)["milestones"]


def find_milestone(order: dict[str, Any], milestones: list[dict[str, Any]], ref: str) -> dict[str, Any]:
    for m in milestones:
        if m["ref"] == ref:
            return m
    raise NotFound(f"milestone {ref} not found on order {order['id']}", code="MILESTONE_NOT_FOUND",
                   details={"orderId": order["id"], "milestoneRef": ref})


def open_milestone_index(order: dict[str, Any], milestone: dict[str, Any]) -> int:
    if milestone["status"] != "OPEN":
        raise InvalidState(f"milestone {milestone['ref']} is already {milestone['status']}",
                           details={"orderId": order["id"], "milestoneRef": milestone["ref"],
                                    "currentState": milestone["status"], "allowedStates": ["OPEN"]})
    return int(milestone["position"])
