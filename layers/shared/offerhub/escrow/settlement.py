"""Ledger lines for money leaving an escrow contract, mirroring what the contract pays on chain.

On every payout (a release, or each share of a dispute resolution) the contract takes Trustless Work's
0.3% and the platform fee from the gross share, each truncated to the stroop (1e-7), and pays the rest
to the receiver. The ledger keeps cents: the receiver is credited the chain amount rounded down to the
cent, plus any whole cent their wallet's carried dust now adds up to (wallets/store.carry_dust); the
platform fee likewise, with the platform wallet's dust; Trustless Work's line takes the remainder. Every
transaction still sums to zero; a user's ledger balance is always their wallet's USDC rounded down to the
cent, and `platform:fees` the platform wallet's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from offerhub.adapters.postgres.unit_of_work import UnitOfWork
from offerhub.core.money import format_amount
from offerhub.ledger import accounts
from offerhub.ledger import service as ledger
from offerhub.stellar.amounts import cents_and_dust, to_stroops
from offerhub.wallets import store as wallet_store

TRUSTLESS_FEE_BPS = 30
TRUSTLESS_WORK = accounts.external("trustless-work")


@dataclass(frozen=True)
class Payout:
    gross: Decimal
    net: Decimal
    platform_fee: Decimal
    provider_fee: Decimal
    net_dust_stroops: int = 0  # what the receiver gets on chain beyond `net`, below one cent
    platform_dust_stroops: int = 0  # likewise for the platform wallet beyond `platform_fee`

    def to_public(self) -> dict[str, str]:
        return {"gross": format_amount(self.gross), "net": format_amount(self.net),
                "platformFee": format_amount(self.platform_fee), "trustlessWorkFee": format_amount(self.provider_fee)}


def payout(gross: Decimal, platform_fee_percent: Decimal) -> Payout:
    stroops = to_stroops(gross)
    provider = stroops * TRUSTLESS_FEE_BPS // 10_000
    platform = stroops * int(platform_fee_percent * 100) // 10_000
    net, net_dust = cents_and_dust(stroops - provider - platform)
    platform_fee, platform_dust = cents_and_dust(platform)
    return Payout(gross=gross, net=net, platform_fee=platform_fee, provider_fee=gross - net - platform_fee,
                  net_dust_stroops=net_dust, platform_dust_stroops=platform_dust)


def pay_share(uow: UnitOfWork, order_id: str, user_id: str, share: Payout, *, description: str) -> Payout:
    """Post the share; returns it as posted (carried dust may have added a cent to the receiver's net or to
    the platform fee, taken from Trustless Work's remainder line)."""
    to_receiver = wallet_store.carry_dust(uow.conn, user_id, share.net_dust_stroops)
    to_platform = wallet_store.carry_dust(uow.conn, None, share.platform_dust_stroops)
    share = replace(share, net=share.net + to_receiver, platform_fee=share.platform_fee + to_platform,
                    provider_fee=share.provider_fee - to_receiver - to_platform, net_dust_stroops=0,
                    platform_dust_stroops=0)
    escrow = accounts.order_escrow(order_id)
    if share.net > 0:
        ledger.credit(uow, user_id, share.net, source=escrow, description=description, reference=order_id)
    # Trustless Work's line can be negative by a carried cent (an external account may go below zero).
    fees = [(account, amount) for account, amount in ((accounts.platform_fees(), share.platform_fee),
                                                      (TRUSTLESS_WORK, share.provider_fee)) if amount != 0]
    from_escrow = sum((amount for _, amount in fees), Decimal(0))
    lines = ([(escrow, -from_escrow)] if from_escrow else []) + fees
    if len(lines) >= 2:
        ledger.post(uow, "ESCROW_FEES", lines, description=f"fees on {description}", reference=order_id)
    return share
