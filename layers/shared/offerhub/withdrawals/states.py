"""Withdrawal states (upstream's names). They only move forward, and a terminal state never moves.

  WITHDRAWAL_CREATED → WITHDRAWAL_COMMITTED → WITHDRAWAL_PENDING → WITHDRAWAL_COMPLETED | WITHDRAWAL_FAILED
  WITHDRAWAL_CREATED → WITHDRAWAL_CANCELED (only before commit; the rail may also cancel later, e.g. an
  Airtm payout left pending for 90 days)
"""

from __future__ import annotations

from collections.abc import Iterable

from offerhub.core import states

CREATED = "WITHDRAWAL_CREATED"
COMMITTED = "WITHDRAWAL_COMMITTED"
PENDING = "WITHDRAWAL_PENDING"
COMPLETED = "WITHDRAWAL_COMPLETED"
FAILED = "WITHDRAWAL_FAILED"
CANCELED = "WITHDRAWAL_CANCELED"

STATUSES = (CREATED, COMMITTED, PENDING, COMPLETED, FAILED, CANCELED)
TERMINAL = frozenset({COMPLETED, FAILED, CANCELED})
_RANK = {CREATED: 0, COMMITTED: 1, PENDING: 2, COMPLETED: 3, FAILED: 3, CANCELED: 3}


def moves_forward(current: str, target: str) -> bool:
    return current not in TERMINAL and _RANK[target] > _RANK[current]


def require_status(row: dict, allowed: Iterable[str], action: str) -> None:
    states.require_status(row, allowed, action, noun="a withdrawal", id_key="withdrawalId")
