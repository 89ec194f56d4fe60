"""One on-chain run per order at a time. A second request while a run is live gets 409 ORDER_BUSY
(retry later: the first run, or the retry, finishes the job)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from offerhub.adapters.postgres.unit_of_work import UnitOfWork, transaction
from offerhub.audit.service import record_failure
from offerhub.core.context import RequestContext
from offerhub.core.errors import Busy, OfferHubError
from offerhub.orders import store

# Longer than any run can take (a function's timeout); a crashed run's lease expires after this.
LEASE_SECONDS = 300


def claim(uow: UnitOfWork, order_id: str) -> None:
    if not store.take_lease(uow.conn, order_id, LEASE_SECONDS):
        raise Busy("another operation on this order is still running; retry shortly", code="ORDER_BUSY",
                       details={"orderId": order_id})


@contextmanager
def running(ctx: RequestContext, order_id: str, action: str) -> Iterator[None]:
    """The on-chain run of `action` on an order whose lease the caller claimed: a refusal or a rail failure
    is written to the audit log (the order stays resumable), and the lease is dropped however it ends."""
    try:
        yield
    except OfferHubError as exc:
        record_failure(ctx, action, "Order", order_id, exc)
        raise
    finally:
        with transaction(ctx) as uow:
            store.drop_lease(uow.conn, order_id)
