"""Top-up use cases (airtm mode): create a payin for a linked user, read, list, cancel, refresh.

Airtm is the truth. Every change of state comes from a payin Airtm answered with (`apply_payin`): after
create, cancel and refresh, and when a webhook or the reconciliation asks (webhooks/apply.py). The payin's
`code` is the top-up id, so a create that is retried after a lost answer finds the payin instead of making
a second one. Entering TOPUP_SUCCEEDED credits the payin's netAmount from `external:airtm`, exactly once:
the transition and its ledger lines commit together under the top-up's row lock, and a terminal state
never moves.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from offerhub import limits
from offerhub.adapters.postgres.unit_of_work import UnitOfWork, read_only, transaction
from offerhub.airtm.client import airtm
from offerhub.airtm.wire import read_amount
from offerhub.audit.service import record
from offerhub.config import settings
from offerhub.core.clock import utcnow
from offerhub.core.context import RequestContext
from offerhub.core.errors import (
    BusinessRuleViolation,
    NotFound,
    OfferHubError,
    ProviderError,
    ValidationFailed,
)
from offerhub.core.ids import looks_like, new_id
from offerhub.core.money import CURRENCY, format_amount
from offerhub.core.pagination import Page, PageRequest
from offerhub.events import catalogue
from offerhub.ledger import accounts
from offerhub.ledger import service as ledger
from offerhub.modes import AIRTM, require
from offerhub.observability import DEPOSITS_CREDITED, logger
from offerhub.topups import states, store
from offerhub.users import store as user_store

AIRTM_EXTERNAL = accounts.external("airtm")
# A payin whose create never reached Airtm is failed after this long (the reconciliation checks by code).
LOST_CREATE_AFTER = timedelta(minutes=5)

_EVENTS = {
    states.AWAITING: catalogue.TOPUP_CONFIRMATION_REQUIRED,
    states.PROCESSING: catalogue.TOPUP_PROCESSING,
    states.SUCCEEDED: catalogue.TOPUP_SUCCEEDED,
    states.FAILED: catalogue.TOPUP_FAILED,
    states.CANCELED: catalogue.TOPUP_CANCELED,
}


def _found(conn: Any, topup_id: str, *, for_update: bool = False) -> dict[str, Any]:
    row = store.get(conn, topup_id, for_update=for_update) if looks_like(topup_id, "topup") else None
    if row is None:
        raise NotFound(f"top-up {topup_id} not found", code="TOPUP_NOT_FOUND")
    return row


def create_topup(ctx: RequestContext, user_id: str, amount: Decimal, description: str | None) -> dict[str, Any]:
    require(AIRTM, "top-ups")
    limits.check(limits.TOPUP, amount)
    with transaction(ctx) as uow:
        user = user_store.by_id(uow.conn, user_id) if looks_like(user_id, "usr") else None
        if user is None:
            raise NotFound(f"user {user_id} not found", code="USER_NOT_FOUND")
        if user["airtm_user_id"] is None:
            raise BusinessRuleViolation("the user has no linked Airtm account; link one first",
                                        code="AIRTM_USER_NOT_LINKED", details={"userId": user_id})
        row = store.insert(uow.conn, {"id": new_id("topup"), "user_id": user_id, "amount": amount,
                                      "currency": CURRENCY, "status": states.CREATED, "description": description})
        data = {"topupId": row["id"], "userId": user_id, "amount": format_amount(amount), "currency": CURRENCY}
        uow.emit(catalogue.TOPUP_CREATED, "TopUp", row["id"], data)
        record(uow, catalogue.TOPUP_CREATED, "TopUp", row["id"], after=store.to_public(row))
    topup_id = row["id"]
    base = settings().topup_callback_base_url
    try:
        payin = airtm().create_payin(
            code=topup_id, amount=amount, description=(description or f"Top-up {topup_id}")[:255],
            confirmation_uri=f"{base}/{topup_id}/callback?status=confirmed",
            cancel_uri=f"{base}/{topup_id}/callback?status=canceled")
    except OfferHubError as exc:
        exc.details = {**exc.details, "topupId": topup_id}
        if exc.status < 500:  # Airtm refused it for good: the top-up failed
            _fail(ctx, topup_id, f"{exc.code}: {exc.message}")
        raise  # 5xx: unknown whether the payin exists; refresh (or the reconciliation) finds it by code
    return apply_payin(ctx, topup_id, payin)


def get_topup(topup_id: str) -> dict[str, Any]:
    with read_only() as conn:
        return store.to_public(_found(conn, topup_id))


def list_topups(page: PageRequest, *, user_id: str | None, status: str | None) -> Page:
    if status is not None and status not in states.STATUSES:
        raise ValidationFailed("unknown top-up status", details={"field": "status", "allowed": list(states.STATUSES)})
    with read_only() as conn:
        if page.cursor and not (looks_like(page.cursor, "topup") and store.exists(conn, page.cursor)):
            raise ValidationFailed("cursor is not a known top-up id", details={"field": "cursor"})
        rows = store.search(conn, user_id=user_id, status=status, cursor=page.cursor, limit=page.limit + 1)
    return Page.from_rows([store.to_public(r) for r in rows], page.limit, lambda t: t["id"])


def cancel_topup(ctx: RequestContext, topup_id: str) -> dict[str, Any]:
    with read_only() as conn:
        row = _found(conn, topup_id)
    states.require_status(row, [states.AWAITING], "cancel")
    try:
        payin = airtm().cancel_payin(row["airtm_payin_id"])
    except OfferHubError as exc:
        if exc.status != 409:
            raise
        # Airtm would not cancel (the user confirmed meanwhile): take its truth, then refuse.
        current = refresh_topup(ctx, topup_id)
        states.require_status({**row, "status": current["status"]}, [states.AWAITING], "cancel")
        raise
    return apply_payin(ctx, topup_id, payin, canceled_by="api")


def refresh_topup(ctx: RequestContext, topup_id: str) -> dict[str, Any]:
    """Pull Airtm's truth and apply it."""
    with read_only() as conn:
        row = _found(conn, topup_id)
    if row["status"] in states.TERMINAL:
        return store.to_public(row)
    client = airtm()
    payin = client.payin(row["airtm_payin_id"]) if row["airtm_payin_id"] else client.payin_by_code(topup_id)
    if payin is None:  # the create never reached Airtm
        if utcnow() - row["created_at"] > LOST_CREATE_AFTER:
            return _fail(ctx, topup_id, "the payin was never created at Airtm")
        return store.to_public(row)
    return apply_payin(ctx, topup_id, payin)


