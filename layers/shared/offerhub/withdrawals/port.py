"""The payout port: what the withdrawals service asks of a rail, and what a rail answers.

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
from offerhub.core.errors import BusinessRuleViolation


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
    def check_destination(self, ctx: RequestContext, user: dict[str, Any], ref: str | None,
                          memo: str | int | None) -> Destination:
        """Refuse (422 DESTINATION_INVALID or a provider's 4xx) before any money moves."""

    def open(self, ctx: RequestContext, withdrawal: dict[str, Any]) -> RailState | None:
        """Right after creation, before commit (Airtm: the payout is created, not committed)."""

    def send(self, ctx: RequestContext, withdrawal: dict[str, Any]) -> RailState:
        """Commit: pay. Resumable; never pays twice."""

    def status(self, ctx: RequestContext, withdrawal: dict[str, Any]) -> RailState | None:
        """The provider's truth now, finishing a payment in flight if that is how it is learnt (None: the
        provider has nothing for this withdrawal yet)."""

    def cancel(self, ctx: RequestContext, withdrawal: dict[str, Any]) -> RailState | None:
        """Undo an uncommitted withdrawal at the provider."""
