"""Ledger operations. Each one posts lines that sum to zero and changes the balances in the same
transaction (the caller's unit of work), and emits its balance event there too.

Layer API for later capabilities: `post` for any movement between accounts, and the user-facing
`credit`, `debit`, `reserve`, `release_reservation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from offerhub.adapters.postgres.unit_of_work import UnitOfWork, one_statement, read_only
from offerhub.core.clock import iso
from offerhub.core.errors import InsufficientFunds, NotFound, ValidationFailed
from offerhub.core.ids import new_id
from offerhub.core.money import CENT, CURRENCY, format_amount
from offerhub.core.pagination import Page, PageRequest
from offerhub.events import catalogue
from offerhub.ledger import accounts, store
from offerhub.ledger.accounts import Account


@dataclass(frozen=True)
class Balance:
    user_id: str
    available: Decimal
    reserved: Decimal
    updated_at: datetime | None
    pending: Decimal = Decimal("0.00")  # on its way out (open withdrawals): not spendable, still the user's

    @property
    def total(self) -> Decimal:
        return self.available + self.reserved + self.pending

    def to_public(self) -> dict[str, Any]:
        return {
            "userId": self.user_id,
            "available": format_amount(self.available),
            "reserved": format_amount(self.reserved),
            "pending": format_amount(self.pending),
            "total": format_amount(self.total),
            "currency": CURRENCY,
            "updatedAt": iso(self.updated_at),
        }


@dataclass(frozen=True)
class BalanceChange:
    transaction_id: str
    before: Balance
    after: Balance


def post(
    uow: UnitOfWork,
    type: str,
    lines: Sequence[tuple[Account, Decimal]],
    *,
    description: str | None = None,
    reference: str | None = None,
) -> str:
    """Post one balanced transaction. Returns its id. Raises InsufficientFunds if a line would overdraw."""
    return _post(uow, type, lines, description=description, reference=reference)[0]


def _post(
    uow: UnitOfWork,
    type: str,
    lines: Sequence[tuple[Account, Decimal]],
    *,
    description: str | None,
    reference: str | None,
) -> tuple[str, dict[str, Decimal]]:
    """post(), also returning each account's balance after its line."""
    if len(lines) < 2 or sum((amount for _, amount in lines), Decimal(0)) != 0:
        raise ValueError("a ledger transaction needs at least two lines that sum to zero")
    if any(amount == 0 or amount != amount.quantize(CENT) for _, amount in lines):
        raise ValueError("ledger lines must be non-zero whole cents")
    store.open_accounts(
        uow.conn, {a for a, _ in lines if a.kind not in (accounts.USER_AVAILABLE, accounts.USER_RESERVED)}
    )
    applied: list[tuple[str, Decimal, Decimal]] = []
    # A fixed lock order (by account code) keeps concurrent postings from deadlocking.
    for account, amount in sorted(lines, key=lambda line: line[0].code):
        after = store.apply_line(uow.conn, account.code, amount)
        if after is None:
            _refuse(uow, account, amount)
        applied.append((account.code, amount, after))
    txn_id = new_id("ltx")
    store.insert_transaction(
        uow.conn,
        txn_id=txn_id,
        type=type,
        description=description,
        reference=reference,
        request_id=uow.ctx.request_id,
        actor_id=uow.ctx.actor.id,
        lines=applied,
    )
    return txn_id, {code: after for code, _, after in applied}


def _refuse(uow: UnitOfWork, account: Account, amount: Decimal) -> None:
    current = store.balance_of(uow.conn, account.code)
    if current is None:
        if account.owner_id and account.kind in (accounts.USER_AVAILABLE, accounts.USER_RESERVED):
            raise NotFound(f"user {account.owner_id} not found", code="USER_NOT_FOUND")
        raise NotFound(f"ledger account {account.code} not found", code="ACCOUNT_NOT_FOUND")
    which = "reserved" if account.kind == accounts.USER_RESERVED else "available"
    raise InsufficientFunds(
        f"insufficient {which} balance",
        code="INSUFFICIENT_FUNDS" if which == "available" else "INSUFFICIENT_RESERVED_FUNDS",
        details={"requested": format_amount(-amount), which: format_amount(current), "currency": CURRENCY},
    )


