"""State checks shared by every state machine (orders, top-ups, withdrawals): an action attempted in a
state that does not allow it is a 409 INVALID_STATE naming the current state and the allowed ones."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from offerhub.core.errors import InvalidState


def require_status(row: dict[str, Any], allowed: Iterable[str], action: str, *, noun: str, id_key: str) -> None:
    allowed = tuple(allowed)
    if row["status"] not in allowed:
        raise InvalidState(f"cannot {action} {noun} in state {row['status']}",
                           details={id_key: row["id"], "currentState": row["status"], "allowedStates": list(allowed)})
