"""Money: Decimal amounts with exactly two decimals, carried on the wire as strings ("100.00").

Floats never enter: parse_amount rejects anything that is not a string.
"""

from __future__ import annotations

import re
from decimal import Decimal

from offerhub.core.errors import InvalidAmount

CURRENCY = "USD"
CENT = Decimal("0.01")
# Largest single amount we accept: keeps every sum far inside NUMERIC(20, 2).
MAX_AMOUNT = Decimal("1000000000.00")
_AMOUNT_RE = re.compile(r"(0|[1-9][0-9]{0,12})\.[0-9]{2}")


def parse_amount(value: object, *, field: str = "amount", allow_zero: bool = False) -> Decimal:
    if not isinstance(value, str):
        raise InvalidAmount(
            f'{field} must be a string with two decimals, like "100.00"',
            details={"field": field},
        )
    if not _AMOUNT_RE.fullmatch(value):
        raise InvalidAmount(
            f'{field} must have exactly two decimals, like "100.00"',
            details={"field": field, "value": value[:40]},
        )
    amount = Decimal(value)
    if amount <= 0 and not (allow_zero and amount == 0):
        raise InvalidAmount(f"{field} must be greater than 0.00", details={"field": field, "value": value})
    if amount > MAX_AMOUNT:
        raise InvalidAmount(
            f"{field} must not exceed {format_amount(MAX_AMOUNT)}",
            details={"field": field, "value": value, "max": format_amount(MAX_AMOUNT)},
        )
    return amount


def format_amount(amount: Decimal) -> str:
    return str(amount.quantize(CENT))


def check_currency(value: object) -> str:
    if value != CURRENCY:
        raise InvalidAmount(
            f"currency must be {CURRENCY}", code="INVALID_CURRENCY", details={"field": "currency"}
        )
    return CURRENCY
