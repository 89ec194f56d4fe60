"""Withdrawal use cases: create, commit, cancel, refresh, read, list — the same for every rail.

Money: creating a withdrawal moves its amount from the user's available balance into its own pending
account (`withdrawal:<id>:pending`, shown as `pending` in the balance), in the transaction that creates it,
so a concurrent reserve or withdrawal can never spend it again (INSUFFICIENT_FUNDS). When the rail
confirms, pending → the rail's external account; when it fails or is canceled, pending → available.
Every change of state comes from what the rail reports (`apply_rail_state`): forward only, terminal never
moves, so a replayed webhook or a retried call can neither pay twice nor return money twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from offerhub import limits
from offerhub.adapters.postgres.unit_of_work import UnitOfWork, read_only, transaction
from offerhub.audit.service import record
from offerhub.core.clock import iso, utcnow
from offerhub.core.context import RequestContext
from offerhub.core.errors import NotFound, OfferHubError, ValidationFailed
from offerhub.core.ids import looks_like, new_id
from offerhub.core.money import CURRENCY, format_amount
from offerhub.core.pagination import Page, PageRequest
from offerhub.events import catalogue
from offerhub.ledger import accounts
from offerhub.ledger import service as ledger
from offerhub.observability import PAYOUTS_COMPLETED
from offerhub.users import store as user_store
from offerhub.withdrawals import states, store
from offerhub.withdrawals.port import RailState
from offerhub.withdrawals.rails import EXTERNAL_ACCOUNTS, normalise_type, rail_for

_EVENTS = {
    states.COMMITTED: catalogue.WITHDRAWAL_COMMITTED,
    states.PENDING: catalogue.WITHDRAWAL_PENDING,
    states.COMPLETED: catalogue.WITHDRAWAL_COMPLETED,
    states.FAILED: catalogue.WITHDRAWAL_FAILED,
    states.CANCELED: catalogue.WITHDRAWAL_CANCELED,
}


@dataclass(frozen=True)
class NewWithdrawal:
    user_id: str
    amount: Decimal
    destination_type: str
    destination_ref: str | None = None
    commit: bool = False
    description: str | None = None
    memo: str | int | None = None


def _found(conn: Any, withdrawal_id: str, *, for_update: bool = False) -> dict[str, Any]:
    row = store.get(conn, withdrawal_id, for_update=for_update) if looks_like(withdrawal_id, "wd") else None
    if row is None:
        raise NotFound(f"withdrawal {withdrawal_id} not found", code="WITHDRAWAL_NOT_FOUND")
    return row


def _pending(row: dict[str, Any]) -> accounts.Account:
    return accounts.withdrawal_pending(row["id"], row["user_id"])


def create_withdrawal(ctx: RequestContext, new: NewWithdrawal) -> dict[str, Any]:
    kind = normalise_type(new.destination_type)
    rail = rail_for(kind)
    limits.check(limits.WITHDRAWAL, new.amount)
    with read_only() as conn:
        user = user_store.by_id(conn, new.user_id) if looks_like(new.user_id, "usr") else None
    if user is None:
        raise NotFound(f"user {new.user_id} not found", code="USER_NOT_FOUND")
    destination = rail.check_destination(ctx, user, new.destination_ref, new.memo)
    with transaction(ctx) as uow:
        row = store.insert(uow.conn, {
            "id": new_id("wd"), "user_id": new.user_id, "amount": new.amount, "currency": CURRENCY,
            "status": states.CREATED, "destination_type": kind, "destination_ref": destination.ref,
            "memo_type": destination.memo_type, "memo": destination.memo, "committed": False,
            "description": new.description})
        ledger.debit(uow, new.user_id, new.amount, destination=_pending(row),
                     description=f"withdrawal {row['id']} (pending)", reference=row["id"])
        data = {**_event_data(row), "status": states.CREATED}
        uow.emit(catalogue.WITHDRAWAL_CREATED, "Withdrawal", row["id"], data)
        record(uow, catalogue.WITHDRAWAL_CREATED, "Withdrawal", row["id"], after=store.to_public(row))
    _on_rail(ctx, row, rail.open)
    if new.commit:
        return commit_withdrawal(ctx, row["id"])
    return get_withdrawal(row["id"])


def commit_withdrawal(ctx: RequestContext, withdrawal_id: str) -> dict[str, Any]:
    """CREATED → COMMITTED, then the rail pays. Called again while COMMITTED it resumes the same payment."""
    with read_only() as conn:
        rail = rail_for(_found(conn, withdrawal_id)["destination_type"])  # refused before any state change
    with transaction(ctx) as uow:
        row = _found(uow.conn, withdrawal_id, for_update=True)
        states.require_status(row, [states.CREATED, states.COMMITTED], "commit")
        if row["status"] == states.CREATED:
            row = _enter(uow, row, states.COMMITTED, {"committed": True})
    _on_rail(ctx, row, rail.send)
    return get_withdrawal(withdrawal_id)


def cancel_withdrawal(ctx: RequestContext, withdrawal_id: str) -> dict[str, Any]:
    with read_only() as conn:
        row = _found(conn, withdrawal_id)
    states.require_status(row, [states.CREATED], "cancel")
    try:
        at_rail = rail_for(row["destination_type"]).cancel(ctx, row)
    except OfferHubError as exc:
        if exc.status != 409:
            raise
        current = refresh_withdrawal(ctx, withdrawal_id)  # the rail moved on meanwhile: take its truth, refuse
        states.require_status({**row, "status": current["status"]}, [states.CREATED], "cancel")
        raise
    state = RailState(states.CANCELED, columns=at_rail.columns if at_rail else {},
                      failure_reason="canceled by the API caller")
    with transaction(ctx) as uow:
        row = _found(uow.conn, withdrawal_id, for_update=True)
        states.require_status(row, [states.CREATED], "cancel")  # a concurrent commit won the race
        return store.to_public(_apply(uow, row, state))


def refresh_withdrawal(ctx: RequestContext, withdrawal_id: str) -> dict[str, Any]:
    """Pull the rail's truth and apply it (a webhook, the reconciliation, or the integrator asking)."""
    with read_only() as conn:
        row = _found(conn, withdrawal_id)
    if row["status"] in states.TERMINAL:
        return store.to_public(row)
    state = rail_for(row["destination_type"]).status(ctx, row)
    return store.to_public(apply_rail_state(ctx, withdrawal_id, state)) if state else store.to_public(row)


