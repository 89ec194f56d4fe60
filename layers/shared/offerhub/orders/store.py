"""Postgres access for orders and their milestones."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update

from offerhub.adapters.postgres.schema import disputes, escrows, newest_first_page, order_milestones, orders
from offerhub.core.clock import utcnow
from offerhub.orders.states import (
    DISPUTED,
    ESCROW_CREATING,
    ESCROW_FUNDING,
    REFUND_REQUESTED,
    RELEASE_REQUESTED,
    check_transition,
)


def insert(conn: Connection, row: dict[str, Any], milestones: list[dict[str, Any]]) -> dict[str, Any]:
    now = utcnow()
    created = conn.execute(orders.insert().values(**row, created_at=now, updated_at=now).returning(orders))
    order = dict(created.mappings().one())
    if milestones:
        conn.execute(order_milestones.insert(), [
            {**m, "order_id": order["id"], "position": i, "status": "OPEN", "created_at": now}
            for i, m in enumerate(milestones)
        ])
    return order


def get(conn: Connection, order_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
    query = select(orders).where(orders.c.id == order_id)
    row = conn.execute(query.with_for_update() if for_update else query).mappings().first()
    return dict(row) if row else None


def client_ref_taken(conn: Connection, ref: str) -> str | None:
    return conn.execute(select(orders.c.id).where(orders.c.client_order_ref == ref)).scalar()


def set_status(conn: Connection, order: dict[str, Any], status: str, *, outcome: str | None = None) -> dict:
    check_transition(order["status"], status)
    values: dict[str, Any] = {"status": status, "updated_at": utcnow()}
    if outcome:
        values["outcome"] = outcome
    conn.execute(update(orders).where(orders.c.id == order["id"]).values(**values))
    return {**order, **values}


def take_lease(conn: Connection, order_id: str, seconds: int) -> bool:
    """Claim the order for one on-chain run; False while another run's lease is live."""
    result = conn.execute(
        update(orders)
        .where(orders.c.id == order_id, or_(orders.c.lease_until.is_(None), orders.c.lease_until < func.now()))
        .values(lease_until=func.now() + timedelta(seconds=seconds))
    )
    return result.rowcount == 1


def drop_lease(conn: Connection, order_id: str) -> None:
    conn.execute(update(orders).where(orders.c.id == order_id).values(lease_until=None))


def search(conn: Connection, *, buyer_id: str | None, seller_id: str | None, status: str | None,
           cursor: str | None, limit: int) -> list[dict[str, Any]]:
    query = select(orders)
    if buyer_id:
        query = query.where(orders.c.buyer_id == buyer_id)
    if seller_id:
        query = query.where(orders.c.seller_id == seller_id)
    if status:
        query = query.where(orders.c.status == status)
    return [dict(r) for r in conn.execute(newest_first_page(query, orders, cursor=cursor, limit=limit)).mappings()]


def exists(conn: Connection, order_id: str) -> bool:
    return conn.execute(select(orders.c.id).where(orders.c.id == order_id)).first() is not None


def milestones_of(conn: Connection, order_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {i: [] for i in order_ids}
    if order_ids:
        rows = conn.execute(select(order_milestones).where(order_milestones.c.order_id.in_(order_ids))
                            .order_by(order_milestones.c.order_id, order_milestones.c.position)).mappings()
        for r in rows:
            found[r["order_id"]].append(dict(r))
    return found


def complete_milestones(conn: Connection, order_id: str, ref: str | None = None) -> None:
    """Mark one milestone (or, without a ref, every open one) COMPLETED."""
    query = update(order_milestones).where(order_milestones.c.order_id == order_id,
                                           order_milestones.c.status == "OPEN")
    if ref is not None:
        query = query.where(order_milestones.c.ref == ref)
    conn.execute(query.values(status="COMPLETED", completed_at=utcnow()))


def interrupted(conn: Connection, limit: int) -> list[str]:
    """Orders a run left half done, with no live run now (for the reconciliation): a requested release or
    refund, an escrow being deployed or funded, a dispute being settled. Open disputes and escrows not yet
    funded are waiting for a person, not for us, and are not listed."""
    settling = select(disputes.c.id).where(disputes.c.order_id == orders.c.id, disputes.c.status == "RESOLVING")
    funding = select(escrows.c.id).where(escrows.c.order_id == orders.c.id, escrows.c.status == "FUNDING")
    rows = conn.execute(
        select(orders.c.id)
        .where(or_(orders.c.status.in_((RELEASE_REQUESTED, REFUND_REQUESTED, ESCROW_CREATING)),
                   and_(orders.c.status == ESCROW_FUNDING, funding.exists()),
                   and_(orders.c.status == DISPUTED, settling.exists())),
               or_(orders.c.lease_until.is_(None), orders.c.lease_until < func.now()))
        .order_by(orders.c.updated_at).limit(limit)
    )
    return list(rows.scalars())
