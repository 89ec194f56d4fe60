"""Test helpers, only when the sandbox rails are in use: send a real USDC payment on the sandbox
network to a user's deposit address (the monitor then credits it), and arm rail faults."""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from typing import Any

import httpx

from offerhub.config import settings
from offerhub.core.errors import BusinessRuleViolation, NotFound, ProviderError, ValidationFailed
from offerhub.core.money import format_amount
from offerhub.wallets.service import deposit_instructions

FAULT_TARGETS = ("deploy", "fund-escrow", "change-milestone-status", "approve-milestone", "release-funds",
                 "dispute-escrow", "resolve-dispute", "send-transaction", "horizon-submit")
FAULT_MODES = ("error", "timeout")


def _control_url() -> str:
    url = settings().sandbox_control_url
    if not url:
        raise NotFound("test helpers exist only on the sandbox rails", code="NOT_FOUND")
    return url


@cache
def _http() -> httpx.Client:
    return httpx.Client(timeout=30)


def _post(path: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        response = _http().post(_control_url() + path, json=body)
    except httpx.HTTPError as exc:
        raise ProviderError("the sandbox rails are unreachable", code="SANDBOX_UNAVAILABLE") from exc
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 500 or not isinstance(body, dict):
        raise ProviderError("the sandbox rails failed", code="SANDBOX_UNAVAILABLE")
    return {"status": response.status_code, "body": body}


def deposit(user_id: str, amount: Decimal) -> dict[str, Any]:
    _control_url()
    wallet = deposit_instructions(user_id)
    if not wallet["ready"]:
        raise BusinessRuleViolation("the user's wallet is not active on chain yet", code="WALLET_NOT_READY")
    result = _post("/mint", {"destination": wallet["address"], "amount": format_amount(amount)})
    if result["status"] != 200:
        raise ProviderError("the sandbox network refused the payment", code="STELLAR_ERROR",
                            details={"providerResponse": result["body"]})
    return {"userId": user_id, "address": wallet["address"], "amount": format_amount(amount),
            "asset": wallet["asset"], "transactionHash": result["body"]["hash"],
            "note": "sent on chain; the blockchain monitor credits the balance on its next run"}


def arm_fault(target: str, mode: str, count: int) -> dict[str, Any]:
    _control_url()
    if target not in FAULT_TARGETS or mode not in FAULT_MODES:
        raise ValidationFailed("unknown fault target or mode", details={"targets": list(FAULT_TARGETS),
                                                                        "modes": list(FAULT_MODES)})
    result = _post("/faults", {"target": target, "mode": mode, "count": count})
    return result["body"]