def _lock_balance(uow: UnitOfWork, user_id: str) -> Balance:
    """Lock the user's two accounts (in code order) and read them: the 'before' of a change."""
    codes = [accounts.user_available(user_id).code, accounts.user_reserved(user_id).code]
    rows = store.accounts_of(uow.conn, codes, for_update=True)
    if len(rows) != 2:
        raise NotFound(f"user {user_id} not found", code="USER_NOT_FOUND")
    return _balance_from(user_id, rows)


def _balance_from(user_id: str, rows: dict[str, Any]) -> Balance:
    avail = rows[accounts.user_available(user_id).code]
    reserved = rows[accounts.user_reserved(user_id).code]
    return Balance(
        user_id=user_id,
        available=avail["balance"],
        reserved=reserved["balance"],
        updated_at=max(avail["updated_at"], reserved["updated_at"]),
    )


def _change_user_balance(
    uow: UnitOfWork,
    user_id: str,
    *,
    type: str,
    lines: Sequence[tuple[Account, Decimal]],
    available_delta: Decimal,
    reserved_delta: Decimal,
    event_type: str,
    event_data: dict[str, Any],
    description: str | None,
    reference: str | None,
) -> BalanceChange:
    own = (accounts.user_available(user_id).code, accounts.user_reserved(user_id).code)
    if set(own) <= {account.code for account, _ in lines}:
        # Both of the user's accounts move: their rows are locked by the updates themselves, and the
        # balances before are the balances after less the lines (one round trip fewer than locking first).
        txn_id, balances = _post(uow, type, lines, description=description, reference=reference)
        after = Balance(user_id=user_id, available=balances[own[0]], reserved=balances[own[1]], updated_at=None)
        before = Balance(user_id=user_id, available=after.available - available_delta,
                         reserved=after.reserved - reserved_delta, updated_at=None)
    else:
        before = _lock_balance(uow, user_id)
        txn_id = post(uow, type, lines, description=description, reference=reference)
        after = Balance(
            user_id=user_id,
            available=before.available + available_delta,
            reserved=before.reserved + reserved_delta,
            updated_at=None,
        )
    uow.emit(
        event_type,
        "Balance",
        user_id,
        {
            "userId": user_id,
            "currency": CURRENCY,
            "transactionId": txn_id,
            "previousAvailable": format_amount(before.available),
            "newAvailable": format_amount(after.available),
            "previousReserved": format_amount(before.reserved),
            "newReserved": format_amount(after.reserved),
            **({"reference": reference} if reference else {}),
            **event_data,
        },
    )
    return BalanceChange(transaction_id=txn_id, before=before, after=after)


def credit(
    uow: UnitOfWork,
    user_id: str,
    amount: Decimal,
    *,
    source: Account = accounts.MANUAL_ADJUSTMENTS,
    description: str | None = None,
    reference: str | None = None,
) -> BalanceChange:
    """Money in: the source account pays the user's available balance."""
    return _change_user_balance(
        uow, user_id, type="CREDIT",
        lines=[(source, -amount), (accounts.user_available(user_id), amount)],
        available_delta=amount, reserved_delta=Decimal(0),
        event_type=catalogue.BALANCE_CREDITED,
        event_data={"amount": format_amount(amount), "source": source.code},
        description=description, reference=reference,
    )


