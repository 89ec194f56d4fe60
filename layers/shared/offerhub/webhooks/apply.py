"""The webhook worker's use case: a queued event is a hint to go and read the truth.

Airtm: the payin or payout named by the event is fetched from Airtm and *that* is applied (topups /
withdrawals services), never the status the webhook claims, so a replayed, forged-then-replayed or
out-of-order event cannot move a state backwards or credit twice. Trustless Work: the escrow's order is
resumed from its recorded steps (a re-read of the contract; nothing happens if the order is settled).
Processing is idempotent: an event already processed is acknowledged and skipped.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from offerhub.adapters.postgres.schema import escrows, topups, withdrawals
from offerhub.adapters.postgres.unit_of_work import read_only, transaction
from offerhub.core.context import RequestContext
from offerhub.core.errors import OfferHubError
from offerhub.webhooks import inbox
from offerhub.webhooks.ingress import AIRTM, TRUSTLESS_WORK


def apply_event(ctx: RequestContext, provider: str, event_id: str) -> str:
    """Apply one queued event; returns the outcome (`applied`, `ignored`, `duplicate`, `unknown`).
    Raises on a failure worth retrying (the message comes back, then goes to the DLQ)."""
    with transaction(ctx) as uow:
        event = inbox.claim(uow.conn, provider, event_id)
    if event is None:
        return "unknown"
    if event["processed_at"] is not None:
        return "duplicate"
    try:
        outcome = _apply(ctx, event)
    except OfferHubError as exc:
        with transaction(ctx) as uow:
            inbox.mark_failed(uow.conn, provider, event_id, f"{exc.code}: {exc.message}")
        raise
    with transaction(ctx) as uow:
        inbox.mark_processed(uow.conn, provider, event_id, outcome)
    return outcome


def _apply(ctx: RequestContext, event: dict[str, Any]) -> str:
    payload = event["payload"]
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    if event["provider"] == AIRTM:
        kind = str(event["type"]).split(".", 1)[0]
        if kind == "payin":
            return _airtm_payin(ctx, str(data.get("id")), data.get("code"))
        if kind == "payout":
            return _airtm_payout(ctx, str(data.get("id")), data.get("code"))
        return "ignored"
    if event["provider"] == TRUSTLESS_WORK and event["object_id"]:
        return _trustless_escrow(ctx, event["object_id"])
    return "ignored"


def _airtm_payin(ctx: RequestContext, payin_id: str, code: Any) -> str:
    from offerhub.topups.service import refresh_topup

    with read_only() as conn:
        found = conn.execute(select(topups.c.id).where(topups.c.airtm_payin_id == payin_id)).scalar()
        if found is None and isinstance(code, str):  # the create's answer was lost: known by our code only
            found = conn.execute(select(topups.c.id).where(topups.c.id == code)).scalar()
    if found is None:
        return "ignored"  # not ours (another integration on the same Airtm account)
    refresh_topup(ctx, found)
    return "applied"


def _airtm_payout(ctx: RequestContext, payout_id: str, code: Any) -> str:
    from offerhub.withdrawals.service import refresh_withdrawal

    with read_only() as conn:
        found = conn.execute(select(withdrawals.c.id).where(withdrawals.c.airtm_payout_id == payout_id)).scalar()
        if found is None and isinstance(code, str):
            found = conn.execute(select(withdrawals.c.id).where(withdrawals.c.id == code)).scalar()
    if found is None:
        return "ignored"
    refresh_withdrawal(ctx, found)
    return "applied"


def _trustless_escrow(ctx: RequestContext, contract_id: str) -> str:
    from offerhub.resolution.service import resume

    with read_only() as conn:
        order_id = conn.execute(select(escrows.c.order_id).where(escrows.c.contract_id == contract_id)).scalar()
    if order_id is None:
        return "ignored"
    resume(ctx, order_id)
    return "applied"
