"""The escrow port: where an order's money is held between funding and settlement.

Two providers sit behind it. `TRUSTLESS_WORK` (crypto mode) holds it in a Trustless Work contract on
Stellar, every action a resumable on-chain step; `LEDGER` (airtm mode, where the money is fiat at Airtm)
holds it in the ledger's own `order:<id>:escrow` account, so every action is a no-op on the rail and the
settlement is ledger postings only. The use cases (escrow, resolution, disputes) call the port and write
the same states, ledger lines, events and audit rows for both.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Protocol

from offerhub.config import settings
from offerhub.core.context import RequestContext
from offerhub.escrow.ledger_rail import LEDGER, LedgerEscrow
from offerhub.escrow.settlement import Payout
from offerhub.escrow.trustless_rail import TRUSTLESS_WORK, TrustlessWorkEscrow

Order = dict[str, Any]
Escrow = dict[str, Any]


class EscrowRail(Protocol):
    provider: str

    def deploy(self, ctx: RequestContext, order: Order, escrow: Escrow, milestones: list[dict[str, Any]]
               ) -> str | None:
        """Create the escrow on the rail; returns its contract id (None when the rail has none)."""

    def fund(self, ctx: RequestContext, order: Order, escrow: Escrow) -> dict[str, Any]:
        """Move the order amount from the buyer into the escrow on the rail."""

    def complete_milestone(self, ctx: RequestContext, order: Order, escrow: Escrow, index: int) -> dict[str, Any]:
        """The seller marks one milestone delivered."""

    def release(self, ctx: RequestContext, order: Order, escrow: Escrow, positions: list[int]) -> None:
        """Pay the whole escrow to the seller (every milestone approved first)."""

    def freeze(self, ctx: RequestContext, order: Order, escrow: Escrow, opened_by: str) -> None:
        """A dispute was opened: no release may happen until it is resolved."""

    def resolve(self, ctx: RequestContext, order: Order, escrow: Escrow, opened_by: str,
                shares: list[tuple[str, Decimal]]) -> frozenset[str]:
        """Pay the escrow out in shares, by role (`seller`, `buyer`), after a dispute (or a refund). Returns
        the roles whose share the platform covered (it arrived whole: REFUND_FEES_PAID_BY, settlement.py)."""

    def payout(self, gross: Decimal, platform_fee_percent: Decimal, *, covered: bool = False) -> Payout:
        """What a gross share becomes once the rail and the platform took their fees (covered: the platform
        paid them back, the receiver got the gross)."""

    def inspect(self, escrow: Escrow) -> dict[str, Any] | None:
        """The escrow as the rail reports it (None when the rail keeps no state of its own)."""


def provider_for_mode() -> str:
    return LEDGER if settings().payment_provider == "airtm" else TRUSTLESS_WORK


def rail_for(escrow: Escrow) -> EscrowRail:
    return LedgerEscrow() if escrow["provider"] == LEDGER else TrustlessWorkEscrow()