def payer_returned(ctx: RequestContext, topup_id: str) -> tuple[dict[str, Any], str | None]:
    """GET /topups/{id}/callback: Airtm's checkout sends the payer's browser back here (the confirmation and
    cancel URIs given at create). The `status` Airtm puts in the URL is a hint, never applied: the top-up is
    refreshed from Airtm, as upstream did, and the payer goes on to TOPUP_SUCCESS_REDIRECT_URL (succeeded or
    processing) or TOPUP_CANCEL_REDIRECT_URL, with `topupId` and `status` added. When Airtm cannot be asked, the
    stored state decides (the webhook or the reconciliation catches up); the payer is never shown an error.

    Returns the public part (id and status only: the URL carries no key) and the redirect, if one is set."""
    try:
        topup = refresh_topup(ctx, topup_id)
    except OfferHubError as exc:
        if exc.status < 500:
            raise
        logger.warning("top-up callback could not refresh", extra={"topupId": topup_id, "code": exc.code})
        topup = get_topup(topup_id)
    cfg = settings()
    arrived = topup["status"] in (states.SUCCEEDED, states.PROCESSING)
    target = cfg.topup_success_redirect_url if arrived else cfg.topup_cancel_redirect_url
    shown = {"id": topup["id"], "status": topup["status"]}
    if not target:
        return shown, None
    parts = urlsplit(target)
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), ("topupId", topup["id"]),
                       ("status", topup["status"])])
    return shown, urlunsplit(parts._replace(query=query))


