"""Ledger account codes. A user's balance is two accounts; orders, fees and the outside world have theirs.

Only EXTERNAL accounts may go negative: they mirror money that came from (or left to) outside.
"""

from __future__ import annotations

from dataclasses import dataclass

USER_AVAILABLE = "USER_AVAILABLE"
USER_RESERVED = "USER_RESERVED"
ORDER_ESCROW = "ORDER_ESCROW"
WITHDRAWAL_PENDING = "WITHDRAWAL_PENDING"
PLATFORM_FEES = "PLATFORM_FEES"
EXTERNAL = "EXTERNAL"


@dataclass(frozen=True)
class Account:
    code: str
    kind: str
    owner_id: str | None = None

    @property
    def allow_negative(self) -> bool:
        return self.kind == EXTERNAL


def user_available(user_id: str) -> Account:
    return Account(f"user:{user_id}:available", USER_AVAILABLE, user_id)


def user_reserved(user_id: str) -> Account:
    return Account(f"user:{user_id}:reserved", USER_RESERVED, user_id)


def order_escrow(order_id: str) -> Account:
    return Account(f"order:{order_id}:escrow", ORDER_ESCROW, order_id)


def withdrawal_pending(withdrawal_id: str, user_id: str) -> Account:
    """Money on its way out: the user's, but not spendable, until the rail confirms or fails."""
    return Account(f"withdrawal:{withdrawal_id}:pending", WITHDRAWAL_PENDING, user_id)


def platform_fees() -> Account:
    return Account("platform:fees", PLATFORM_FEES)


def external(source: str) -> Account:
    """The outside world for one rail: `manual` (support adjustments), `stellar`, `airtm`, `trustless-work`."""
    return Account(f"external:{source}", EXTERNAL)


MANUAL_ADJUSTMENTS = external("manual")
