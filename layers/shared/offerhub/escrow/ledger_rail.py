"""The LEDGER escrow provider (airtm mode): the money stays at Airtm, in the marketplace's enterprise
account, and the ledger's `order:<id>:escrow` account says whose it is. Nothing happens on a rail; the
settlement's ledger lines are the whole effect. Only the platform fee is taken (there is no Trustless Work).

Refunds are whole here too (REFUND_FEES_PAID_BY=platform, escrow/settlement.py): the buyer's share is covered,
so it is credited in full and the platform takes no fee on it; nothing has to be paid back on a rail."""

from __future__ import annotations

from dataclasses import replace
from decimal import ROUND_DOWN, Decimal
from typing import Any

from offerhub.core.context import RequestContext
from offerhub.core.money import CENT
from offerhub.escrow import settlement
from offerhub.escrow.settlement import Payout

LEDGER = "LEDGER"
Order = dict[str, Any]
Escrow = dict[str, Any]


class LedgerEscrow:
    provider = LEDGER

    def deploy(self, ctx: RequestContext, order: Order, escrow: Escrow, milestones: list[dict[str, Any]]) -> None:
        return None

    def fund(self, ctx: RequestContext, order: Order, escrow: Escrow) -> dict[str, Any]:
        return {}

    def complete_milestone(self, ctx: RequestContext, order: Order, escrow: Escrow, index: int) -> dict[str, Any]:
        return {}

    def release(self, ctx: RequestContext, order: Order, escrow: Escrow, positions: list[int]) -> None:
        return None

    def freeze(self, ctx: RequestContext, order: Order, escrow: Escrow, opened_by: str) -> None:
        return None

    def resolve(self, ctx: RequestContext, order: Order, escrow: Escrow, opened_by: str,
                shares: list[tuple[str, Decimal]]) -> frozenset[str]:
        covered = any(role == "buyer" for role, _ in shares) and settlement.platform_pays_refund_fees()
        return frozenset({"buyer"}) if covered else frozenset()

    def payout(self, gross: Decimal, platform_fee_percent: Decimal, *, covered: bool = False) -> Payout:
        if covered:
            return replace(settlement.whole(gross), fees_paid_by=settlement.PLATFORM)
        fee = (gross * platform_fee_percent / 100).quantize(CENT, rounding=ROUND_DOWN)
        return Payout(gross=gross, net=gross - fee, platform_fee=fee, provider_fee=Decimal("0.00"))

    def inspect(self, escrow: Escrow) -> dict[str, Any] | None:
        return None
