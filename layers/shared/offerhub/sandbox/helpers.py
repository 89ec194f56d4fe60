"""Test helpers, only when the sandbox rails are in use: send a real USDC payment on the sandbox
network to a user's deposit address (the monitor then credits it), act as the Airtm user on a payin or a
pending payout (the sandbox then sends Airtm's webhook), make external Stellar accounts to withdraw to,
and arm rail faults."""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from typing import Any

import httpx

from offerhub.config import settings
from offerhub.core.errors import InvalidState, NotFound, ProviderError, ValidationFailed
from offerhub.core.money import format_amount
from offerhub.topups.service import get_topup
from offerhub.wallets import store as wallet_store
from offerhub.wallets.activation import not_active
from offerhub.wallets.service import deposit_instructions, wallet_row
from offerhub.withdrawals.service import get_withdrawal

FAULT_TARGETS = ("deploy", "fund-escrow", "change-milestone-status", "approve-milestone", "release-funds",
                 "dispute-escrow", "resolve-dispute", "send-transaction", "horizon-submit",
                 "airtm-payins-create", "airtm-payins-get", "airtm-payins-cancel", "airtm-payouts-create",
                 "airtm-payouts-commit", "airtm-payouts-get", "airtm-payouts-cancel", "airtm-users-get",
                 "airtm-balance", "webhook-delivery")
FAULT_MODES = ("error", "timeout", "rate-limit", "drop", "duplicate", "delay")
TOPUP_OUTCOMES = ("confirmed", "canceled", "failed")
PAYOUT_OUTCOMES = ("completed", "failed", "canceled")


def _control_url() -> str:
    url = settings().sandbox_control_url
    if not url:
        raise NotFound("test helpers exist only on the sandbox rails", code="NOT_FOUND")
    return url


@cache
def _http() -> httpx.Client:
    return httpx.Client(timeout=30)


def _post(path: str, body: dict[str, Any] | None, *, method: str = "POST") -> dict[str, Any]:
    try:
        response = _http().request(method, _control_url() + path, json=body)
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
    row = wallet_row(user_id)
    if row["status"] != wallet_store.ACTIVE:  # no USDC trustline yet: the payment could not land
        raise not_active(row)
    wallet = deposit_instructions(user_id)
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
    if result["status"] != 200:
        raise ValidationFailed("this mode does not apply to this target", details=result["body"])
    return result["body"]


def complete_topup(topup_id: str, outcome: str) -> dict[str, Any]:
    """The user confirms (or cancels) on Airtm's checkout, or Airtm fails the payin; Airtm then sends its
    webhook, which reaches the top-up through the queue."""
    _control_url()
    topup = get_topup(topup_id)
    if not topup["airtmPayinId"]:
        raise InvalidState("the top-up has no Airtm payin yet")
    result = _post(f"/airtm/payins/{topup['airtmPayinId']}/complete", {"outcome": outcome})
    _refused(result, "the payin")
    return {"topupId": topup_id, "airtmPayinId": topup["airtmPayinId"], "outcome": outcome,
            "note": "done on Airtm; its webhook applies it to the top-up"}


def complete_withdrawal(withdrawal_id: str, outcome: str) -> dict[str, Any]:
    """The recipient of a payout left PENDING acts on Airtm (or it fails, or is canceled)."""
    _control_url()
    withdrawal = get_withdrawal(withdrawal_id)
    if not withdrawal["airtmPayoutId"]:
        raise InvalidState("the withdrawal has no Airtm payout")
    result = _post(f"/airtm/payouts/{withdrawal['airtmPayoutId']}/complete", {"outcome": outcome})
    _refused(result, "the payout")
    return {"withdrawalId": withdrawal_id, "airtmPayoutId": withdrawal["airtmPayoutId"], "outcome": outcome,
            "note": "done on Airtm; its webhook applies it to the withdrawal"}


def new_stellar_account(trust_usdc: bool) -> dict[str, Any]:
    """An external account on the sandbox network, to withdraw to."""
    _control_url()
    result = _post("/stellar-accounts", {"trustUsdc": trust_usdc})
    _refused(result, "the account")
    return {"address": result["body"]["address"], "trustUsdc": trust_usdc}


def stellar_account(address: str) -> dict[str, Any]:
    _control_url()
    if not (len(address) == 56 and address.isalnum()):
        raise NotFound(f"no account {address[:60]} on the sandbox network", code="NOT_FOUND")
    result = _post(f"/stellar-accounts/{address}", None, method="GET")
    if result["status"] == 404:
        raise NotFound(f"no account {address} on the sandbox network", code="NOT_FOUND")
    _refused(result, "the account")
    body = result["body"]
    return {"address": body["address"], "usdc": body.get("usdc"), "xlm": body.get("xlm")}


def _refused(result: dict[str, Any], what: str) -> None:
    if result["status"] == 409:
        raise InvalidState(f"{what} is not in a state for this", details={"providerResponse": result["body"]})
    if result["status"] >= 300:
        raise ProviderError(f"the sandbox refused: {what}", code="SANDBOX_UNAVAILABLE",
                            details={"providerResponse": result["body"]})
