"""Ledger lines for money leaving an escrow, mirroring what moved on chain.

On every payout (a release, or each share of a dispute resolution) the contract takes Trustless Work's
0.3% and the platform fee from the gross share, each truncated to the stroop (1e-7), and pays the rest
to the receiver. The ledger keeps cents: the receiver is credited the chain amount rounded down to the
cent, plus any whole cent their wallet's carried dust now adds up to (wallets/store.carry_dust); the
platform fee likewise, with the platform wallet's dust; Trustless Work's line takes the remainder.

Refunds are whole (`REFUND_FEES_PAID_BY=platform`, the default): the buyer's share of a refund or a split
is *covered*. The contract still takes both fees from it, so the platform wallet then pays the buyer both
fees back, to the stroop (`topup`): the buyer's wallet receives exactly the gross share and is credited
exactly that; the platform wallet has received the platform fee and paid it back with Trustless Work's,
so `platform:fees` bears Trustless Work's fee (and earns nothing on the buyer's share). With
`REFUND_FEES_PAID_BY=buyer` the buyer's share is paid like any other.

Every transaction sums to zero; a user's ledger balance is always their wallet's USDC rounded down to the
cent, and `platform:fees` the platform wallet's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from offerhub.adapters.postgres.unit_of_work import UnitOfWork, read_only
from offerhub.config import settings
from offerhub.core.errors import InsufficientFunds, ServiceUnavailable
from offerhub.core.money import CURRENCY, format_amount
from offerhub.ledger import accounts
from offerhub.ledger import service as ledger
from offerhub.ledger import store as ledger_store
from offerhub.stellar.amounts import STROOPS_PER_CENT, STROOPS_PER_UNIT, cents_and_dust, to_stroops
from offerhub.wallets import store as wallet_store

TRUSTLESS_FEE_BPS = 30
TRUSTLESS_WORK = accounts.external("trustless-work")
# Who bore a share's fees: the receiver (they got the share less the fees), or the platform (a covered share).
RECEIVER, PLATFORM = "RECEIVER", "PLATFORM"
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Payout:
    gross: Decimal
    net: Decimal
    platform_fee: Decimal
    provider_fee: Decimal
    net_dust_stroops: int = 0  # what the receiver gets on chain beyond `net`, below one cent
    platform_dust_stroops: int = 0  # likewise for the platform wallet beyond `platform_fee`
    fees_paid_by: str = RECEIVER
    # A covered share: what the platform wallet loses covering its fees (Trustless Work's fee, in stroops).
    covered_stroops: int = 0

    def to_public(self) -> dict[str, str]:
        return {"gross": format_amount(self.gross), "net": format_amount(self.net),
                "platformFee": format_amount(self.platform_fee), "trustlessWorkFee": format_amount(self.provider_fee),
                "feesPaidBy": self.fees_paid_by}


def whole(gross: Decimal) -> Payout:
    """A share paid in full with no fee at all (the ledger escrow's covered share; a cancel's release)."""
    return Payout(gross=gross, net=gross, platform_fee=ZERO, provider_fee=ZERO)


def platform_pays_refund_fees() -> bool:
    """REFUND_FEES_PAID_BY: whether a buyer's share (a refund, a split's refund part) arrives whole."""
    return settings().refund_fees_paid_by == "platform"


def _fee_stroops(gross: Decimal, platform_fee_percent: Decimal) -> tuple[int, int]:
    """What the contract takes from a gross share: (Trustless Work's fee, the platform fee), in stroops."""
    stroops = to_stroops(gross)
    return stroops * TRUSTLESS_FEE_BPS // 10_000, stroops * int(platform_fee_percent * 100) // 10_000


def payout(gross: Decimal, platform_fee_percent: Decimal, *, covered: bool = False) -> Payout:
    provider, platform = _fee_stroops(gross, platform_fee_percent)
    if covered:
        # Estimated at a whole cent up; pay_share posts what the platform wallet's dust makes of it.
        return Payout(gross=gross, net=gross, platform_fee=ZERO,
                      provider_fee=Decimal(-(-provider // STROOPS_PER_CENT)) / 100, fees_paid_by=PLATFORM,
                      covered_stroops=provider)
    net, net_dust = cents_and_dust(to_stroops(gross) - provider - platform)
    platform_fee, platform_dust = cents_and_dust(platform)
    return Payout(gross=gross, net=net, platform_fee=platform_fee, provider_fee=gross - net - platform_fee,
                  net_dust_stroops=net_dust, platform_dust_stroops=platform_dust)


def topup(gross: Decimal, platform_fee_percent: Decimal) -> Decimal:
    """What the platform wallet pays the receiver of a covered share after the contract's payout: both fees
    the contract took, to the stroop, so the receiver's wallet gets exactly the gross share."""
    provider, platform = _fee_stroops(gross, platform_fee_percent)
    return Decimal(provider + platform) / STROOPS_PER_UNIT


def require_platform_float(gross: Decimal, platform_fee_percent: Decimal) -> None:
    """Before covering a share: the platform wallet (per `platform:fees` and its carried dust, which equal its
    USDC) must be able to bear Trustless Work's fee on it, or nothing starts (503, retry once funded). The
    platform fee it pays back arrives from the contract first, so only Trustless Work's fee is needed."""
    provider, _ = _fee_stroops(gross, platform_fee_percent)
    with read_only() as conn:
        fees = ledger_store.balance_of(conn, accounts.platform_fees().code) or ZERO
        wallet = wallet_store.platform(conn)
    held = to_stroops(fees) + (wallet["dust_stroops"] if wallet else 0)
    if held < provider:
        raise platform_short({"needed": f"{Decimal(provider) / STROOPS_PER_UNIT:.7f}",
                              "platformFees": format_amount(fees)})


def platform_short(details: dict[str, str]) -> ServiceUnavailable:
    return ServiceUnavailable(
        "the platform wallet holds too little USDC to pay the fees of the buyer's share back; the settlement "
        "stays requested and finishes on a retry (or the reconciliation) once the platform wallet is funded",
        code="PLATFORM_FUNDS_INSUFFICIENT", details=details)


def pay_share(uow: UnitOfWork, order_id: str, user_id: str, share: Payout, *, description: str) -> Payout:
    """Post the share; returns it as posted (carried dust may have added a cent to the receiver's net or to
    the platform fee, taken from Trustless Work's remainder line)."""
    if share.fees_paid_by == PLATFORM:
        return _pay_covered(uow, order_id, user_id, share, description=description)
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


def _pay_covered(uow: UnitOfWork, order_id: str, user_id: str, share: Payout, *, description: str) -> Payout:
    """A covered share: the receiver is credited the gross (their wallet got exactly that: the contract's net
    plus the platform's top-up), and `platform:fees` pays Trustless Work's fee. The platform wallet lost that
    fee to the stroop: it is taken a whole cent up, and what that overshoots joins the wallet's carried dust
    (which may give a cent back), so `platform:fees` stays the wallet's USDC rounded down."""
    ledger.credit(uow, user_id, share.gross, source=accounts.order_escrow(order_id), description=description,
                  reference=order_id)
    cents_up = -(-share.covered_stroops // STROOPS_PER_CENT)
    back = wallet_store.carry_dust(uow.conn, None, cents_up * STROOPS_PER_CENT - share.covered_stroops)
    cost = Decimal(cents_up) / 100 - back
    if cost > 0:
        try:
            ledger.post(uow, "REFUND_FEES_COVERED", [(accounts.platform_fees(), -cost), (TRUSTLESS_WORK, cost)],
                        description=f"Trustless Work fee on {description}, paid by the platform",
                        reference=order_id)
        except InsufficientFunds as exc:  # the chain paid, the ledger is short: settle once fees come in
            raise platform_short({"needed": format_amount(cost), **exc.details}) from exc
    return replace(share, provider_fee=cost.quantize(ZERO))


def closed_data(outcome: str, amount: Decimal, payouts: Mapping[str, Payout]) -> dict[str, Any]:
    """What `order.closed` says about the money: the outcome, each side's gross share and what it received,
    and the fees taken (summed over the shares). A cancel passes `{"buyer": whole(amount)}` when the
    reservation went back to the buyer, `{}` when nothing was reserved."""
    seller, buyer = payouts.get("seller"), payouts.get("buyer")
    return {
        "outcome": outcome, "amount": format_amount(amount), "currency": CURRENCY,
        "sellerAmount": format_amount(seller.gross if seller else ZERO),
        "sellerNet": format_amount(seller.net if seller else ZERO),
        "buyerAmount": format_amount(buyer.gross if buyer else ZERO),
        "buyerNet": format_amount(buyer.net if buyer else ZERO),
        "platformFee": format_amount(sum((p.platform_fee for p in payouts.values()), ZERO)),
        "trustlessWorkFee": format_amount(sum((p.provider_fee for p in payouts.values()), ZERO)),
    }
