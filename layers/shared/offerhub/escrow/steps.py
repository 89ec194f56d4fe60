"""Resumable on-chain steps. Each step of a flow (deploy, fund, a milestone's status or approval,
release, dispute, resolve) is one Trustless Work transaction:

  build (unsigned XDR) → check it is what we asked for → sign with the role's key →
  record hash + signed XDR (committed) → send → record CONFIRMED.

A step already CONFIRMED is skipped. A step left SUBMITTED (a timeout, a crash) is finished by sending
the same signed envelope again, which cannot land twice; if that is refused, Horizon is asked whether
the transaction landed, then the contract whether it shows the step's effect (`Step.applied`); only if
neither does is the step built and signed afresh (the old and new envelopes share a sequence number, so at
most one can land). An envelope that lost the sequence-number race to another transaction of the same
account is rebuilt at once. Nothing is paid twice.

A plain USDC payment from one of our wallets (the platform's top-up of a covered refund, escrow/settlement.py)
is a step of the same order, recorded in the same table, resumed its own way (`pay`): sign → record hash +
signed envelope (committed) → send. Resumed, the recorded envelope is sent again and Horizon asked whether
its hash landed; only an envelope that landed as failed (it moved nothing) or provably never can land
(stellar/envelopes.py) is replaced, by one recorded before it is sent.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from offerhub.adapters.postgres.unit_of_work import read_only, transaction
from offerhub.config import settings
from offerhub.core.context import RequestContext
from offerhub.core.errors import ProviderError, ProviderTimeout
from offerhub.escrow import store
from offerhub.observability import STEP_RETRIES, count
from offerhub.stellar import envelopes
from offerhub.stellar.horizon import Horizon, horizon
from offerhub.trustless.client import trustless_work
from offerhub.wallets.service import Signer

SEQUENCE_ATTEMPTS = 10


@dataclass(frozen=True)
class Step:
    key: str  # unique per order: "deploy", "fund", "ms:0:status", "ms:0:approve", "release", ...
    action: str  # the Trustless Work endpoint
    role: str  # who signs: buyer | seller | platform
    signer: Signer
    body: dict[str, Any]
    contract_id: str | None = None  # the contract the transaction must call (None for deploy)
    # What the contract looks like once this step took effect (for a step whose own transaction cannot be
    # confirmed, e.g. a rebuilt envelope lost the race to the original): then it is done, not repeated.
    applied: Callable[[dict[str, Any]], bool] | None = None


def run(ctx: RequestContext, order_id: str, step: Step) -> dict[str, Any]:
    """Run one step to confirmation (or raise, leaving it resumable). Returns the provider's result."""
    with read_only() as conn:
        existing = store.step(conn, order_id, step.key)
    if existing is not None and existing["status"] == "CONFIRMED":
        return existing["result"] or {}
    if existing is not None:
        count(STEP_RETRIES)  # resumed: a step left SUBMITTED by an earlier try
        finished = _finish_submitted(ctx, order_id, step, existing)
        if finished is not None:
            return finished
    tw = trustless_work()
    for attempt in range(1, SEQUENCE_ATTEMPTS + 1):
        try:
            unsigned = tw.build(step.action, step.body)
        except ProviderError:
            # Refused: if the contract already shows this step's effect (done by an envelope we lost track
            # of), the step is done; otherwise the refusal stands.
            if _applied_on_chain(step):
                return _confirm(ctx, order_id, step, {"byState": True})
            raise
        signed_xdr, tx_hash = _sign(unsigned, step)
        with transaction(ctx) as uow:
            store.record_submission(uow.conn, order_id, step.key, step.role, tx_hash, signed_xdr)
        try:
            result = tw.send_transaction(signed_xdr)
        except ProviderError as exc:
            # Another transaction from the same account (the platform wallet signs every resolution; a buyer
            # may have several orders) took this sequence number first. Ours cannot land: build again.
            if attempt < SEQUENCE_ATTEMPTS and _lost_sequence_race(exc):
                count(STEP_RETRIES)  # rebuilt: the sequence number was taken
                time.sleep(random.uniform(0, 0.02 * attempt))  # noqa: S311 - jitter, not a secret
                continue
            raise
        return _confirm(ctx, order_id, step, {**_public_result(result), "txHash": tx_hash})
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Payment:
    key: str  # unique per order, beside the contract steps: "topup:buyer"
    role: str  # whose wallet pays: platform
    signer: Signer
    destination: str
    amount: Decimal  # USDC, up to 7 decimals
    # Called before a new envelope is built (not when finishing a recorded one): raise to refuse to start.
    precheck: Callable[[], None] | None = None
    # Turns the network's refusal of a new envelope into the error to answer (op_underfunded → a clear 503).
    refused: Callable[[ProviderError], Exception | None] | None = None


