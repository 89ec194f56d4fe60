"""Fault injection for the sandbox rails: the next `count` calls to a target fail.

Targets and their modes (`MODES_BY_TARGET`):

- Trustless Work endpoint names (`deploy`, `fund-escrow`, `change-milestone-status`, `approve-milestone`,
  `release-funds`, `dispute-escrow`, `resolve-dispute`, `send-transaction`) and `horizon-submit`:
  `error` answers a 5xx (503 from Trustless Work; 500 from Horizon, which stellar-sdk does not retry
  itself); `timeout` holds the answer longer than the client waits. For `send-transaction` a timeout is
  the nasty case: the transaction is applied, only the answer is lost.
- Airtm endpoints (`airtm-payins-create`, `airtm-payins-get`, `airtm-payins-cancel`, `airtm-payouts-create`,
  `airtm-payouts-commit`, `airtm-payouts-get`, `airtm-payouts-cancel`, `airtm-users-get`, `airtm-balance`;
  a `…-get` target covers the reads by id and by code): `error` answers 503; `timeout` holds the answer
  longer than the client waits (for the creates and the commit the operation IS applied and only the
  answer is lost); `rate-limit` answers 429 with `Retry-After: 1`.
- `webhook-delivery` (the Airtm sandbox's Svix-like sender), counted in messages: `drop` never delivers
  the message; `duplicate` delivers it twice with the same `svix-id`; `delay` holds it back (about 2 s)
  so that later events about the same object overtake it.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from starlette.responses import JSONResponse

TRUSTLESS_TARGETS = frozenset({"deploy", "fund-escrow", "change-milestone-status", "approve-milestone",
                               "release-funds", "dispute-escrow", "resolve-dispute", "send-transaction"})
AIRTM_TARGETS = frozenset({"airtm-payins-create", "airtm-payins-get", "airtm-payins-cancel", "airtm-payouts-create",
                           "airtm-payouts-commit", "airtm-payouts-get", "airtm-payouts-cancel", "airtm-users-get",
                           "airtm-balance"})
WEBHOOK_TARGET = "webhook-delivery"

MODES_BY_TARGET: dict[str, frozenset[str]] = {
    **{t: frozenset({"error", "timeout"}) for t in (*TRUSTLESS_TARGETS, "horizon-submit")},
    **{t: frozenset({"error", "timeout", "rate-limit"}) for t in AIRTM_TARGETS},
    WEBHOOK_TARGET: frozenset({"drop", "duplicate", "delay"}),
}
TARGETS = frozenset(MODES_BY_TARGET)
MODES = frozenset().union(*MODES_BY_TARGET.values())


def valid(target: Any, mode: Any) -> bool:
    """Whether `mode` is a fault that `target` can be given."""
    return isinstance(target, str) and mode in MODES_BY_TARGET.get(target, ())


class Faults:
    def __init__(self, timeout_seconds: float = 35.0):
        self._lock = threading.Lock()
        self._armed: dict[str, tuple[str, int]] = {}
        self.timeout_seconds = timeout_seconds

    def arm(self, target: str, mode: str, count: int) -> None:
        with self._lock:
            if count <= 0:
                self._armed.pop(target, None)
            else:
                self._armed[target] = (mode, count)

    def take(self, target: str) -> str | None:
        """The mode of the fault to apply to this call, if one is armed (and count it down)."""
        with self._lock:
            armed = self._armed.get(target)
            if armed is None:
                return None
            mode, count = armed
            if count <= 1:
                del self._armed[target]
            else:
                self._armed[target] = (mode, count - 1)
            return mode

    def armed(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {t: {"mode": m, "count": c} for t, (m, c) in self._armed.items()}

    async def hold(self) -> None:
        await asyncio.sleep(self.timeout_seconds)

    @staticmethod
    def error_response(status: int = 503) -> JSONResponse:
        return JSONResponse({"type": "about:blank", "title": "Injected fault", "status": status,
                             "code": "SANDBOX_INJECTED_FAULT", "detail": "fault injected by the sandbox"},
                            status_code=status, media_type="application/problem+json")
