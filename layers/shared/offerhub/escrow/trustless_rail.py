"""The TRUSTLESS_WORK escrow provider (crypto mode): one single-release contract per order, every action
a resumable, signed on-chain step (escrow/steps.py).

Roles (upstream's mapping): the buyer deploys, approves and is the release signer; the seller is the
service provider and receiver; the platform wallet is the platform address (fee receiver) and the
dispute resolver. One contract milestone per order milestone: the release needs every milestone approved.

  release  ms:i:status (seller) + ms:i:approve (buyer) for every milestone, then release (buyer)
  refund   dispute (buyer), then resolve (platform: 100% to the buyer)
  dispute  dispute (the opener, done when it was opened), then resolve (platform: the decision)

A buyer's share is covered when refunds are whole (escrow/settlement.py): after the resolution a last step,
`topup:buyer`, is a USDC payment from the platform wallet to the buyer of both fees the contract took from
that share (a resumable payment, escrow/steps.pay). Once recorded it is finished whatever the setting says by
then, so the settlement always matches what the chain did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from offerhub.adapters.postgres.unit_of_work import read_only
from offerhub.config import settings
from offerhub.core.context import RequestContext
from offerhub.core.errors import ProviderError
from offerhub.escrow import settlement, steps, store
from offerhub.escrow.settlement import Payout
from offerhub.escrow.steps import Payment, Step
from offerhub.stellar import envelopes
from offerhub.stellar.horizon import USDC
from offerhub.trustless.client import trustless_work
from offerhub.wallets.service import Signer, platform_signer, user_signer

TRUSTLESS_WORK = "TRUSTLESS_WORK"
TOPUP = "topup:buyer"
Order = dict[str, Any]
Escrow = dict[str, Any]


@dataclass(frozen=True)
class Parties:
    buyer: Signer
    seller: Signer
    platform: Signer


def parties(ctx: RequestContext, order: Order) -> Parties:
    return Parties(user_signer(ctx, order["buyer_id"]), user_signer(ctx, order["seller_id"]), platform_signer(ctx))


class TrustlessWorkEscrow:
    provider = TRUSTLESS_WORK

    def deploy(self, ctx: RequestContext, order: Order, escrow: Escrow, milestones: list[dict[str, Any]]) -> str:
        who = parties(ctx, order)
        net = settings().stellar
        order_id = order["id"]
        result = steps.run(ctx, order_id, Step("deploy", "deploy", "buyer", who.buyer, {
            "signer": who.buyer.public_key, "engagementId": order_id, "title": order["title"][:200],
            "description": (order["description"] or order["title"])[:1000],
            "roles": {"approver": who.buyer.public_key, "serviceProvider": who.seller.public_key,
                      "platformAddress": who.platform.public_key, "releaseSigner": who.buyer.public_key,
                      "disputeResolver": who.platform.public_key, "receiver": who.seller.public_key},
            "amount": order["amount"], "platformFee": escrow["platform_fee_percent"],
            "milestones": [{"description": m["title"][:200]} for m in milestones],
            "trustline": {"address": net.usdc_issuer, "symbol": USDC},
        }))
        # The deploy answer names the contract; if that answer was lost, find it by deployer and engagement.
        contract_id = result.get("contractId") or trustless_work().find_contract(who.buyer.public_key, order_id)
        if not contract_id:
            raise ProviderError("Trustless Work has not reported the deployed contract yet; retry",
                                code="TRUSTLESS_WORK_ERROR")
        return str(contract_id)

    def fund(self, ctx: RequestContext, order: Order, escrow: Escrow) -> dict[str, Any]:
        buyer = user_signer(ctx, order["buyer_id"])
        return steps.run(ctx, order["id"], Step("fund", "fund-escrow", "buyer", buyer, {
            "contractId": escrow["contract_id"], "signer": buyer.public_key, "amount": order["amount"]},
            escrow["contract_id"], applied=lambda e: Decimal(str(e.get("balance") or 0)) >= order["amount"]))

    def complete_milestone(self, ctx: RequestContext, order: Order, escrow: Escrow, index: int) -> dict[str, Any]:
        seller = user_signer(ctx, order["seller_id"])
        return steps.run(ctx, order["id"], milestone_status_step(escrow["contract_id"], seller, index))

    def release(self, ctx: RequestContext, order: Order, escrow: Escrow, positions: list[int]) -> None:
        who = parties(ctx, order)
        contract = escrow["contract_id"]
        for step in milestone_steps(contract, who, positions):
            steps.run(ctx, order["id"], step)
        steps.run(ctx, order["id"], Step("release", "release-funds", "buyer", who.buyer,
                                         {"contractId": contract, "releaseSigner": who.buyer.public_key}, contract,
                                         applied=flag("released")))

    def freeze(self, ctx: RequestContext, order: Order, escrow: Escrow, opened_by: str) -> None:
        opener = user_signer(ctx, order["buyer_id"] if opened_by == "BUYER" else order["seller_id"])
        steps.run(ctx, order["id"], dispute_step(escrow["contract_id"], opener, opened_by.lower()))

    def resolve(self, ctx: RequestContext, order: Order, escrow: Escrow, opened_by: str,
                shares: list[tuple[str, Decimal]]) -> frozenset[str]:
        who = parties(ctx, order)
        contract, pct = escrow["contract_id"], escrow["platform_fee_percent"]
        refunded = dict(shares).get("buyer")
        # The setting decides before the top-up starts; a top-up already recorded is finished regardless.
        recorded = refunded is not None and _topup_recorded(order["id"])
        covered = refunded is not None and (recorded or settlement.platform_pays_refund_fees())
        if covered and not recorded:
            settlement.require_platform_float(refunded, pct)  # refuse before the chain moves, not half way
        opener = who.buyer if opened_by == "BUYER" else who.seller
        steps.run(ctx, order["id"], dispute_step(contract, opener, opened_by.lower()))
        address = {"seller": who.seller.public_key, "buyer": who.buyer.public_key}
        steps.run(ctx, order["id"], Step("resolve", "resolve-dispute", "platform", who.platform, {
            "contractId": contract, "disputeResolver": who.platform.public_key,
            "distributions": [{"address": address[role], "amount": amount} for role, amount in shares]}, contract,
            applied=flag("resolved")))
        if not covered:
            return frozenset()
        assert refunded is not None
        amount = settlement.topup(refunded, pct)
        steps.pay(ctx, order["id"], Payment(
            TOPUP, "platform", who.platform, who.buyer.public_key, amount,
            precheck=lambda: settlement.require_platform_float(refunded, pct), refused=_short_of(amount)))
        return frozenset({"buyer"})

    def payout(self, gross: Decimal, platform_fee_percent: Decimal, *, covered: bool = False) -> Payout:
        return settlement.payout(gross, platform_fee_percent, covered=covered)

    def inspect(self, escrow: Escrow) -> dict[str, Any] | None:
        found = trustless_work().escrow(escrow["contract_id"]) if escrow["contract_id"] else None
        if found is None:
            return None
        return {
            "contractId": found.get("contractId"),
            "balance": str(found.get("balance")),
            "amount": str(found.get("amount")),
            "platformFeePercent": str(found.get("platformFee")),
            "flags": found.get("flags"),
            "milestones": [{"description": m.get("description"), "status": m.get("status"),
                            "approved": m.get("approved")} for m in found.get("milestones", [])],
            "roles": found.get("roles"),
        }


def milestone_steps(contract_id: str, who: Parties, positions: list[int]) -> list[Step]:
    """The seller marks each milestone completed, the buyer approves it (upstream only ever did index 0)."""
    out: list[Step] = []
    for i in positions:
        out.append(milestone_status_step(contract_id, who.seller, i))
        out.append(Step(f"ms:{i}:approve", "approve-milestone", "buyer", who.buyer, {
            "contractId": contract_id, "milestoneIndex": str(i), "approver": who.buyer.public_key}, contract_id,
            applied=lambda e, i=i: _milestone(e, i).get("approved") is True))
    return out


def milestone_status_step(contract_id: str, seller: Signer, index: int) -> Step:
    return Step(f"ms:{index}:status", "change-milestone-status", "seller", seller, {
        "contractId": contract_id, "milestoneIndex": str(index), "newStatus": "completed",
        "serviceProvider": seller.public_key}, contract_id,
        applied=lambda e: _milestone(e, index).get("status") == "completed")


def _milestone(escrow: dict[str, Any], index: int) -> dict[str, Any]:
    milestones = escrow.get("milestones") or []
    return milestones[index] if index < len(milestones) else {}


def dispute_step(contract_id: str, opener: Signer, role: str) -> Step:
    """Disputed on chain, or already past that (resolved)."""
    return Step("dispute", "dispute-escrow", role, opener, {"contractId": contract_id, "signer": opener.public_key},
                contract_id, applied=flag("disputed", "resolved"))


def _topup_recorded(order_id: str) -> bool:
    with read_only() as conn:
        return store.step(conn, order_id, TOPUP) is not None


def _short_of(amount: Decimal) -> Callable[[ProviderError], Exception | None]:
    """The network refused the top-up because the platform wallet's USDC is short (a failed transaction,
    which moved nothing): answer the clear 503, not a provider error."""
    def refused(exc: ProviderError) -> Exception | None:
        if "op_underfunded" in envelopes.result_codes(exc):
            return settlement.platform_short({"topup": f"{amount:.7f}"})
        return None

    return refused


def flag(*names: str) -> Callable[[dict[str, Any]], bool]:
    """`applied` predicate: the contract shows one of these flags (released, disputed, resolved)."""
    return lambda escrow: any((escrow.get("flags") or {}).get(name) for name in names)
