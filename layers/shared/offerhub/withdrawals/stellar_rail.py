"""Withdrawals to a Stellar address (crypto mode): one USDC payment from the user's invisible wallet.

The payment is resumable the way escrow steps are (escrow/steps.py):

  sign → record hash + signed XDR (committed, compare-and-swap on the hash it replaces) → send.

Called again (a retried commit, the reconciliation's refresh) with an envelope on record, it resends that
same envelope, which the network applies at most once; if that is refused, Horizon is asked whether the
hash landed. Only an envelope that provably can never land (its sequence number was used by another
transaction of the wallet, or its time bound passed) is replaced by a new one, and the replacement is
recorded before it is sent. So a lost answer, a crash or two commits at once never pay twice.

The network fee is paid in XLM by the wallet; the USDC arrives exact (fee 0.00, net = amount).
"""

from __future__ import annotations

import random
import time
from decimal import Decimal
from typing import Any

from offerhub.adapters.postgres.unit_of_work import read_only, transaction
from offerhub.core.context import RequestContext
from offerhub.core.errors import ProviderError, ProviderTimeout
from offerhub.stellar import envelopes
from offerhub.stellar.horizon import Horizon, horizon, requires_memo
from offerhub.wallets.activation import require_active
from offerhub.wallets.service import user_signer, wallet_row
from offerhub.withdrawals import states, store
from offerhub.withdrawals.port import Destination, DestinationInvalid, RailState

MAX_MEMO_TEXT_BYTES = 28
MAX_MEMO_ID = 2**64 - 1
SEQUENCE_ATTEMPTS = 10
# How long Horizon may still be ingesting a ledger closed just before a time bound (stellar/envelopes.py).
INGESTION_GRACE_SECONDS = envelopes.INGESTION_GRACE_SECONDS
# The payment was refused for good: nothing moved, the money goes back to available.
FAILED_FOR_GOOD = frozenset({"tx_failed", "tx_insufficient_balance"})
WHY = {
    "op_no_trust": "the destination no longer trusts USDC",
    "op_not_authorized": "the destination is not authorised to hold USDC",
    "op_no_destination": "the destination account no longer exists",
    "op_line_full": "the destination's USDC trustline limit is reached",
    "op_underfunded": "the wallet holds less USDC than the withdrawal",
    "op_src_no_trust": "the wallet does not trust USDC",
    "op_src_not_authorized": "the wallet is not authorised to send USDC",
    "tx_insufficient_balance": "the wallet has too little XLM to pay the network fee",
}


