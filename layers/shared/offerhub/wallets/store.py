"""Postgres access for wallets."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from offerhub.adapters.postgres.schema import wallets
from offerhub.core.clock import utcnow
from offerhub.stellar.amounts import cents_and_dust

# A wallet's status: CREATED (sealed, its address known, nothing on chain yet) → ACTIVE (funded, trusting USDC).
CREATED, ACTIVE = "CREATED", "ACTIVE"


def insert_if_new(conn: Connection, row: dict[str, Any]) -> dict[str, Any] | None:
    """The new row, or None when this user (or the platform) already has a wallet."""
    now = utcnow()
    target = ["user_id"] if row["kind"] == "USER" else None
    stmt = pg_insert(wallets).values(**row, status=CREATED, created_at=now, updated_at=now)
    stmt = (stmt.on_conflict_do_nothing(index_elements=target) if target
            else stmt.on_conflict_do_nothing(index_elements=["kind"], index_where=wallets.c.kind == "PLATFORM"))
    found = conn.execute(stmt.returning(wallets)).mappings().first()
    return dict(found) if found else None


def get(conn: Connection, wallet_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(wallets).where(wallets.c.id == wallet_id)).mappings().first()
    return dict(row) if row else None


def of_user(conn: Connection, user_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(wallets).where(wallets.c.user_id == user_id)).mappings().first()
    return dict(row) if row else None


def platform(conn: Connection) -> dict[str, Any] | None:
    row = conn.execute(select(wallets).where(wallets.c.kind == "PLATFORM")).mappings().first()
    return dict(row) if row else None


def by_public_keys(conn: Connection, public_keys: set[str]) -> dict[str, dict[str, Any]]:
    """Our wallets among these addresses, users' and the platform's (its `user_id` is None)."""
    if not public_keys:
        return {}
    rows = conn.execute(
        select(wallets.c.id, wallets.c.user_id, wallets.c.public_key)
        .where(wallets.c.public_key.in_(public_keys))
    ).mappings().all()
    return {r["public_key"]: dict(r) for r in rows}


def user_ids_after(conn: Connection, wallet_id: str, limit: int) -> list[tuple[str, str]]:
    """(wallet id, user id) of user wallets after `wallet_id` in id order."""
    rows = conn.execute(select(wallets.c.id, wallets.c.user_id)
                        .where(wallets.c.kind == "USER", wallets.c.id > wallet_id)
                        .order_by(wallets.c.id).limit(limit))
    return [(r.id, r.user_id) for r in rows]


def claim_for_scan(conn: Connection, batch: int) -> list[dict[str, Any]]:
    """The next batch of user wallets to scan, least recently scanned first, stamped so that the next
    run (or an overlapping one: SKIP LOCKED) takes the following batch. Only ACTIVE wallets: a wallet's scan
    starts at its first operation, so a payment that landed before its status flipped is read then."""
    due = (select(wallets.c.id).where(wallets.c.kind == "USER", wallets.c.status == ACTIVE)
           .order_by(wallets.c.scanned_at.asc().nulls_first(), wallets.c.id).limit(batch)
           .with_for_update(skip_locked=True).scalar_subquery())
    rows = conn.execute(update(wallets).where(wallets.c.id.in_(due)).values(scanned_at=utcnow())
                        .returning(wallets.c.id, wallets.c.user_id, wallets.c.public_key)).mappings()
    return [dict(r) for r in rows]


def lock_scan_cursor(conn: Connection, wallet_id: str) -> str | None:
    return conn.execute(select(wallets.c.payments_cursor).where(wallets.c.id == wallet_id).with_for_update()
                        ).scalar()


def save_scan_cursor(conn: Connection, wallet_id: str, cursor: str | None) -> None:
    conn.execute(update(wallets).where(wallets.c.id == wallet_id).values(payments_cursor=cursor))


def lock_for_settlement(conn: Connection, user_ids: list[str]) -> None:
    """Lock the parties' wallets and the platform's, in id order, before a payout touches any of them: two
    settlements with the same parties in opposite roles then queue instead of deadlocking."""
    conn.execute(select(wallets.c.id).where(or_(wallets.c.user_id.in_(user_ids), wallets.c.kind == "PLATFORM"))
                 .order_by(wallets.c.id).with_for_update()).all()


def carry_dust(conn: Connection, owner: str | None, stroops: int) -> Decimal:
    """Add sub-cent USDC a wallet received beyond what the ledger credited (owner: a user id, or None for
    the platform wallet); returns the whole cents the carried dust now makes (to credit now) and keeps the
    rest. Locks the wallet row till commit."""
    if stroops <= 0:
        return Decimal("0.00")
    which = wallets.c.user_id == owner if owner is not None else wallets.c.kind == "PLATFORM"
    carried = conn.execute(select(wallets.c.dust_stroops).where(which).with_for_update()).scalar()
    if carried is None:  # no such wallet (not crypto mode): nothing to carry
        return Decimal("0.00")
    cents, rest = cents_and_dust(carried + stroops)
    conn.execute(update(wallets).where(which).values(dust_stroops=rest))
    return cents


def created_before(conn: Connection, cutoff: datetime, limit: int) -> list[dict[str, Any]]:
    """Wallets still CREATED that were made before `cutoff`, oldest first (index wallets_awaiting_activation)."""
    rows = conn.execute(select(wallets).where(wallets.c.status == CREATED, wallets.c.created_at < cutoff)
                        .order_by(wallets.c.created_at).limit(limit))
    return [dict(r._mapping) for r in rows]


def still_created(conn: Connection, wallet_ids: list[str]) -> set[str]:
    """Those of the wallets that are still CREATED."""
    return set(conn.execute(select(wallets.c.id).where(wallets.c.id.in_(wallet_ids), wallets.c.status == CREATED))
               .scalars())


def mark_active(conn: Connection, wallet_id: str) -> bool:
    """CREATED → ACTIVE; False when it was ACTIVE already (a concurrent activation flipped it first)."""
    result = conn.execute(update(wallets).where(wallets.c.id == wallet_id, wallets.c.status == CREATED)
                          .values(status=ACTIVE, updated_at=utcnow()))
    return result.rowcount == 1
