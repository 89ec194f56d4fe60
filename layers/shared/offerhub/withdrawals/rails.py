"""The payout port: how a withdrawal's money leaves. One rail per destination type, each the only mode
it exists in: `airtm` (an Airtm payout to the user's Airtm account, airtm mode) and `crypto` (a USDC
payment from the user's wallet to a Stellar address, crypto mode).

The service (withdrawals/service.py) owns states and the ledger; a rail only talks to its provider and
answers with a `RailState`: the status the provider reports, mapped to ours, and what to remember.
`send` must be resumable: called again after any error or timeout it finishes the same payment and
never makes a second one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from offerhub.core.context import RequestContext
from offerhub.core.errors import BusinessRuleViolation, ValidationFailed
from offerhub.ledger.accounts import Account
from offerhub.modes import AIRTM, CRYPTO, require

DESTINATION_TYPES = ("airtm", "crypto")
# Upstream's name for an Airtm payout.
SYNONYMS = {"airtm_balance": "airtm"}


@dataclass(frozen=True)
class Destination:
    ref: str
    memo_type: str | None = None  # crypto only: "text" | "id"
    memo: str | None = None


@dataclass(frozen=True)
class RailState:
    status: str  # one of withdrawals.states
    columns: dict[str, Any] = field(default_factory=dict)  # provider references to store on the withdrawal
    fee: Decimal | None = None
    net_amount: Decimal | None = None
    failure_reason: str | None = None


class DestinationInvalid(BusinessRuleViolation):
    code = "DESTINATION_INVALID"


class PayoutRail(Protocol):
    destination_type: str
    external: Account  # where completed withdrawals go in the ledger

    def check_destination(self, ctx: RequestContext, user: dict[str, Any], ref: str | None,
                          memo: str | int | None) -> Destination:
        """Refuse (422 DESTINATION_INVALID or a provider's 4xx) before any money moves."""

    def open(self, ctx: RequestContext, withdrawal: dict[str, Any]) -> RailState | None:
        """Right after creation, before commit (Airtm: the payout is created, not committed)."""

    def send(self, ctx: RequestContext, withdrawal: dict[str, Any]) -> RailState:
        """Commit: pay. Resumable; never pays twice."""

    def status(self, ctx: RequestContext, withdrawal: dict[str, Any]) -> RailState | None:
        """The provider's truth now (None: the provider has nothing for this withdrawal yet)."""

    def cancel(self, ctx: RequestContext, withdrawal: dict[str, Any]) -> RailState | None:
        """Undo an uncommitted withdrawal at the provider."""


def normalise_type(destination_type: str) -> str:
    kind = SYNONYMS.get(destination_type, destination_type)
    if kind not in DESTINATION_TYPES:
        raise ValidationFailed("unknown destinationType", details={
            "field": "destinationType", "allowed": [*DESTINATION_TYPES, *SYNONYMS]})
    return kind


def rail_for(destination_type: str) -> PayoutRail:
    kind = normalise_type(destination_type)
    if kind == "airtm":
        require(AIRTM, "an Airtm withdrawal")
        from offerhub.withdrawals.airtm_rail import AirtmPayouts

        return AirtmPayouts()
    require(CRYPTO, "a crypto withdrawal")
    from offerhub.withdrawals.stellar_rail import StellarPayments

    return StellarPayments()
