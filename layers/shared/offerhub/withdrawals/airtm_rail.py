"""Withdrawals to an Airtm account: one Airtm payout per withdrawal, its `code` our withdrawal id, so a
create or commit retried after a lost answer finds the payout instead of making a second one."""

from __future__ import annotations

import re
from typing import Any

from offerhub.airtm.client import airtm
from offerhub.airtm.wire import read_amount
from offerhub.core.context import RequestContext
from offerhub.core.errors import BusinessRuleViolation, OfferHubError, ProviderError
from offerhub.users.airtm_link import check_eligible
from offerhub.withdrawals import states
from offerhub.withdrawals.port import Destination, DestinationInvalid, RailState

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# Airtm payout status (reference/providers.md §B.4) → ours.
FROM_PAYOUT = {
    "CREATED": states.CREATED,
    "COMMITTED": states.COMMITTED,
    "PROCESSING": states.COMMITTED,
    "PENDING_SIGNATURE": states.COMMITTED,
    "SIGNED": states.COMMITTED,
    "CANCEL_REQUESTED": states.COMMITTED,
    "PENDING": states.PENDING,
    "PENDING_USER_ACTION": states.PENDING,
    "COMPLETED": states.COMPLETED,
    "FAILED": states.FAILED,
    "ERROR": states.FAILED,
    "CANCELED": states.CANCELED,
    "CANCELLED": states.CANCELED,
}


class AirtmPayouts:
    def check_destination(self, ctx: RequestContext, user: dict[str, Any], ref: str | None,
                          memo: str | int | None) -> Destination:
        if memo is not None:
            raise DestinationInvalid("a memo applies to crypto withdrawals only",
                                     details={"reason": "MEMO_NOT_SUPPORTED"})
        if user["airtm_user_id"] is None:
            raise BusinessRuleViolation("the user has no linked Airtm account; link one first",
                                        code="AIRTM_USER_NOT_LINKED", details={"userId": user["id"]})
        email = ref or user["airtm_email"]
        if ref and not (len(ref) <= 254 and _EMAIL.fullmatch(ref)):
            raise DestinationInvalid("destinationRef must be the email of an Airtm account",
                                     details={"reason": "MALFORMED", "destinationRef": ref[:254]})
        if ref and ref.lower() != (user["airtm_email"] or "").lower():
            check_eligible(ref)  # another Airtm account: it must be able to receive
        return Destination(ref=email)

    def open(self, ctx: RequestContext, withdrawal: dict[str, Any]) -> RailState:
        return self._create(withdrawal, commit=False)

    def send(self, ctx: RequestContext, withdrawal: dict[str, Any]) -> RailState:
        client = airtm()
        payout = self._payout(withdrawal)
        if payout is None:  # the create never reached Airtm: create and commit in one call
            return self._create(withdrawal, commit=True)
        if str(payout.get("status", "")).upper() == "CREATED":
            try:
                client.commit_payout(str(payout["id"]))
            except OfferHubError as exc:
                if exc.status != 409:  # 409: already committed (a retry whose first answer was lost)
                    raise
            payout = client.payout(str(payout["id"]))
        return _state(payout)

    def status(self, ctx: RequestContext, withdrawal: dict[str, Any]) -> RailState | None:
        payout = self._payout(withdrawal)
        return None if payout is None else _state(payout)

    def cancel(self, ctx: RequestContext, withdrawal: dict[str, Any]) -> RailState | None:
        payout = self._payout(withdrawal)
        if payout is None:
            return None
        return _state(airtm().cancel_payout(str(payout["id"])))

    @staticmethod
    def _payout(withdrawal: dict[str, Any]) -> dict[str, Any] | None:
        client = airtm()
        if withdrawal["airtm_payout_id"]:
            return client.payout(withdrawal["airtm_payout_id"])
        return client.payout_by_code(withdrawal["id"])

    @staticmethod
    def _create(withdrawal: dict[str, Any], *, commit: bool) -> RailState:
        notes = withdrawal["description"] or f"Withdrawal {withdrawal['id']}"
        payout = airtm().create_payout(code=withdrawal["id"], email=withdrawal["destination_ref"],
                                       amount=withdrawal["amount"], notes=notes, commit=commit)
        return _state(payout)


def _state(payout: dict[str, Any]) -> RailState:
    if not payout.get("id"):
        raise ProviderError("Airtm answered with a payout without an id", code="PROVIDER_ERROR")
    # An unknown status moves nothing (CREATED is never a step forward).
    status = FROM_PAYOUT.get(str(payout.get("status", "")).upper(), states.CREATED)
    reason = payout.get("reasonDescription") or payout.get("reasonCode")
    return RailState(
        status=status, columns={"airtm_payout_id": str(payout["id"])},
        fee=read_amount(payout.get("airtmFee"), "airtmFee"),
        net_amount=read_amount(payout.get("netAmount"), "netAmount"),
        failure_reason=str(reason)[:500] if reason and status in (states.FAILED, states.CANCELED) else None)
