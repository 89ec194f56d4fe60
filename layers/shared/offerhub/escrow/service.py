"""Escrow use cases: deploy the contract, fund it, complete a milestone on chain, read it.

Roles (upstream's mapping): the buyer deploys, approves and is the release signer; the seller is the
service provider and receiver; the platform wallet is the platform address (fee receiver) and the
dispute resolver. One single-release contract per order, with one contract milestone per order
milestone: the release needs every milestone approved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from offerhub.adapters.postgres.unit_of_work import read_only, transaction
from offerhub.audit.service import record
from offerhub.config import settings
from offerhub.core.clock import iso, utcnow
from offerhub.core.context import RequestContext
from offerhub.core.errors import Conflict, NotFound, OfferHubError, ProviderError
from offerhub.core.ids import looks_like, new_id
from offerhub.core.money import CURRENCY, format_amount
from offerhub.escrow import steps, store
from offerhub.escrow.steps import Step
from offerhub.events import catalogue
from offerhub.ledger import accounts
from offerhub.ledger import service as ledger
from offerhub.orders import lease, states, views
from offerhub.orders import store as order_store
from offerhub.orders.service import lock_order, milestone_index, transition
from offerhub.stellar.horizon import USDC
from offerhub.trustless.client import trustless_work
from offerhub.wallets.service import Signer, platform_signer, user_signer

# Escrow (our record) states.
CREATING, CREATED, FUNDING, FUNDED = "CREATING", "CREATED", "FUNDING", "FUNDED"
RELEASED, REFUNDED, SPLIT = "RELEASED", "REFUNDED", "SPLIT"


@dataclass(frozen=True)
class Parties:
    buyer: Signer
    seller: Signer
    platform: Signer


def parties(ctx: RequestContext, order: dict[str, Any]) -> Parties:
    return Parties(user_signer(ctx, order["buyer_id"]), user_signer(ctx, order["seller_id"]), platform_signer(ctx))


def create_escrow(ctx: RequestContext, order_id: str) -> dict[str, Any]:
    with transaction(ctx) as uow:
        order = lock_order(uow, order_id)
        escrow = store.of_orders(uow.conn, [order_id]).get(order_id)
        if order["status"] == states.FUNDS_RESERVED:
            escrow = store.insert(uow.conn, {
                "id": new_id("esc"), "order_id": order_id, "status": CREATING, "amount": order["amount"],
                "platform_fee_percent": settings().platform_fee_percent})
            transition(uow, order, states.ESCROW_CREATING, catalogue.ORDER_ESCROW_CREATING,
                       {"escrowId": escrow["id"], "amount": format_amount(order["amount"])})
        elif escrow is not None and order["status"] != states.ESCROW_CREATING:
            raise Conflict(f"order {order_id} already has an escrow", code="ESCROW_ALREADY_EXISTS",
                           details={"orderId": order_id, "escrowId": escrow["id"]})
        else:
            states.require_status(order, [states.FUNDS_RESERVED, states.ESCROW_CREATING], "create an escrow for")
        lease.claim(uow, order_id)
        milestones = order_store.milestones_of(uow.conn, [order_id])[order_id]
    assert escrow is not None
    with lease.running(ctx, order_id, "escrow.deploy"):
        who = parties(ctx, order)
        net = settings().stellar
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
        with transaction(ctx) as uow:
            order = lock_order(uow, order_id)
            states.require_status(order, [states.ESCROW_CREATING], "finish the escrow of")
            data = {"escrowId": escrow["id"], "orderId": order_id, "contractId": contract_id,
                    "amount": format_amount(order["amount"])}
            move_escrow(uow, escrow, CREATED, catalogue.ESCROW_CREATED, data, contract_id=contract_id)
            transition(uow, order, states.ESCROW_FUNDING, catalogue.ORDER_ESCROW_FUNDING, data)
            return _view(store.get(uow.conn, escrow["id"]))


def move_escrow(uow: Any, escrow: dict[str, Any], status: str, event: str, data: dict[str, Any],
                **values: Any) -> None:
    """Change the escrow's status, emit its event and write its audit row, in the caller's transaction."""
    store.update_escrow(uow.conn, escrow["id"], status=status, **values)
    data = {"escrowId": escrow["id"], "orderId": escrow["order_id"], **data, "status": status}
    uow.emit(event, "Escrow", escrow["id"], data)
    record(uow, event, "Escrow", escrow["id"], before={"status": escrow["status"]}, after=data)


def _found(conn: Any, escrow_id: str, *, for_update: bool = False) -> dict[str, Any]:
    row = store.get(conn, escrow_id, for_update=for_update) if looks_like(escrow_id, "esc") else None
    if row is None:
        raise NotFound(f"escrow {escrow_id} not found", code="ESCROW_NOT_FOUND")
    return row


def fund_escrow(ctx: RequestContext, escrow_id: str) -> dict[str, Any]:
    with transaction(ctx) as uow:
        escrow = _found(uow.conn, escrow_id, for_update=True)
        order = lock_order(uow, escrow["order_id"])
        states.require_status(order, [states.ESCROW_FUNDING], "fund the escrow of")
        if escrow["status"] == CREATED:
            move_escrow(uow, escrow, FUNDING, catalogue.ESCROW_FUNDING_STARTED,
                        {"contractId": escrow["contract_id"], "amount": format_amount(escrow["amount"])})
        lease.claim(uow, order["id"])
    with lease.running(ctx, order["id"], "escrow.fund"):
        buyer = user_signer(ctx, order["buyer_id"])
        result = steps.run(ctx, order["id"], Step("fund", "fund-escrow", "buyer", buyer, {
            "contractId": escrow["contract_id"], "signer": buyer.public_key, "amount": order["amount"]},
            escrow["contract_id"], applied=lambda e: Decimal(str(e.get("balance") or 0)) >= order["amount"]))
        with transaction(ctx) as uow:
            order = lock_order(uow, order["id"])
            states.require_status(order, [states.ESCROW_FUNDING], "fund the escrow of")
            ledger.spend_reserved(uow, order["buyer_id"], order["amount"],
                                  destination=accounts.order_escrow(order["id"]), order_id=order["id"],
                                  description=f"escrow {escrow_id} funded")
            now = utcnow()
            data = {"escrowId": escrow_id, "contractId": escrow["contract_id"],
                    "amount": format_amount(order["amount"]), "currency": CURRENCY, "fundedAt": iso(now),
                    "txHash": result.get("txHash")}
            move_escrow(uow, {**escrow, "status": FUNDING}, FUNDED, catalogue.ESCROW_FUNDED, data, funded_at=now)
            transition(uow, order, states.IN_PROGRESS, catalogue.ORDER_ESCROW_FUNDED, data)
            return _view(store.get(uow.conn, escrow_id))


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


def flag(*names: str) -> Callable[[dict[str, Any]], bool]:
    """`applied` predicate: the contract shows one of these flags (released, disputed, resolved)."""
    return lambda escrow: any((escrow.get("flags") or {}).get(name) for name in names)


def complete_milestone(ctx: RequestContext, order_id: str, ref: str) -> dict[str, Any]:
    """The seller marks one milestone delivered, on chain; the release later approves it."""
    with transaction(ctx) as uow:
        order = lock_order(uow, order_id)
        states.require_status(order, [states.IN_PROGRESS], "complete a milestone of")
        milestones = order_store.milestones_of(uow.conn, [order_id])[order_id]
        index = milestone_index(order, milestones, ref)
        escrow = store.of_orders(uow.conn, [order_id])[order_id]
        lease.claim(uow, order_id)
    with lease.running(ctx, order_id, "escrow.milestone_complete"):
        seller = user_signer(ctx, order["seller_id"])
        result = steps.run(ctx, order_id, milestone_status_step(escrow["contract_id"], seller, index))
        with transaction(ctx) as uow:
            order_store.complete_milestones(uow.conn, order_id, ref)
            milestone = next(m for m in milestones if m["ref"] == ref)
            data = {"escrowId": escrow["id"], "orderId": order_id, "milestoneRef": ref,
                    "milestoneTitle": milestone["title"], "amount": format_amount(milestone["amount"]),
                    "completedAt": iso(utcnow()), "txHash": result.get("txHash")}
            uow.emit(catalogue.ESCROW_MILESTONE_COMPLETED, "Escrow", escrow["id"], data)
            record(uow, catalogue.ESCROW_MILESTONE_COMPLETED, "Order", order_id, before={"status": "OPEN"},
                   after={"milestoneRef": ref, "status": "COMPLETED"})
            return views.milestone(order_store.milestones_of(uow.conn, [order_id])[order_id][index])


def get_escrow(escrow_id: str) -> dict[str, Any]:
    with read_only() as conn:
        row = _found(conn, escrow_id)
        rail = store.steps_of(conn, row["order_id"])
    view = _view(row)
    view["steps"] = [{"step": s["step"], "signer": s["signer"], "txHash": s["tx_hash"], "status": s["status"],
                      "updatedAt": iso(s["updated_at"])} for s in rail]
    view["onChain"] = None
    if row["contract_id"]:
        try:
            view["onChain"] = _on_chain(trustless_work().escrow(row["contract_id"]))
        except OfferHubError as exc:  # our record is still worth answering with
            view["onChainError"] = {"code": exc.code, "message": exc.message}
    return view


def _on_chain(found: dict[str, Any] | None) -> dict[str, Any] | None:
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


def _view(row: dict[str, Any] | None) -> dict[str, Any]:
    assert row is not None
    return views.escrow(row)
