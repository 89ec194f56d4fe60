"""Top-up states (upstream's names) and how an Airtm payin's status maps onto them.

States only move forward (CREATED → AWAITING_USER_CONFIRMATION → PROCESSING → a terminal state) and a
terminal state never moves: a replayed or late webhook, or a stale read, can never take a top-up back or
credit it twice.
"""

from __future__ import annotations

from collections.abc import Iterable

from offerhub.core import states

CREATED = "TOPUP_CREATED"
AWAITING = "TOPUP_AWAITING_USER_CONFIRMATION"
PROCESSING = "TOPUP_PROCESSING"
SUCCEEDED = "TOPUP_SUCCEEDED"
FAILED = "TOPUP_FAILED"
CANCELED = "TOPUP_CANCELED"

STATUSES = (CREATED, AWAITING, PROCESSING, SUCCEEDED, FAILED, CANCELED)
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELED})
_RANK = {CREATED: 0, AWAITING: 1, PROCESSING: 2, SUCCEEDED: 3, FAILED: 3, CANCELED: 3}

# Airtm payin status (compared case-insensitively) → ours (reference/providers.md §B.3).
FROM_PAYIN = {
    "CREATED": AWAITING,
    "PROCESSING": PROCESSING,
    "CONFIRMED": SUCCEEDED,
    "CANCELED": CANCELED,
    "CANCELLED": CANCELED,
    "BRIDGE_CANCELED": CANCELED,
    "FAILED": FAILED,
    "BRIDGE_FAILED": FAILED,
}


def moves_forward(current: str, target: str) -> bool:
    return current not in TERMINAL and _RANK[target] > _RANK[current]


def require_status(row: dict, allowed: Iterable[str], action: str) -> None:
    states.require_status(row, allowed, action, noun="a top-up", id_key="topupId")
