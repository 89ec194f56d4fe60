"""Which rail pays a withdrawal: one per destination type, each only in its mode — `airtm` (an Airtm
payout to the user's Airtm account, airtm mode) and `crypto` (a USDC payment from the user's wallet to a
Stellar address, crypto mode). The port they implement is withdrawals/port.py."""

from __future__ import annotations

from offerhub.core.errors import ValidationFailed
from offerhub.ledger import accounts
from offerhub.modes import AIRTM, CRYPTO, require
from offerhub.withdrawals.airtm_rail import AirtmPayouts
from offerhub.withdrawals.port import PayoutRail
from offerhub.withdrawals.stellar_rail import StellarPayments

DESTINATION_TYPES = ("airtm", "crypto")
# Upstream's name for an Airtm payout.
SYNONYMS = {"airtm_balance": "airtm"}
# Where a completed withdrawal's money goes in the ledger.
EXTERNAL_ACCOUNTS = {"airtm": accounts.external("airtm"), "crypto": accounts.external("stellar")}
_MODES = {"airtm": AIRTM, "crypto": CRYPTO}


def normalise_type(destination_type: str) -> str:
    kind = SYNONYMS.get(destination_type, destination_type)
    if kind not in DESTINATION_TYPES:
        raise ValidationFailed("unknown destinationType", details={
            "field": "destinationType", "allowed": [*DESTINATION_TYPES, *SYNONYMS]})
    return kind


def rail_for(destination_type: str) -> PayoutRail:
    kind = normalise_type(destination_type)
    require(_MODES[kind], f"a withdrawal to {kind}")
    return AirtmPayouts() if kind == "airtm" else StellarPayments()