def apply_payin(ctx: RequestContext, topup_id: str, payin: dict[str, Any], *, canceled_by: str = "airtm"
                ) -> dict[str, Any]:
    """Move the top-up to the state Airtm reports for its payin (forward only; terminal never moves)."""
    target = states.FROM_PAYIN.get(str(payin.get("status", "")).upper())
    with transaction(ctx) as uow:
        row = _found(uow.conn, topup_id, for_update=True)
        _check_matches(row, payin)
        if target is None:
            logger.warning("unknown Airtm payin status", extra={"topupId": topup_id, "status": payin.get("status")})
            return store.to_public(row)
        fields = _payin_fields(row, payin)
        if not states.moves_forward(row["status"], target):
            if fields and row["status"] not in states.TERMINAL:
                row = store.update_topup(uow.conn, topup_id, **fields)
            return store.to_public(row)
        return store.to_public(_enter(uow, row, target, fields, payin, canceled_by))


def _check_matches(row: dict[str, Any], payin: dict[str, Any]) -> None:
    """Never apply a payin that is not this top-up's (a bug or a confused provider must not credit)."""
    if payin.get("code") not in (None, row["id"]) or (
            row["airtm_payin_id"] and str(payin.get("id")) != row["airtm_payin_id"]) or (
            read_amount(payin.get("amount"), "amount") != row["amount"]):
        raise ProviderError("Airtm answered with a payin that is not this top-up's", code="PROVIDER_ERROR",
                            details={"topupId": row["id"], "payinId": payin.get("id")})


def _payin_fields(row: dict[str, Any], payin: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if row["airtm_payin_id"] is None and payin.get("id"):
        fields["airtm_payin_id"] = str(payin["id"])
        fields["confirmation_uri"] = settings().airtm_checkout_url.format(payinId=payin["id"])
    for column, key in (("fee", "airtmFee"), ("net_amount", "netAmount")):
        amount = read_amount(payin.get(key), key)
        if amount is not None and row[column] != amount:
            fields[column] = amount
    return fields


def _enter(uow: UnitOfWork, row: dict[str, Any], target: str, fields: dict[str, Any], payin: dict[str, Any],
           canceled_by: str) -> dict[str, Any]:
    topup_id, user_id = row["id"], row["user_id"]
    data: dict[str, Any] = {"topupId": topup_id, "userId": user_id, "amount": format_amount(row["amount"]),
                            "currency": CURRENCY, "airtmPayinId": fields.get("airtm_payin_id", row["airtm_payin_id"])}
    if target == states.SUCCEEDED:
        net = fields.get("net_amount", row["net_amount"])
        if net is None or net > row["amount"]:
            raise ProviderError("Airtm confirmed a payin without a usable netAmount", code="PROVIDER_ERROR",
                                details={"topupId": topup_id})
        change = ledger.credit(uow, user_id, net, source=AIRTM_EXTERNAL, description=f"top-up {topup_id}",
                               reference=topup_id)
        fields["ledger_transaction_id"] = change.transaction_id
        uow.count(DEPOSITS_CREDITED)
        data.update(netAmount=format_amount(net), fee=format_amount(fields.get("fee", row["fee"]) or Decimal("0.00")),
                    newAvailableBalance=format_amount(change.after.available))
    elif target == states.AWAITING:
        data["confirmationUri"] = fields.get("confirmation_uri", row["confirmation_uri"])
    elif target == states.FAILED:
        fields["failure_reason"] = str(payin.get("failureReason") or "failed at Airtm")[:500]
        data["reason"] = fields["failure_reason"]
    elif target == states.CANCELED:
        data["canceledBy"] = canceled_by
    updated = store.update_topup(uow.conn, topup_id, status=target, **fields)
    uow.emit(_EVENTS[target], "TopUp", topup_id, {**data, "status": target})
    record(uow, _EVENTS[target], "TopUp", topup_id, before={"status": row["status"]},
           after={"status": target, **data})
    return updated


def _fail(ctx: RequestContext, topup_id: str, reason: str) -> dict[str, Any]:
    with transaction(ctx) as uow:
        row = _found(uow.conn, topup_id, for_update=True)
        if row["status"] in states.TERMINAL:
            return store.to_public(row)
        return store.to_public(_enter(uow, row, states.FAILED, {}, {"failureReason": reason}, "system"))
