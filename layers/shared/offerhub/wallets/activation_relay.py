"""The activation relay: sign-up's outbox (issue 11.3).

POST /users commits the user, its sealed wallet and `wallet.created` in one transaction and returns without calling
SQS (a send through the queue's API cost a sign-up more than its whole transaction). This reader of the event log
(`events.tail.follow("wallet-activation", ...)`, functions/activation_relay on a one-minute schedule that long-polls)
turns each `wallet.created` whose wallet is still CREATED into a message on the activation queue, ten to a
SendMessageBatch, within a poll (0.25 s) of the commit.

Nothing is lost between the commit and the queue: the event commits with the wallet, and the reader's cursor moves
only once the batch is on the queue. A run that fails sends the batch again (the activator takes a duplicate as a
no-op). The reader starts at the beginning of the log on its first run, so wallets created before it was deployed
are queued too; an ACTIVE one is skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from offerhub.adapters.aws.queue import enqueue_wallet_activations
from offerhub.adapters.postgres.unit_of_work import read_only
from offerhub.events import catalogue, tail
from offerhub.wallets import store

READER = "wallet-activation"


def queue_created_wallets(batch: list[tail.Event]) -> int:
    """One poll's events: the CREATED wallets among them queued for activation (raises when the queue refused: the
    run stops before its cursor moves). The count queued."""
    created = [e for e in batch if e["type"] == catalogue.WALLET_CREATED]
    if not created:
        return 0
    with read_only() as conn:
        waiting = store.still_created(conn, [e["data"]["walletId"] for e in created])
    messages = [{"walletId": e["data"]["walletId"], "requestId": e["requestId"]}
                for e in created if e["data"]["walletId"] in waiting]
    if messages:
        enqueue_wallet_activations(messages)
    return len(messages)


def run(remaining_ms: Callable[[], int], **follow: Any) -> dict[str, Any]:
    """One scheduled run: relay until the Lambda is about to stop (`follow`: tail.follow's options, for tests)."""
    queued = 0

    def tick(batch: list[tail.Event]) -> None:
        nonlocal queued
        queued += queue_created_wallets(batch)

    followed = tail.follow(READER, tick, remaining_ms, from_start=True, **follow)
    return {**followed.to_dict(), "queued": queued}
