"""Postgres access for escrows and the on-chain steps of an order."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from offerhub.adapters.postgres.schema import escrows, rail_steps
from offerhub.core.clock import utcnow


def insert(conn: Connection, row: dict[str, Any]) -> dict[str, Any]:
    now = utcnow()
    return dict(conn.execute(escrows.insert().values(**row, created_at=now, updated_at=now).returning(escrows))
                .mappings().one())


def get(conn: Connection, escrow_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
    query = select(escrows).where(escrows.c.id == escrow_id)
    row = conn.execute(query.with_for_update() if for_update else query).mappings().first()
    return dict(row) if row else None


def by_contract(conn: Connection, contract_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(escrows).where(escrows.c.contract_id == contract_id)).mappings().first()
    return dict(row) if row else None


def of_orders(conn: Connection, order_ids: list[str]) -> dict[str, dict[str, Any]]:
    if not order_ids:
        return {}
    rows = conn.execute(select(escrows).where(escrows.c.order_id.in_(order_ids))).mappings()
    return {r["order_id"]: dict(r) for r in rows}


def update_escrow(conn: Connection, escrow_id: str, **values: Any) -> None:
    conn.execute(update(escrows).where(escrows.c.id == escrow_id).values(**values, updated_at=utcnow()))


def step(conn: Connection, order_id: str, key: str) -> dict[str, Any] | None:
    row = conn.execute(select(rail_steps).where(rail_steps.c.order_id == order_id, rail_steps.c.step == key)
                       ).mappings().first()
    return dict(row) if row else None


def steps_of(conn: Connection, order_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(rail_steps).where(rail_steps.c.order_id == order_id)
                        .order_by(rail_steps.c.created_at)).mappings()
    return [dict(r) for r in rows]


def record_submission(conn: Connection, order_id: str, key: str, signer: str, tx_hash: str, signed_xdr: str) -> None:
    now = utcnow()
    values = {"signer": signer, "tx_hash": tx_hash, "signed_xdr": signed_xdr, "status": "SUBMITTED",
              "updated_at": now}
    conn.execute(pg_insert(rail_steps).values(order_id=order_id, step=key, created_at=now, **values)
                 .on_conflict_do_update(index_elements=["order_id", "step"], set_=values))


def confirm(conn: Connection, order_id: str, key: str, signer: str, result: dict[str, Any]) -> None:
    """Mark the step done; a step confirmed from the contract's state alone may have no row yet."""
    now = utcnow()
    conn.execute(pg_insert(rail_steps)
                 .values(order_id=order_id, step=key, signer=signer, tx_hash=result.get("txHash", ""),
                         signed_xdr="", status="CONFIRMED", result=result, created_at=now, updated_at=now)
                 .on_conflict_do_update(index_elements=["order_id", "step"],
                                        set_={"status": "CONFIRMED", "result": result, "updated_at": now}))
