"""USDC on Stellar has 7 decimals (amounts in stroops); the product's money has 2 (cents)."""

from __future__ import annotations

from decimal import Decimal

from offerhub.core.money import CENT

STROOPS_PER_UNIT = 10_000_000
STROOPS_PER_CENT = 100_000


def to_stroops(amount: Decimal) -> int:
    return int(amount * STROOPS_PER_UNIT)


def cents_and_dust(stroops: int) -> tuple[Decimal, int]:
    """An on-chain amount as whole cents, and the stroops left below one cent."""
    cents, dust = divmod(stroops, STROOPS_PER_CENT)
    return (Decimal(cents) / 100).quantize(CENT), dust