class StellarPayments:
    # --- before any money moves ------------------------------------------------------------------------
    def check_destination(self, ctx: RequestContext, user: dict[str, Any], ref: str | None,
                          memo: str | int | None) -> Destination:
        from stellar_sdk import StrKey

        if not ref:
            raise _invalid("MISSING", ref, "destinationRef (a Stellar G… address) is required")
        if ref.startswith("M") and StrKey.is_valid_med25519_public_key(ref):
            raise _invalid("MUXED_NOT_SUPPORTED", ref, "muxed (M…) addresses are not supported; use the base "
                           "G… address and put the muxed id in the memo (an id memo)")
        if not StrKey.is_valid_ed25519_public_key(ref):
            raise _invalid("MALFORMED", ref, "destinationRef is not a valid Stellar account address (G…)")
        memo_type, memo_text = _memo(ref, memo)
        wallet = require_active(ctx, wallet_row(user["id"]))  # 404 WALLET_NOT_FOUND, 409 WALLET_NOT_ACTIVE
        if ref == wallet["public_key"]:
            raise _invalid("OWN_WALLET", ref, "the destination is the user's own wallet")
        h = horizon()
        found = h.account(ref)
        if found is None:
            raise _invalid("ACCOUNT_NOT_FOUND", ref, "the destination account does not exist on the network")
        if not h.trusts_usdc(found):
            raise _invalid("NO_USDC_TRUSTLINE", ref, "the destination account does not trust USDC "
                           f"(issuer {h.net.usdc_issuer})", issuer=h.net.usdc_issuer)
        if memo_type is None and requires_memo(found):
            raise _invalid("MEMO_REQUIRED", ref, "the destination requires a memo (SEP-29); add the memo "
                           "its owner gave you")
        return Destination(ref=ref, memo_type=memo_type, memo=memo_text)

    def open(self, ctx: RequestContext, withdrawal: dict[str, Any]) -> RailState | None:
        return None  # nothing exists at the rail before commit

    def cancel(self, ctx: RequestContext, withdrawal: dict[str, Any]) -> RailState | None:
        return None  # nothing was signed or sent before commit

    # --- paying --------------------------------------------------------------------------------------
    def send(self, ctx: RequestContext, withdrawal: dict[str, Any]) -> RailState:
        h = horizon()
        row = withdrawal
        for attempt in range(1, SEQUENCE_ATTEMPTS + 1):
            replacing = row["transaction_hash"]
            if replacing:
                resumed = self._resume(h, row)
                if resumed is not None:
                    return resumed
            signer = user_signer(ctx, row["user_id"])
            xdr, tx_hash = h.build_usdc_payment(signer.secret, row["destination_ref"], row["amount"],
                                                row["memo_type"], row["memo"])
            recorded = _record(ctx, row, tx_hash, xdr, replacing)
            if recorded == store.TAKEN:  # another withdrawal's identical envelope: wait for the next sequence
                time.sleep(random.uniform(0, 0.02 * attempt))  # noqa: S311 - jitter, not a secret
                row = _reread(row["id"])
                continue
            if recorded == store.LOST:  # another request recorded its envelope first: finish theirs, never a second
                row = _reread(row["id"])
                continue
            row = {**row, "transaction_hash": tx_hash, "signed_xdr": xdr}
            try:
                h.submit_envelope(xdr)
            except ProviderError as exc:
                codes = envelopes.result_codes(exc)
                if codes & FAILED_FOR_GOOD:
                    return _failed(tx_hash, exc)
                if "tx_bad_seq" in codes and attempt < SEQUENCE_ATTEMPTS:
                    # Another transaction of the wallet (an escrow step, another withdrawal) took the sequence
                    # number. The next round resends ours, sees it did not land, and replaces it.
                    time.sleep(random.uniform(0, 0.02 * attempt))  # noqa: S311 - jitter, not a secret
                    continue
                raise
            return _completed(row, tx_hash)
        raise ProviderError("the wallet's sequence number kept moving; try again", code="STELLAR_UNAVAILABLE",
                            details={"attempts": SEQUENCE_ATTEMPTS})

    def status(self, ctx: RequestContext, withdrawal: dict[str, Any]) -> RailState | None:
        if withdrawal["status"] == states.COMMITTED:  # a payment in flight: finishing it is how it is learnt
            return self.send(ctx, withdrawal)
        tx_hash = withdrawal["transaction_hash"]
        if not tx_hash:
            return None
        landed = horizon().transaction(tx_hash)
        return None if landed is None else _landed(withdrawal, tx_hash, landed)

    def _resume(self, h: Horizon, row: dict[str, Any]) -> RailState | None:
        """Finish the recorded envelope. None: it provably never landed and never will (build a new one)."""
        tx_hash, xdr = row["transaction_hash"], row["signed_xdr"]
        try:
            h.submit_envelope(xdr)
            return _completed(row, tx_hash)
        except (ProviderError, ProviderTimeout) as exc:
            refusal = exc
        landed = h.transaction(tx_hash)
        if landed is not None:
            return _landed(row, tx_hash, landed)
        codes = envelopes.result_codes(refusal)
        if codes & envelopes.CANNOT_LAND and envelopes.cannot_land(h, xdr, tx_hash, codes,
                                                                  grace_seconds=INGESTION_GRACE_SECONDS):
            return None
        raise refusal  # a timeout, an outage, anything unproven: stay COMMITTED, a retry resumes