def pay(ctx: RequestContext, order_id: str, payment: Payment) -> dict[str, Any]:
    """Run one USDC payment to confirmation (or raise, leaving it resumable). Returns its recorded result."""
    with read_only() as conn:
        existing = store.step(conn, order_id, payment.key)
    if existing is not None and existing["status"] == "CONFIRMED":
        return existing["result"] or {}
    h = horizon()
    recorded = (existing["tx_hash"], existing["signed_xdr"]) if existing is not None else None
    if recorded is not None:
        count(STEP_RETRIES)  # resumed: a payment recorded by an earlier try
    for attempt in range(1, SEQUENCE_ATTEMPTS + 1):
        if recorded is not None and _payment_landed(h, *recorded):
            return _confirm_payment(ctx, order_id, payment, recorded[0])
        if payment.precheck is not None:
            payment.precheck()
        xdr, tx_hash = h.build_usdc_payment(payment.signer.secret, payment.destination, payment.amount, None, None)
        with transaction(ctx) as uow:
            store.record_submission(uow.conn, order_id, payment.key, payment.role, tx_hash, xdr)
        recorded = (tx_hash, xdr)
        try:
            h.submit_envelope(xdr)
        except ProviderError as exc:
            if attempt < SEQUENCE_ATTEMPTS and "tx_bad_seq" in envelopes.result_codes(exc):
                # Another transaction of the wallet (a resolution it signed) took the sequence number: the next
                # round finds ours cannot land and replaces it.
                count(STEP_RETRIES)
                time.sleep(random.uniform(0, 0.02 * attempt))  # noqa: S311 - jitter, not a secret
                continue
            answer = payment.refused(exc) if payment.refused is not None else None
            if answer is not None:
                raise answer from exc
            raise
        return _confirm_payment(ctx, order_id, payment, tx_hash)
    raise ProviderError("the wallet's sequence number kept moving; try again", code="STELLAR_UNAVAILABLE",
                        details={"attempts": SEQUENCE_ATTEMPTS})


def _payment_landed(h: Horizon, tx_hash: str, xdr: str) -> bool:
    """Finish a recorded envelope: True when it landed and paid. False when a new one may replace it: it
    landed as failed (it moved nothing), or it provably never can land. Anything unproven raises."""
    try:
        h.submit_envelope(xdr)
        return True
    except (ProviderError, ProviderTimeout) as exc:
        refusal = exc
    landed = h.transaction(tx_hash)
    if landed is not None:
        return bool(landed.get("successful"))
    codes = envelopes.result_codes(refusal)
    if codes & envelopes.CANNOT_LAND and envelopes.cannot_land(h, xdr, tx_hash, codes):
        return False
    raise refusal  # a timeout, an outage: the envelope may still land, so nothing new is signed


def _confirm_payment(ctx: RequestContext, order_id: str, payment: Payment, tx_hash: str) -> dict[str, Any]:
    result = {"txHash": tx_hash, "destination": payment.destination, "amount": f"{payment.amount:.7f}"}
    with transaction(ctx) as uow:
        store.confirm(uow.conn, order_id, payment.key, payment.role, result)
    return result


def _lost_sequence_race(exc: ProviderError) -> bool:
    return "tx_bad_seq" in str(exc.details)


def _finish_submitted(ctx: RequestContext, order_id: str, step: Step, existing: dict[str, Any]) -> dict | None:
    try:
        result = trustless_work().send_transaction(existing["signed_xdr"])
        return _confirm(ctx, order_id, step, {**_public_result(result), "txHash": existing["tx_hash"]})
    except ProviderTimeout:
        raise
    except ProviderError:
        landed = horizon().transaction(existing["tx_hash"])
        if landed is not None and landed.get("successful"):
            return _confirm(ctx, order_id, step, {"txHash": existing["tx_hash"]})
        if _applied_on_chain(step):
            return _confirm(ctx, order_id, step, {"txHash": existing["tx_hash"], "byState": True})
        return None  # it never landed and the contract does not show it: build and sign again


def _applied_on_chain(step: Step) -> bool:
    if not (step.contract_id and step.applied):
        return False
    escrow = trustless_work().escrow(step.contract_id)
    return escrow is not None and step.applied(escrow)


def _confirm(ctx: RequestContext, order_id: str, step: Step, result: dict[str, Any]) -> dict[str, Any]:
    with transaction(ctx) as uow:
        store.confirm(uow.conn, order_id, step.key, step.role, result)
    return result


def _public_result(result: dict[str, Any]) -> dict[str, Any]:
    return {k: result[k] for k in ("contractId",) if k in result}


def _is_requested_call(tx: Any, step: Step) -> bool:
    """Only contract calls, from the signer's own account, on the step's contract (any contract: deploy)."""
    from stellar_sdk import Address, InvokeHostFunction

    if tx.source.account_id != step.signer.public_key or not tx.operations:
        return False
    for op in tx.operations:
        if not isinstance(op, InvokeHostFunction):
            return False
        if op.source is not None and op.source.account_id != step.signer.public_key:
            return False
        invoke = op.host_function.invoke_contract
        if step.contract_id is not None and (
                invoke is None or Address.from_xdr_sc_address(invoke.contract_address).address != step.contract_id):
            return False
    return True


def _sign(unsigned_xdr: str, step: Step) -> tuple[str, str]:
    """Sign only what we asked for: a contract call from the signer's own account (never a payment a
    compromised provider might slip in), on the configured network."""
    from stellar_sdk import Keypair, TransactionEnvelope

    passphrase = settings().stellar.passphrase
    try:
        envelope = TransactionEnvelope.from_xdr(unsigned_xdr, passphrase)
    except Exception as exc:
        raise ProviderError("Trustless Work returned a transaction we cannot read",
                            code="TRUSTLESS_WORK_ERROR") from exc
    if not _is_requested_call(envelope.transaction, step):
        raise ProviderError("Trustless Work returned a transaction that is not the requested contract call",
                            code="TRUSTLESS_WORK_UNEXPECTED_TRANSACTION", details={"step": step.key})
    envelope.sign(Keypair.from_secret(step.signer.secret))
    return envelope.to_xdr(), envelope.hash_hex()