def _on_rail(ctx: RequestContext, row: dict[str, Any], call: Any) -> None:
    """Run one rail call and apply its answer. A refusal for good (4xx) fails the withdrawal and returns
    the money; anything else (5xx, timeout) leaves it as it is, to be resumed, and is raised."""
    try:
        state = call(ctx, row)
    except OfferHubError as exc:
        exc.details = {**exc.details, "withdrawalId": row["id"]}
        if exc.status < 500 and exc.status != 409:
            apply_rail_state(ctx, row["id"], RailState(states.FAILED, failure_reason=f"{exc.code}: {exc.message}"))
        raise
    if state is not None:
        apply_rail_state(ctx, row["id"], state)


def apply_rail_state(ctx: RequestContext, withdrawal_id: str, state: RailState) -> dict[str, Any]:
    with transaction(ctx) as uow:
        row = _found(uow.conn, withdrawal_id, for_update=True)
        return _apply(uow, row, state)


def _apply(uow: UnitOfWork, row: dict[str, Any], state: RailState) -> dict[str, Any]:
    if row["status"] in states.TERMINAL:
        return row
    fields = {k: v for k, v in state.columns.items() if row.get(k) != v}
    if state.fee is not None and row["fee"] != state.fee:
        fields["fee"] = state.fee
    if state.net_amount is not None and row["net_amount"] != state.net_amount:
        fields["net_amount"] = state.net_amount
    if not states.moves_forward(row["status"], state.status):
        return store.update_withdrawal(uow.conn, row["id"], **fields) if fields else row
    if state.status in (states.FAILED, states.CANCELED):
        fields["failure_reason"] = (state.failure_reason or "failed at the rail")[:500]
    return _enter(uow, row, state.status, fields)


def _enter(uow: UnitOfWork, row: dict[str, Any], target: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The state change, its ledger lines, its event and audit row, in the caller's transaction."""
    if target == states.COMPLETED:
        ledger.post(uow, "WITHDRAWAL_PAYOUT", [(_pending(row), -row["amount"]),
                                              (EXTERNAL_ACCOUNTS[row["destination_type"]], row["amount"])],
                    description=f"withdrawal {row['id']} paid out", reference=row["id"])
        fields["completed_at"] = utcnow()
        uow.count(PAYOUTS_COMPLETED)
    elif target in (states.FAILED, states.CANCELED):
        ledger.credit(uow, row["user_id"], row["amount"], source=_pending(row),
                      description=f"withdrawal {row['id']} {target.removeprefix('WITHDRAWAL_').lower()}",
                      reference=row["id"])
    updated = store.update_withdrawal(uow.conn, row["id"], status=target, **fields)
    data = {**_event_data(updated), "status": target}
    uow.emit(_EVENTS[target], "Withdrawal", row["id"], data)
    record(uow, _EVENTS[target], "Withdrawal", row["id"], before={"status": row["status"]}, after=data)
    return updated


def _event_data(row: dict[str, Any]) -> dict[str, Any]:
    data = {"withdrawalId": row["id"], "userId": row["user_id"], "amount": format_amount(row["amount"]),
            "currency": CURRENCY, "destinationType": row["destination_type"],
            "destinationRef": row["destination_ref"]}
    for key, column in (("fee", "fee"), ("netAmount", "net_amount")):
        if row.get(column) is not None:
            data[key] = format_amount(row[column])
    for key, column in (("airtmPayoutId", "airtm_payout_id"), ("transactionHash", "transaction_hash"),
                        ("failureReason", "failure_reason")):
        if row.get(column):
            data[key] = row[column]
    if row.get("completed_at"):
        data["completedAt"] = iso(row["completed_at"])
    return data


def get_withdrawal(withdrawal_id: str) -> dict[str, Any]:
    with read_only() as conn:
        return store.to_public(_found(conn, withdrawal_id))


def list_withdrawals(page: PageRequest, *, user_id: str | None, status: str | None) -> Page:
    if status is not None and status not in states.STATUSES:
        raise ValidationFailed("unknown withdrawal status",
                               details={"field": "status", "allowed": list(states.STATUSES)})
    with read_only() as conn:
        if page.cursor and not (looks_like(page.cursor, "wd") and store.exists(conn, page.cursor)):
            raise ValidationFailed("cursor is not a known withdrawal id", details={"field": "cursor"})
        rows = store.search(conn, user_id=user_id, status=status, cursor=page.cursor, limit=page.limit + 1)
    return Page.from_rows([store.to_public(r) for r in rows], page.limit, lambda w: w["id"])
