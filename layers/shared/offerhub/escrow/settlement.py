"""Ledger lines for money leaving an escrow contract, mirroring what the contract pays on chain.

On every payout (a release, or each share of a dispute resolution) the contract takes Trustless Work's
0.3% and the platform fee from the gross share, each truncated to the stroop (1e-7), and pays the rest
to the receiver. The ledger keeps cents: the receiver is credited the chain amount rounded down to the
cent, the platform fee likewise, and Trustless Work's line takes the remainder, so every transaction
still sums to zero and a wallet never holds less than its ledger balance (at most sub-cent dust more).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from offerhub.adapters.postgres.unit_of_work import UnitOfWork
from offerhub.core.money import CENT, format_amount
from offerhub.ledger import accounts
from offerhub.ledger import service as ledger

STROOPS = 10_000_000
TRUSTLESS_FEE_BPS = 30
TRUSTLESS_WORK = accounts.external("trustless-work")


@dataclass(frozen=True)
class Payout:
    gross: Decimal
    net: Decimal
    platform_fee: Decimal
    provider_fee: Decimal

    def to_public(self) -> dict[str, str]:
        return {"gross": format_amount(self.gross), "net": format_amount(self.net),
                "platformFee": format_amount(self.platform_fee), "trustlessWorkFee": format_amount(self.provider_fee)}


def payout(gross: Decimal, platform_fee_percent: Decimal) -> Payout:
    stroops = int(gross * STROOPS)
    provider = stroops * TRUSTLESS_FEE_BPS // 10_000
    platform = stroops * int(platform_fee_percent * 100) // 10_000
    net = (Decimal(stroops - provider - platform) / STROOPS).quantize(CENT, rounding=ROUND_DOWN)
    platform_fee = (Decimal(platform) / STROOPS).quantize(CENT, rounding=ROUND_DOWN)
    return Payout(gross=gross, net=net, platform_fee=platform_fee, provider_fee=gross - net - platform_fee)


def pay_share(uow: UnitOfWork, order_id: str, user_id: str, share: Payout, *, description: str) -> None:
    escrow = accounts.order_escrow(order_id)
    if share.net > 0:
        ledger.credit(uow, user_id, share.net, source=escrow, description=description, reference=order_id)
    fees = [(accounts.platform_fees(), share.platform_fee), (TRUSTLESS_WORK, share.provider_fee)]
    fees = [(account, amount) for account, amount in fees if amount > 0]
    if fees:
        ledger.post(uow, "ESCROW_FEES", [(escrow, -sum((a for _, a in fees), Decimal(0))), *fees],
                    description=f"fees on {description}", reference=order_id)
