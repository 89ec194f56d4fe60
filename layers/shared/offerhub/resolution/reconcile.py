"""The reconciliation: orders left mid-way (a step failed or timed out, a function died) are finished
from their recorded steps, exactly as a retried request would finish them; then the next batch of users'
ledger balances is compared with their wallets (wallets/sync.check_next_batch)."""

from __future__ import annotations

from typing import Any

from offerhub.adapters.postgres.unit_of_work import read_only
from offerhub.core.context import RequestContext
from offerhub.core.errors import OfferHubError
from offerhub.observability import logger
from offerhub.orders import store as order_store
from offerhub.resolution.service import resume
from offerhub.wallets.sync import check_next_batch, check_platform


def finish_interrupted(ctx: RequestContext, *, limit: int = 20) -> dict[str, Any]:
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
    return {"checked": len(order_ids), "finished": finished, "failed": failed,
            "balances": check_next_batch(ctx), "platformFees": check_platform(ctx)}
