"""Money: Decimal amounts with exactly two decimals, carried on the wire as strings ("100.00").

Floats never enter: parse_amount rejects anything that is not a string. `is_amount_text` is the wire format
alone; the HTTP layer checks it where the body is read (offerhub.http.params.AmountText), so a number, an
over-long or a malformed amount is INVALID_AMOUNT_FORMAT on every route.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TypeGuard

from offerhub.core.errors import InvalidAmount

CURRENCY = "USD"
CENT = Decimal("0.01")
# Largest single amount we accept: keeps every sum far inside NUMERIC(20, 2).
MAX_AMOUNT = Decimal("1000000000.00")
AMOUNT_PATTERN = r"^(0|[1-9][0-9]{0,12})\.[0-9]{2}$"  # the wire format, as the OpenAPI document states it
_AMOUNT_RE = re.compile(AMOUNT_PATTERN.strip("^$"))  # fullmatch: "$" would let a trailing "\n" by
AMOUNT_FORMAT = 'a string of digits with exactly two decimals, like "100.00"'


def is_amount_text(value: object) -> TypeGuard[str]:
    """The wire format: a string, digits without a leading zero, a dot, two digits (no sign, no exponent)."""
    return isinstance(value, str) and _AMOUNT_RE.fullmatch(value) is not None


def parse_amount(value: object, *, field: str = "amount", allow_zero: bool = False) -> Decimal:
    if not is_amount_text(value):
        details: dict[str, object] = {"field": field}
        if isinstance(value, str):
            details["value"] = value[:40]
        raise InvalidAmount(f"{field} must be {AMOUNT_FORMAT}", details=details)
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
