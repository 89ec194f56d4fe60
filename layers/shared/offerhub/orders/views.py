"""Public shapes of orders, milestones and escrows (camelCase, amounts as strings)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from offerhub.core.clock import iso
from offerhub.core.money import format_amount
from offerhub.disputes import store as dispute_store
from offerhub.escrow import store as escrow_store
from offerhub.orders import store
from offerhub.orders.states import FUNDS_RESERVED, ORDER_CREATED, OUTCOME_CANCELED

BEFORE_ESCROW = (ORDER_CREATED, FUNDS_RESERVED)


def milestone(row: dict[str, Any]) -> dict[str, Any]:
    return {"ref": row["ref"], "title": row["title"], "amount": format_amount(row["amount"]),
            "status": row["status"], "completedAt": iso(row["completed_at"]), "createdAt": iso(row["created_at"])}


def escrow(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "orderId": row["order_id"], "provider": row["provider"], "contractId": row["contract_id"],
        "status": row["status"],
        "amount": format_amount(row["amount"]), "platformFeePercent": str(row["platform_fee_percent"]),
        "createdAt": iso(row["created_at"]), "updatedAt": iso(row["updated_at"]), "fundedAt": iso(row["funded_at"]),
        "releasedAt": iso(row["released_at"]), "refundedAt": iso(row["refunded_at"]),
    }


def orders(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = [r["id"] for r in rows]
    milestones = store.milestones_of(conn, ids)
    # Escrows (and so disputes) exist only from ESCROW_CREATING on: skip the lookups before that.
    later = [r["id"] for r in rows if r["status"] not in BEFORE_ESCROW and r["outcome"] != OUTCOME_CANCELED]
    escrows = escrow_store.of_orders(conn, later)
    disputes = dispute_store.ids_of_orders(conn, later)
    return [
        {
            "id": r["id"], "clientOrderRef": r["client_order_ref"], "buyerId": r["buyer_id"],
            "sellerId": r["seller_id"], "amount": format_amount(r["amount"]), "currency": r["currency"],
            "status": r["status"], "outcome": r["outcome"], "title": r["title"], "description": r["description"],
            "metadata": r["metadata"], "milestones": [milestone(m) for m in milestones[r["id"]]],
            "escrow": escrow(escrows[r["id"]]) if r["id"] in escrows else None,
            "disputeId": disputes.get(r["id"]), "createdAt": iso(r["created_at"]), "updatedAt": iso(r["updated_at"]),
        }
        for r in rows
    ]


def order(conn: Connection, row: dict[str, Any]) -> dict[str, Any]:
    return orders(conn, [row])[0]
