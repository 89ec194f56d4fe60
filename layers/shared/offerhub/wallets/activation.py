"""Wallet activation, off the sign-up path (issue 11.3).

POST /users creates the user's wallet (the secret sealed, status CREATED: its deposit address is known, nothing
exists on chain yet) and returns; the activation relay (wallets/activation_relay.py) queues the activation from the
wallet's `wallet.created` event, and the paths that find a wallet still CREATED queue it again here (`request`).
The wallet activator
(functions/wallet_activator, an SQS worker) runs `activate_queued`:

- an ACTIVE wallet is a no-op: a duplicate message, or a retry after a success, changes nothing;
- otherwise the chain part runs (`Horizon.activate`): the account is funded (friendbot on testnet and the sandbox)
  and trusts USDC. Each part is skipped when the chain already has it, so a retry after a failure half-way
  resumes where the last attempt stopped and never signs the same change twice;
- then CREATED → ACTIVE, with `wallet.activated` and its audit row, once (a conditional update: two concurrent
  activations emit one event).

A failure raises: the worker reports the record, SQS delivers it again after the queue's visibility timeout, and
after maxReceiveCount receives moves it to the DLQ. A wallet whose messages ran out is not stranded: any operation
that needs it (`require_active`) answers 409 WALLET_NOT_ACTIVE with Retry-After and queues the activation again,
as a retried POST /users does, and the reconciliation (every 5 minutes) queues it again once it has waited
STALLED_AFTER (`requeue_stalled`), so a chain outage longer than the queue's retries heals by itself.

Deposits are never lost. USDC cannot reach an account without a trustline, so the earliest a deposit can land is
between the trustline transaction and the status flip (or later, if the flip failed and is being retried). The
deposit monitor covers that window in both scan modes: the network scan credits any payment to any of our wallets,
whatever its status; the per-wallet scan takes ACTIVE wallets only, but reads each wallet's history from its
first operation, so the payment is credited on the first scan after the flip. Both credit by Stellar operation
id, so once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from offerhub.adapters.aws.queue import enqueue_wallet_activation
from offerhub.adapters.postgres.unit_of_work import read_only, transaction
from offerhub.audit.service import record
from offerhub.core.clock import utcnow
from offerhub.core.context import RequestContext
from offerhub.core.errors import Conflict, OfferHubError
from offerhub.events import catalogue
from offerhub.observability import logger
from offerhub.stellar.horizon import horizon
from offerhub.wallets import store
from offerhub.wallets.sealing import open_signer

# What a client waits before retrying an operation refused for a wallet still being activated: an activation is
# two or three Horizon round trips once the worker has the message.
RETRY_AFTER_SECONDS = 5
ACTIVATED, ALREADY_ACTIVE, UNKNOWN_WALLET = "activated", "already-active", "unknown-wallet"
# Longer than the queue's own retries (10 receives, 120 s apart in AWS), so a wallet is re-queued only once its
# messages have run out or were never sent; a duplicate is harmless (an ACTIVE wallet is a no-op).
STALLED_AFTER = timedelta(minutes=30)
STALLED_BATCH = 100


def request(ctx: RequestContext, row: dict[str, Any]) -> bool:
    """Queue the activation of a CREATED wallet; False when the queue refused (logged: the wallet stays CREATED
    and the next POST /users for the user, or the next operation that needs the wallet, queues it again)."""
    try:
        enqueue_wallet_activation({"walletId": row["id"], "requestId": ctx.request_id})
    except OfferHubError as exc:
        logger.warning("wallet activation not queued", extra={"walletId": row["id"], "code": exc.code})
        return False
    return True


def requeue_stalled(ctx: RequestContext, *, older_than: timedelta = STALLED_AFTER) -> dict[str, Any]:
    """Queue again the activation of wallets still CREATED after `older_than` (the reconciliation's job)."""
    with read_only() as conn:
        rows = store.created_before(conn, utcnow() - older_than, STALLED_BATCH)
    queued = [row["id"] for row in rows if request(ctx, row)]
    return {"checked": len(rows), "queued": queued}


def activate_queued(ctx: RequestContext, wallet_id: str) -> str:
    """The activator's work for one message: ACTIVATED, ALREADY_ACTIVE, or UNKNOWN_WALLET (nothing to retry)."""
    with read_only() as conn:
        row = store.get(conn, wallet_id)
    if row is None:
        return UNKNOWN_WALLET
    if row["status"] == store.ACTIVE:
        return ALREADY_ACTIVE
    activate(ctx, row)
    return ACTIVATED


def activate(ctx: RequestContext, row: dict[str, Any], secret: str | None = None) -> dict[str, Any]:
    """Make the wallet usable on chain, then flip it to ACTIVE (see the module docstring); safe to run again."""
    if row["status"] == store.ACTIVE:
        return row
    horizon().activate(secret or open_signer(row).secret)
    with transaction(ctx) as uow:
        if store.mark_active(uow.conn, row["id"]):
            data = {"walletId": row["id"], "userId": row["user_id"], "publicKey": row["public_key"]}
            uow.emit(catalogue.WALLET_ACTIVATED, "Wallet", row["id"], data)
            record(uow, catalogue.WALLET_ACTIVATED, "Wallet", row["id"], before={"status": store.CREATED},
                   after={**data, "status": store.ACTIVE})
    return {**row, "status": store.ACTIVE}


def require_active(ctx: RequestContext, row: dict[str, Any]) -> dict[str, Any]:
    """The wallet when ACTIVE; else 409 WALLET_NOT_ACTIVE (Retry-After), after queueing its activation again."""
    if row["status"] == store.ACTIVE:
        return row
    request(ctx, row)
    raise not_active(row)


def not_active(row: dict[str, Any]) -> Conflict:
    return Conflict("the user's wallet is still being activated on chain; retry shortly", code="WALLET_NOT_ACTIVE",
                    details={"userId": row["user_id"], "walletId": row["id"], "status": row["status"]},
                    retry_after=RETRY_AFTER_SECONDS)