def debit(
    uow: UnitOfWork,
    user_id: str,
    amount: Decimal,
    *,
    destination: Account = accounts.MANUAL_ADJUSTMENTS,
    description: str | None = None,
    reference: str | None = None,
) -> BalanceChange:
    """Money out of the user's available balance to the destination account."""
    return _change_user_balance(
        uow, user_id, type="DEBIT",
        lines=[(accounts.user_available(user_id), -amount), (destination, amount)],
        available_delta=-amount, reserved_delta=Decimal(0),
        event_type=catalogue.BALANCE_DEBITED,
        event_data={"amount": format_amount(amount), "destination": destination.code},
        description=description, reference=reference,
    )


def reserve(
    uow: UnitOfWork, user_id: str, amount: Decimal, *, order_id: str | None = None,
    description: str | None = None,
) -> BalanceChange:
    """available → reserved (funds held for an order)."""
    return _change_user_balance(
        uow, user_id, type="RESERVE",
        lines=[(accounts.user_available(user_id), -amount), (accounts.user_reserved(user_id), amount)],
        available_delta=-amount, reserved_delta=amount,
        event_type=catalogue.BALANCE_RESERVED,
        event_data={"amount": format_amount(amount), **({"orderId": order_id} if order_id else {})},
        description=description, reference=order_id,
    )


def release_reservation(
    uow: UnitOfWork, user_id: str, amount: Decimal, *, order_id: str | None = None, reason: str = "other",
    description: str | None = None,
) -> BalanceChange:
    """reserved → available (a hold is lifted, e.g. an order is cancelled)."""
    return _change_user_balance(
        uow, user_id, type="RELEASE",
        lines=[(accounts.user_reserved(user_id), -amount), (accounts.user_available(user_id), amount)],
        available_delta=amount, reserved_delta=-amount,
        event_type=catalogue.BALANCE_RELEASED,
        event_data={"amount": format_amount(amount), "reason": reason,
                    **({"orderId": order_id} if order_id else {})},
        description=description, reference=order_id,
    )


def spend_reserved(
    uow: UnitOfWork, user_id: str, amount: Decimal, *, destination: Account, order_id: str,
    description: str | None = None,
) -> BalanceChange:
    """reserved → destination (the order's escrow account, when the escrow is funded on chain)."""
    return _change_user_balance(
        uow, user_id, type="ESCROW_FUND",
        lines=[(accounts.user_reserved(user_id), -amount), (destination, amount)],
        available_delta=Decimal(0), reserved_delta=-amount,
        event_type=catalogue.BALANCE_DEBITED,
        event_data={"amount": format_amount(amount), "destination": destination.code, "from": "reserved",
                    "orderId": order_id},
        description=description, reference=order_id,
    )


def get_balance(user_id: str) -> Balance:
    codes = [accounts.user_available(user_id).code, accounts.user_reserved(user_id).code]
    with one_statement() as conn:  # one statement: no transaction around it
        rows = store.balance_rows(conn, user_id, codes)
    own = {r["code"]: r for r in rows if r["code"] in codes}
    if len(own) != 2:
        raise NotFound(f"user {user_id} not found", code="USER_NOT_FOUND")
    pending = sum((r["balance"] for r in rows if r["kind"] == accounts.WITHDRAWAL_PENDING), Decimal("0.00"))
    return replace(_balance_from(user_id, own), pending=pending)


def list_entries(user_id: str, page: PageRequest) -> Page:
    before_id = None
    if page.cursor is not None:
        if not (page.cursor.isascii() and page.cursor.isdigit()) or len(page.cursor) > 18:  # not "7³"
            raise ValidationFailed("cursor is not a ledger entry id", details={"field": "cursor"})
        before_id = int(page.cursor)
    codes = [accounts.user_available(user_id).code, accounts.user_reserved(user_id).code]
    with read_only() as conn:
        if len(store.accounts_of(conn, codes)) != 2:
            raise NotFound(f"user {user_id} not found", code="USER_NOT_FOUND")
        rows = store.entries_for(conn, codes, before_id=before_id, limit=page.limit + 1, owner_id=user_id)
    return Page.from_rows(rows, page.limit, lambda r: r["id"])
