"""Amount limits per operation: what GET /config advertises is what is enforced.

Upstream published minimum and maximum amounts for top-ups, withdrawals and orders and checked none of them
(its defect list, §18.1 #13). Here each create use case calls `check` before anything is written or any rail
is asked, so an amount outside the range is a 422 that names the limit, and the numbers come from one place
(`settings().limits`, environment `<KIND>_MIN_AMOUNT` / `<KIND>_MAX_AMOUNT`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from offerhub.config import AmountRange, settings
from offerhub.core.errors import BusinessRuleViolation
from offerhub.core.money import CURRENCY, format_amount

TOPUP, WITHDRAWAL, ORDER = "topup", "withdrawal", "order"
KINDS = (TOPUP, WITHDRAWAL, ORDER)
_NAMES = {TOPUP: "a top-up", WITHDRAWAL: "a withdrawal", ORDER: "an order"}


def range_of(kind: str) -> AmountRange:
    return getattr(settings().limits, kind)


def check(kind: str, amount: Decimal, *, field: str = "amount") -> None:
    limit = range_of(kind)
    details = {"field": field, "amount": format_amount(amount), "minimum": format_amount(limit.min),
               "maximum": format_amount(limit.max), "currency": CURRENCY, "limit": kind}
    if amount < limit.min:
        raise BusinessRuleViolation(f"{_NAMES[kind]} is at least {format_amount(limit.min)} {CURRENCY}",
                                    code="AMOUNT_BELOW_MINIMUM", details=details)
    if amount > limit.max:
        raise BusinessRuleViolation(f"{_NAMES[kind]} is at most {format_amount(limit.max)} {CURRENCY}",
                                    code="AMOUNT_ABOVE_MAXIMUM", details=details)


def public() -> dict[str, Any]:
    """The limits as GET /config shows them."""
    return {kind: {"min": format_amount(range_of(kind).min), "max": format_amount(range_of(kind).max)}
            for kind in KINDS}
