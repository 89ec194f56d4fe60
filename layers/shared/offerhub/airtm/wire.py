"""Airtm request bodies and amount encoding, in one place (reference/providers.md §B.3, §B.4).

Airtm takes amounts as JSON numbers with at most 2 decimals. They are Decimals here and on the wire
(offerhub.core.decimal_json writes number literals from Decimals and reads numbers back as Decimals), never
floats. An amount that is not a positive whole number of cents is refused rather than rounded: silently
rounding money would pay or charge someone a different sum than the ledger holds.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from offerhub.core.decimal_json import dumps, loads
from offerhub.core.errors import InvalidAmount, ProviderError

__all__ = ["CENT", "NOTES_MAX_CHARS", "dumps", "loads", "money", "payin_body", "payout_body", "read_amount"]

CENT = Decimal("0.01")
NOTES_MAX_CHARS = 255  # CreatePayoutRequest.notes (shown to the recipient)


def money(amount: Decimal) -> Decimal:
    """The amount quantized to cents; refuses floats, non-finite, non-positive and sub-cent values."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise InvalidAmount("Airtm amounts must be finite Decimals", details={"amount": str(amount)})
    try:
        cents = amount.quantize(CENT)
    except InvalidOperation as exc:  # beyond the context's precision
        raise InvalidAmount("Airtm amount is out of range", details={"amount": str(amount)}) from exc
    if cents != amount or cents <= 0:
        raise InvalidAmount("Airtm amounts must be positive with at most 2 decimals", details={"amount": str(amount)})
    return cents


def payin_body(code: str, amount: Decimal, description: str, confirmation_uri: str, cancel_uri: str) -> dict[str, Any]:
    """CreatePayinRequest with a single item, so the items sum (amount * quantity) equals the total by construction."""
    total = money(amount)
    return {
        "code": code,
        "amount": total,
        "description": description,
        "items": [{"description": description, "amount": total, "quantity": 1}],
        "confirmationUri": confirmation_uri,
        "cancelUri": cancel_uri,
    }


def payout_body(code: str, email: str, amount: Decimal, notes: str, commit: bool) -> dict[str, Any]:
    """CreatePayoutRequest; `code` makes a retried create detectable, notes are cut to Airtm's 255 chars."""
    return {
        "code": code,
        "airtmUserEmail": email,
        "amount": money(amount),
        "notes": notes[:NOTES_MAX_CHARS],
        "commit": commit,
    }


def read_amount(value: Any, field: str) -> Decimal | None:
    """An amount Airtm answered with (a number, read as a Decimal), in cents; None when absent. Anything
    unreadable is Airtm's error (502), never a crash and never a guess."""
    if value is None:
        return None
    try:
        if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
            raise TypeError(field)
        amount = Decimal(value)
        if not amount.is_finite() or amount < 0:
            raise ValueError(field)
        return amount.quantize(CENT)
    except (TypeError, ValueError, InvalidOperation) as exc:
        raise ProviderError("Airtm answered with an unreadable amount", code="PROVIDER_ERROR",
                            details={"field": field, "value": str(value)[:40]}) from exc
