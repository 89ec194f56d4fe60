"""Ledger vs chain for one user (crypto mode). In crypto mode a user's available + reserved is the USDC
in their wallet: reservations are ledger-only, and funding the escrow moves both at once. The chain
keeps 7 decimals and the ledger 2, so the wallet may hold sub-cent dust on top; that is in sync.
Nothing is adjusted here: a difference is reported (and audited) for a person to look at."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import Any

from offerhub import modes
from offerhub.adapters.postgres.unit_of_work import read_only, transaction
from offerhub.audit.service import record
from offerhub.core.clock import iso, utcnow
from offerhub.core.context import RequestContext
from offerhub.core.errors import Conflict
from offerhub.core.money import CENT, CURRENCY, format_amount
from offerhub.deposits import store as cursors
from offerhub.ledger import service as ledger
from offerhub.ledger import store as ledger_store
from offerhub.ledger.accounts import platform_fees
from offerhub.observability import RECONCILIATION_DISCREPANCIES
from offerhub.stellar.horizon import horizon
from offerhub.wallets import store as wallet_store
from offerhub.wallets.service import chain_usdc

LEDGER_CHECK_CURSOR = "ledger-vs-chain"
CHECK_BATCH = 50


def sync_balance(ctx: RequestContext, user_id: str) -> dict[str, Any]:
    """POST /balance/{userId}/sync: compare, and audit the comparison."""
    result = compare(user_id)
    with transaction(ctx) as uow:
        record(uow, "balance.synced", "Balance", user_id, after=result)
    return result


def verify_balance(user_id: str) -> dict[str, Any]:
    """Upstream's GET /users/{userId}/balance/verify: the balance when the chain backs it to the cent, else 409
    BALANCE_DISCREPANCY. Upstream compared `available` alone with a 1.00 tolerance, so reserved money (still in the
    wallet) showed as a discrepancy and a missing dollar did not; here the whole balance is compared exactly."""
    modes.require(modes.CRYPTO, "verifying a balance against the chain")
    result = compare(user_id)
    if not result["inSync"]:
        raise Conflict("the ledger and the wallet on chain differ", code="BALANCE_DISCREPANCY", details={
            "userId": user_id, "localBalance": result["ledger"]["total"],
            "providerBalance": result["chain"]["usdcInCents"], "difference": result["difference"],
            "currency": CURRENCY})
    return {**result["ledger"], "providerVerified": True, "chain": result["chain"], "checkedAt": result["checkedAt"]}


def check_next_batch(ctx: RequestContext, batch: int = CHECK_BATCH) -> dict[str, Any]:
    """The reconciliation's ledger-vs-chain pass: the next `batch` wallets in id order (wrapping round, so
    every wallet is checked every few runs). A difference is written to the audit log as
    `balance.discrepancy` for a person to look at; nothing is adjusted. A wallet whose order is mid-way
    through an on-chain step can show a transient difference: it is reported, and gone on the next pass."""
    with transaction(ctx) as uow:
        cursors.init_cursor(uow.conn, LEDGER_CHECK_CURSOR, "")
        after = cursors.lock_cursor(uow.conn, LEDGER_CHECK_CURSOR)
        if after is None:  # another run is on it
            return {"checked": 0, "flagged": []}
        users = wallet_store.user_ids_after(uow.conn, after, batch)
        cursors.save_cursor(uow.conn, LEDGER_CHECK_CURSOR, users[-1][0] if len(users) == batch else "")
    flagged = []
    for _, user_id in users:
        result = compare(user_id)
        if not result["inSync"]:
            flagged.append(user_id)
            with transaction(ctx) as uow:
                record(uow, "balance.discrepancy", "Balance", user_id, after=result)
                uow.count(RECONCILIATION_DISCREPANCIES)
    return {"checked": len(users), "flagged": flagged}


def check_platform(ctx: RequestContext) -> dict[str, Any]:
    """`platform:fees` against the platform wallet: every platform fee is paid there and nothing else is."""

    with read_only() as conn:
        wallet = wallet_store.platform(conn)
        fees = ledger_store.balance_of(conn, platform_fees().code) or Decimal("0.00")
    if wallet is None:
        return {"checked": False}
    usdc = horizon().balances(wallet["public_key"])["usdc"] or Decimal(0)
    difference = usdc.quantize(CENT, rounding=ROUND_DOWN) - fees
    result = {"ledger": format_amount(fees), "chain": f"{usdc:.7f}", "difference": format_amount(difference),
              "inSync": difference == 0}
    if difference:
        with transaction(ctx) as uow:
            record(uow, "balance.discrepancy", "PlatformFees", wallet["id"], after=result)
            uow.count(RECONCILIATION_DISCREPANCIES)
    return {"checked": True, **result}


def compare(user_id: str) -> dict[str, Any]:
    balance = ledger.get_balance(user_id)
    usdc = chain_usdc(user_id)
    on_chain = usdc if usdc is not None else Decimal(0)
    on_chain_cents = on_chain.quantize(CENT, rounding=ROUND_DOWN)
    difference = on_chain_cents - balance.total
    result = {
        "userId": user_id,
        "ledger": balance.to_public(),
        "chain": {"usdc": f"{on_chain:.7f}", "usdcInCents": format_amount(on_chain_cents),
                  "dust": f"{on_chain - on_chain_cents:.7f}", "trustline": usdc is not None},
        "difference": format_amount(difference),
        "inSync": difference == 0,
        "action": "none" if difference == 0 else "flagged",
        "checkedAt": iso(utcnow()),
    }
    return result