def _record(ctx: RequestContext, row: dict[str, Any], tx_hash: str, xdr: str, replacing: str | None) -> str:
    """Record the envelope before it is sent (withdrawals/store.record_payment: RECORDED, LOST, TAKEN)."""
    with transaction(ctx) as uow:
        return store.record_payment(uow.conn, row["id"], tx_hash, xdr, replacing=replacing)


def _memo(ref: str, memo: str | int | None) -> tuple[str | None, str | None]:
    """The memo as (type, text): an int is an id memo (uint64), a str a text memo (≤ 28 bytes UTF-8)."""
    if memo is None:
        return None, None
    if isinstance(memo, bool):
        raise _invalid("MEMO_INVALID", ref, "memo must be a text or a non-negative integer id")
    if isinstance(memo, int):
        if not 0 <= memo <= MAX_MEMO_ID:
            raise _invalid("MEMO_INVALID", ref, "an id memo must be an integer from 0 to 2^64-1")
        return "id", str(memo)
    if not isinstance(memo, str) or not memo:
        raise _invalid("MEMO_INVALID", ref, "memo must be a text or a non-negative integer id")
    try:
        size = len(memo.encode("utf-8"))
    except UnicodeEncodeError:
        raise _invalid("MEMO_INVALID", ref, "a text memo must be valid UTF-8") from None
    if size > MAX_MEMO_TEXT_BYTES:
        raise _invalid("MEMO_INVALID", ref, f"a text memo holds at most {MAX_MEMO_TEXT_BYTES} bytes of UTF-8 "
                       f"(this one has {size})")
    return "text", memo


def _invalid(reason: str, ref: str | None, message: str, **extra: Any) -> DestinationInvalid:
    return DestinationInvalid(message, details={"reason": reason, "destinationRef": ref, **extra})


def _reread(withdrawal_id: str) -> dict[str, Any]:
    with read_only() as conn:
        row = store.get(conn, withdrawal_id)
    assert row is not None  # withdrawals are never deleted
    return row


def _completed(row: dict[str, Any], tx_hash: str) -> RailState:
    amount = Decimal(row["amount"])
    return RailState(states.COMPLETED, columns={"transaction_hash": tx_hash}, fee=Decimal("0.00"),
                     net_amount=amount)


def _failed(tx_hash: str, exc: ProviderError) -> RailState:
    codes = envelopes.result_codes(exc)
    return RailState(states.FAILED, columns={"transaction_hash": tx_hash}, failure_reason=_reason(codes))


def _landed(row: dict[str, Any], tx_hash: str, landed: dict[str, Any]) -> RailState:
    if landed.get("successful"):
        return _completed(row, tx_hash)
    return RailState(states.FAILED, columns={"transaction_hash": tx_hash},
                     failure_reason=_reason(_result_codes(landed) or {"tx_failed"}))


def _reason(codes: set[str]) -> str:
    named = sorted(c for c in codes if c not in ("tx_failed", "op_success"))
    why = "; ".join(WHY.get(c, c) for c in named) or "the transaction failed"
    return f"the Stellar network refused the payment ({', '.join(named or ['tx_failed'])}): {why}; nothing was paid"


def _result_codes(landed: dict[str, Any]) -> set[str]:
    """Best effort: the payment's result code from a landed transaction's result XDR (op_no_trust, …)."""
    try:
        from stellar_sdk.xdr import TransactionResult

        result = TransactionResult.from_xdr(landed["result_xdr"]).result
        codes = set()
        for op in result.results or []:
            payment = op.tr.payment_result if op.tr is not None else None
            if payment is not None:
                codes.add("op_" + payment.code.name.lower().removeprefix("payment_"))
        return codes
    except Exception:  # an absent or unreadable result: the generic reason is enough
        return set()
