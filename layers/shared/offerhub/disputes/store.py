"""Postgres access for disputes and their comments."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update

from offerhub.adapters.postgres.schema import dispute_comments, disputes, newest_first_page
from offerhub.core.clock import utcnow


def insert(conn: Connection, row: dict[str, Any]) -> dict[str, Any]:
    now = utcnow()
    return dict(conn.execute(disputes.insert().values(**row, status="OPEN", created_at=now, updated_at=now)
                             .returning(disputes)).mappings().one())


def get(conn: Connection, dispute_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
    query = select(disputes).where(disputes.c.id == dispute_id)
    row = conn.execute(query.with_for_update() if for_update else query).mappings().first()
    return dict(row) if row else None


def of_order(conn: Connection, order_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(disputes).where(disputes.c.order_id == order_id)).mappings().first()
    return dict(row) if row else None


def ids_of_orders(conn: Connection, order_ids: list[str]) -> dict[str, str]:
    if not order_ids:
        return {}
    rows = conn.execute(select(disputes.c.order_id, disputes.c.id).where(disputes.c.order_id.in_(order_ids)))
    return {r.order_id: r.id for r in rows}


def update_dispute(conn: Connection, dispute_id: str, **values: Any) -> None:
    conn.execute(update(disputes).where(disputes.c.id == dispute_id).values(**values, updated_at=utcnow()))


def search(conn: Connection, *, order_id: str | None, status: str | None, opened_by: str | None,
           cursor: str | None, limit: int) -> list[dict[str, Any]]:
    query = select(disputes)
    for column, value in ((disputes.c.order_id, order_id), (disputes.c.status, status),
                          (disputes.c.opened_by, opened_by)):
        if value:
            query = query.where(column == value)
    return [dict(r) for r in conn.execute(newest_first_page(query, disputes, cursor=cursor, limit=limit)).mappings()]


def exists(conn: Connection, dispute_id: str) -> bool:
    return conn.execute(select(disputes.c.id).where(disputes.c.id == dispute_id)).first() is not None


def add_comment(conn: Connection, row: dict[str, Any]) -> dict[str, Any]:
    return dict(conn.execute(dispute_comments.insert().values(**row, created_at=utcnow())
                             .returning(dispute_comments)).mappings().one())


def comments(conn: Connection, dispute_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(dispute_comments).where(dispute_comments.c.dispute_id == dispute_id)
                        .order_by(dispute_comments.c.created_at, dispute_comments.c.id)).mappings()
    return [dict(r) for r in rows]
