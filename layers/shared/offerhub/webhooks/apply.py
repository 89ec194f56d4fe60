"""The webhook worker's use case: a queued event is a hint to go and read the truth.

Airtm: the payin or payout named by the event is fetched from Airtm and *that* is applied (topups /
withdrawals services), never the status the webhook claims, so a replayed, forged-then-replayed or
out-of-order event cannot move a state backwards or credit twice. Trustless Work: the escrow's order is
resumed from its recorded steps (a re-read of the contract; nothing happens if the order is settled).
Processing is idempotent: an event already processed is acknowledged and skipped.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from offerhub.adapters.postgres.unit_of_work import read_only, transaction
from offerhub.core.context import RequestContext
from offerhub.core.errors import OfferHubError
from offerhub.escrow import store as escrow_store
from offerhub.resolution.service import resume
from offerhub.topups import store as topup_store
from offerhub.topups.service import refresh_topup
from offerhub.webhooks import inbox
from offerhub.webhooks.ingress import AIRTM, TRUSTLESS_WORK
from offerhub.withdrawals import store as withdrawal_store
from offerhub.withdrawals.service import refresh_withdrawal


def apply_event(ctx: RequestContext, provider: str, event_id: str) -> str:
    """Apply one queued event; returns the outcome (`applied`, `ignored`, `duplicate`, `unknown`).
    Raises on a failure worth retrying (the message comes back, then goes to the DLQ)."""
    with read_only() as conn:
        event = inbox.get(conn, provider, event_id)
        if event is None:
            return "unknown"
        if event["processed_at"] is not None:
            return "duplicate"
        target = _target(conn, event)
    try:
        outcome = "ignored" if target is None else target(ctx)
    except OfferHubError as exc:
        with transaction(ctx) as uow:
            inbox.mark_failed(uow.conn, provider, event_id, f"{exc.code}: {exc.message}")
        raise
    with transaction(ctx) as uow:
        inbox.mark_processed(uow.conn, provider, event_id, outcome)
    return outcome


def _target(conn: Connection, event: dict[str, Any]) -> Any:
    """What to refresh for this event (None: not ours, or nothing to do)."""
    payload = event["payload"]
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    kind = str(event["type"]).split(".", 1)[0]
    if event["provider"] == AIRTM and kind == "payin":
        found = topup_store.by_payin(conn, str(data.get("id"))) or _by_code(topup_store, conn, data)
        return None if found is None else _applied(refresh_topup, found["id"])
    if event["provider"] == AIRTM and kind == "payout":
        found = withdrawal_store.by_payout(conn, str(data.get("id"))) or _by_code(withdrawal_store, conn, data)
        return None if found is None else _applied(refresh_withdrawal, found["id"])
    if event["provider"] == TRUSTLESS_WORK and event["object_id"]:
        escrow = escrow_store.by_contract(conn, event["object_id"])
        return None if escrow is None else _applied(resume, escrow["order_id"])
    return None


def _by_code(store: Any, conn: Connection, data: dict[str, Any]) -> dict[str, Any] | None:
    """A create whose answer was lost is known by our code (the Airtm `code` is our id) only."""
    code = data.get("code")
    return store.get(conn, code) if isinstance(code, str) else None


def _applied(refresh: Any, object_id: str) -> Any:
    def run(ctx: RequestContext) -> str:
        refresh(ctx, object_id)
        return "applied"

    return run
