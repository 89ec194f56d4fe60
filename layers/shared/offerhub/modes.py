"""The payment mode (`PAYMENT_PROVIDER`): crypto (Stellar wallets, Trustless Work escrow) or airtm (Airtm
payins and payouts, ledger-held escrow). A capability of the other mode is a clear 422, never a 500."""

from __future__ import annotations

from offerhub.config import settings
from offerhub.core.errors import BusinessRuleViolation

CRYPTO = "crypto"
AIRTM = "airtm"


def current() -> str:
    return settings().payment_provider


def require(mode: str, what: str) -> None:
    if current() != mode:
        raise BusinessRuleViolation(
            f"{what} needs PAYMENT_PROVIDER={mode}; this deployment runs in {current()} mode",
            code="PAYMENT_PROVIDER_MISMATCH", details={"paymentProvider": current(), "requires": mode})
