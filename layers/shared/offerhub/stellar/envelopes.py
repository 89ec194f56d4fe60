"""What a refused submission of a signed envelope tells us, for every resumable Stellar payment (a crypto
withdrawal, the platform's top-up of a covered refund): Horizon's result codes, and whether an envelope
absent from Horizon's history provably can never land (so a new one may replace it without paying twice).
"""

from __future__ import annotations

import time

from offerhub.config import settings
from offerhub.core.errors import ProviderError, ProviderTimeout
from offerhub.stellar.horizon import Horizon

# A time-bound refusal proves an envelope can no longer land; this margin lets Horizon finish ingesting a
# ledger closed just before the bound, so "not in its history" really means "never landed".
INGESTION_GRACE_SECONDS = 30
# Refusals that mean the envelope will never land, so a new one may replace it (after checking it did not).
CANNOT_LAND = frozenset({"tx_bad_seq", "tx_too_late"})


def result_codes(exc: ProviderError | ProviderTimeout) -> set[str]:
    """Horizon's result codes of a refused submission: the transaction's and each operation's."""
    found = exc.details.get("resultCodes") if isinstance(exc.details, dict) else None
    if not isinstance(found, dict):
        return set()
    codes = [found.get("transaction"), *(found.get("operations") or [])]
    return {c for c in codes if isinstance(c, str)}


def cannot_land(h: Horizon, xdr: str, tx_hash: str, codes: set[str], *,
                grace_seconds: int = INGESTION_GRACE_SECONDS) -> bool:
    """Prove that an envelope absent from Horizon's history will never land. The account is read first,
    then the history again, so the history is at least as fresh as the sequence number seen."""
    from stellar_sdk import TransactionEnvelope

    tx = TransactionEnvelope.from_xdr(xdr, settings().stellar.passphrase).transaction
    account = h.account(tx.source.account_id)
    if account is None or h.transaction(tx_hash) is not None:
        return False
    if int(account["sequence"]) >= tx.sequence:
        return True  # its sequence number was used, and not by it
    bounds = tx.preconditions.time_bounds if tx.preconditions else None
    return ("tx_too_late" in codes and bounds is not None and bounds.max_time > 0
            and time.time() > bounds.max_time + grace_seconds)
