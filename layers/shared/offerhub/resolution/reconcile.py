"""The reconciliation (every 5 minutes): finish what was left half done, then compare the ledger with
the rails.

- Orders left mid-way (a step failed or timed out, a function died) are finished from their recorded
  steps, exactly as a retried request would finish them.
- Withdrawals in flight and top-ups not yet final for 5 minutes are refreshed from their rail (a dropped
  webhook is still applied; a crypto payment whose answer was lost is confirmed or resent).
- crypto mode: the next batch of users' ledger balances against their wallets (wallets/sync).
- airtm mode: what the ledger says came in through Airtm (`external:airtm`) against Airtm's enterprise
  balance (available + pending). Differences are audited as `balance.discrepancy`; nothing is adjusted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from offerhub.adapters.postgres.unit_of_work import read_only, transaction
from offerhub.audit.service import record
from offerhub.core.context import RequestContext
from offerhub.core.errors import OfferHubError
from offerhub.core.money import format_amount
from offerhub.ledger import accounts
from offerhub.ledger import store as ledger_store
from offerhub.modes import AIRTM, current
from offerhub.observability import RECONCILIATION_DISCREPANCIES, logger
from offerhub.orders import store as order_store
from offerhub.resolution.service import resume

# Top-ups and withdrawals that have not moved for this long are refreshed (a webhook normally comes sooner).
STALE_AFTER = timedelta(minutes=5)
STALE_BATCH = 50


def finish_interrupted(ctx: RequestContext, *, limit: int = 20) -> dict[str, Any]:
    from offerhub.withdrawals import store as withdrawal_store
    from offerhub.withdrawals.service import refresh_withdrawal

    with read_only() as conn:
        order_ids = order_store.interrupted(conn, limit)
    finished, failed = [], []
    for order_id in order_ids:
        try:
            if resume(ctx, order_id) is not None:
                finished.append(order_id)
        except OfferHubError as exc:  # still failing: the next run tries again
            logger.warning("order not finished yet", extra={"orderId": order_id, "code": exc.code})
            failed.append(order_id)
    result: dict[str, Any] = {"checked": len(order_ids), "finished": finished, "failed": failed,
                              "withdrawals": refresh_stale(ctx, withdrawal_store.open_older_than, refresh_withdrawal)}
    if current() == AIRTM:
        from offerhub.topups import store as topup_store
        from offerhub.topups.service import refresh_topup

        result["topups"] = refresh_stale(ctx, topup_store.open_older_than, refresh_topup)
        result["airtmBalance"] = check_airtm_balance(ctx)
    else:
        from offerhub.wallets.activation import requeue_stalled
        from offerhub.wallets.sync import check_next_batch, check_platform

        result["walletActivations"] = requeue_stalled(ctx)
        result["balances"] = check_next_batch(ctx)
        result["platformFees"] = check_platform(ctx)
    return result


def refresh_stale(ctx: RequestContext, stale: Callable[..., list[str]],
                  refresh: Callable[[RequestContext, str], dict[str, Any]]) -> dict[str, Any]:
    """Refresh from their rail the top-ups or withdrawals that have not moved for STALE_AFTER: a dropped
    webhook is still applied, a payment whose answer was lost is confirmed or resent."""
    with read_only() as conn:
        ids = stale(conn, STALE_AFTER, STALE_BATCH)
    refreshed, failed = {}, []
    for object_id in ids:
        try:
            refreshed[object_id] = refresh(ctx, object_id)["status"]
        except OfferHubError as exc:  # still failing: the next run tries again
            logger.warning("not refreshed yet", extra={"id": object_id, "code": exc.code})
            failed.append(object_id)
    return {"checked": len(ids), "refreshed": refreshed, "failed": failed}


def check_airtm_balance(ctx: RequestContext) -> dict[str, Any]:
    """Everything that came in through Airtm less everything paid out is what Airtm must hold for us.
    A payout in flight is still ours in the ledger and sits in Airtm's `pending`, so the sum compares."""
    from offerhub.airtm.client import airtm

    try:
        at_airtm = airtm().balance()
    except OfferHubError as exc:
        return {"checked": False, "error": exc.code}
    with read_only() as conn:
        external = ledger_store.balance_of(conn, accounts.external("airtm").code) or Decimal("0.00")
    held = at_airtm["available"] + at_airtm["pending"]
    ledger_says = -external
    difference = held - ledger_says
    result = {"ledger": format_amount(ledger_says), "airtm": format_amount(held),
              "difference": format_amount(difference), "inSync": difference == 0}
    if difference:
        with transaction(ctx) as uow:
            record(uow, "balance.discrepancy", "AirtmEnterprise", None, after=result)
            uow.count(RECONCILIATION_DISCREPANCIES)
    return {"checked": True, **result}
