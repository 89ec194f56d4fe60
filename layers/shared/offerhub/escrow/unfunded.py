"""Whether an order's escrow provably holds nothing, so the order may be canceled instead of refunded.

On the ledger rail funding is one ledger transaction: an escrow not yet FUNDED holds nothing. On chain the
fund step's envelope is the only way money gets in. If it was never signed, nothing can land. If it was
submitted, it holds nothing only once it cannot land any more: Horizon shows it failed (its sequence number
is spent), or its time bounds have passed. The contract's balance is checked as well.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from offerhub.adapters.postgres.unit_of_work import read_only
from offerhub.config import settings
from offerhub.core.errors import Busy, Conflict
from offerhub.escrow import store
from offerhub.escrow.ledger_rail import LEDGER
from offerhub.escrow.rails import rail_for

FUND_STEP = "fund"
# How long a caller is told to wait for an in-flight funding envelope to expire before asking again.
MAX_RETRY_AFTER_SECONDS = 300


def ensure_holds_nothing(order: dict[str, Any], escrow: dict[str, Any] | None) -> None:
    if escrow is None or escrow["provider"] == LEDGER:
        return
    with read_only() as conn:
        fund = store.step(conn, order["id"], FUND_STEP)
    if fund is not None and fund["status"] == "CONFIRMED":
        raise _funded(order, escrow)
    if fund is not None:
        _ensure_cannot_land(order, escrow, fund)
    on_chain = rail_for(escrow).inspect(escrow) if escrow.get("contract_id") else None
    if on_chain is not None and Decimal(on_chain.get("balance") or "0") > 0:
        raise _funded(order, escrow)


def _ensure_cannot_land(order: dict[str, Any], escrow: dict[str, Any], fund: dict[str, Any]) -> None:
    from offerhub.stellar.horizon import horizon

    landed = horizon().transaction(fund["tx_hash"])
    if landed is not None:
        if landed.get("successful"):
            raise _funded(order, escrow)
        return  # it failed on chain: its sequence number is spent, the envelope can never land
    max_time = _max_time(fund["signed_xdr"])
    now = int(time.time())
    if max_time and max_time < now:
        return
    if not max_time:
        raise Conflict("the escrow's funding transaction may still land; finish funding, then refund the order",
                       code="ESCROW_FUNDING_IN_FLIGHT", details=_details(order, escrow))
    wait = min(max_time - now + 1, MAX_RETRY_AFTER_SECONDS)
    raise Busy(f"the escrow's funding transaction may still land for {wait} s; retry the cancel after it expires",
               code="ESCROW_FUNDING_IN_FLIGHT", details=_details(order, escrow), retry_after=wait)


def _max_time(signed_xdr: str) -> int:
    from stellar_sdk import TransactionEnvelope

    tx = TransactionEnvelope.from_xdr(signed_xdr, settings().stellar.passphrase).transaction
    bounds = tx.preconditions.time_bounds if tx.preconditions else None
    return int(bounds.max_time) if bounds else 0


def _funded(order: dict[str, Any], escrow: dict[str, Any]) -> Conflict:
    return Conflict("the escrow holds the order's funds: finish funding (POST /escrow/{id}/fund), then refund "
                    "the order", code="ESCROW_FUNDED", details=_details(order, escrow))


def _details(order: dict[str, Any], escrow: dict[str, Any]) -> dict[str, Any]:
    return {"orderId": order["id"], "escrowId": escrow["id"], "contractId": escrow.get("contract_id")}
