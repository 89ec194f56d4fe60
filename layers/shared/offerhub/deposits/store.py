"""Postgres access for the deposit monitor: its cursor and the credited payment operations."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from offerhub.adapters.postgres.schema import monitor_cursors, stellar_deposits
from offerhub.core.clock import utcnow


def init_cursor(conn: Connection, name: str, cursor: str) -> None:
    conn.execute(pg_insert(monitor_cursors).values(name=name, cursor=cursor, updated_at=utcnow())
                 .on_conflict_do_nothing(index_elements=["name"]))


def lock_cursor(conn: Connection, name: str) -> str | None:
    """The stored cursor, locked until commit; SKIP LOCKED lets an overlapping run see None and stop."""
    return conn.execute(
        select(monitor_cursors.c.cursor).where(monitor_cursors.c.name == name).with_for_update(skip_locked=True)
    ).scalar()


def cursor_exists(conn: Connection, name: str) -> bool:
    return conn.execute(select(monitor_cursors.c.name).where(monitor_cursors.c.name == name)).first() is not None


def save_cursor(conn: Connection, name: str, cursor: str) -> None:
    conn.execute(update(monitor_cursors).where(monitor_cursors.c.name == name)
                 .values(cursor=cursor, updated_at=utcnow()))


def claim(conn: Connection, *, operation_id: str, tx_hash: str, wallet_id: str, user_id: str | None, amount: Decimal,
          ledger_transaction_id: str | None) -> bool:
    """Record a credited operation; False when it was credited before (the unique key is the guard)."""
    result = conn.execute(
        pg_insert(stellar_deposits)
        .values(operation_id=operation_id, transaction_hash=tx_hash, wallet_id=wallet_id, user_id=user_id,
                amount=amount, ledger_transaction_id=ledger_transaction_id, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["operation_id"])
    )
    return result.rowcount == 1


def already_credited(conn: Connection, operation_ids: list[str]) -> set[str]:
    if not operation_ids:
        return set()
    rows = conn.execute(select(stellar_deposits.c.operation_id)
                        .where(stellar_deposits.c.operation_id.in_(operation_ids))).scalars()
    return set(rows)
