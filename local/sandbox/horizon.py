"""A Horizon-compatible HTTP API over the simulated chain, enough for stellar-sdk unchanged: accounts and
sequence numbers, the latest ledger (base fee), fee stats, transaction submission that verifies signatures
and sequence numbers, trustlines and payments (XLM and issued assets), payment history with cursors,
and friendbot."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from local.sandbox.chain import BASE_FEE, BASE_RESERVE, STROOPS, Chain, OperationFailed, from_stroops

FRIENDBOT_XLM = 10_000 * STROOPS
MAX_LIMIT = 200


def problem(status: int, title: str, detail: str, extras: dict[str, Any] | None = None) -> JSONResponse:
    """Horizon's problem+json error shape (stellar-sdk maps it onto its exceptions)."""
    return JSONResponse(_problem_body(status, title, detail, extras), status_code=status,
                        media_type="application/problem+json")


def _asset_json(code: str, issuer: str) -> dict[str, str]:
    if code == "native":
        return {"asset_type": "native"}
    return {"asset_type": "credit_alphanum4" if len(code) <= 4 else "credit_alphanum12", "asset_code": code,
            "asset_issuer": issuer}


def create_horizon(
    chain: Chain, *, passphrase: str, friendbot_secret: str, resolve_invoke: Resolver | None = None,
    before_submit: Callable[[], Any] | None = None,
) -> Starlette:
    from stellar_sdk import Keypair

    friendbot = Keypair.from_secret(friendbot_secret)
    chain.create_root(friendbot.public_key, 10**11 * STROOPS)  # within int64, like the real XLM supply

    async def root(request: Request) -> JSONResponse:
        return JSONResponse({"network_passphrase": passphrase, "history_latest_ledger": chain.ledger_sequence(),
                             "core_latest_ledger": chain.ledger_sequence(), "horizon_version": "sandbox"})

    async def account(request: Request) -> JSONResponse:
        found = chain.account(request.path_params["account_id"])
        if found is None:
            return problem(404, "Resource Missing", "The resource at the url requested was not found.")
        balances = [
            {"balance": from_stroops(b["amount"]), **_asset_json(b["code"], b["issuer"]),
             **({} if b["code"] == "native" else {"limit": "922337203685.4775807"})}
            for b in found["balances"]
        ]
        account_id = found["id"]
        return JSONResponse({
            "id": account_id, "account_id": account_id, "sequence": str(found["sequence"]),
            "paging_token": account_id, "subentry_count": len(balances) - 1, "last_modified_ledger":
            chain.ledger_sequence(), "thresholds": {"low_threshold": 0, "med_threshold": 0, "high_threshold": 0},
            "flags": {"auth_required": False, "auth_revocable": False, "auth_immutable": False},
            "balances": balances, "signers": [{"key": account_id, "weight": 1, "type": "ed25519_public_key"}],
            "data": {},
        })

    async def ledgers(request: Request) -> JSONResponse:
        seq = chain.ledger_sequence()
        record = {"id": str(seq), "sequence": seq, "base_fee_in_stroops": BASE_FEE,
                  "base_reserve_in_stroops": BASE_RESERVE, "max_tx_set_size": 1000}
        return JSONResponse({"_links": {}, "_embedded": {"records": [record]}})

    async def fee_stats(request: Request) -> JSONResponse:
        fees = {k: str(BASE_FEE) for k in ("max", "min", "mode", "p10", "p20", "p30", "p40", "p50", "p60",
                                            "p70", "p80", "p90", "p95", "p99")}
        return JSONResponse({"last_ledger": str(chain.ledger_sequence()), "last_ledger_base_fee": str(BASE_FEE),
                             "ledger_capacity_usage": "0.01", "fee_charged": fees, "max_fee": fees})

    async def submit(request: Request) -> JSONResponse:
        form = parse_qs((await request.body()).decode("latin-1"))
        xdr = (form.get("tx") or [""])[0]
        if before_submit is not None:  # the fault injector may answer instead
            injected = await before_submit()
            if injected is not None:
                return injected
        return submit_xdr(chain, xdr, passphrase, resolve_invoke)

    async def friendbot_fund(request: Request) -> JSONResponse:
        address = request.query_params.get("addr", "")
        status, body = sign_and_apply(chain, friendbot, passphrase,
                                      lambda b: b.append_create_account_op(address, "10000"))
        return JSONResponse(body, status_code=status)

    async def transaction(request: Request) -> JSONResponse:
        found = chain.transaction(request.path_params["tx_hash"])
        if found is None:
            return problem(404, "Resource Missing", "The resource at the url requested was not found.")
        return JSONResponse(_tx_json(found))

    async def payments(request: Request) -> JSONResponse:
        return _payments_page(chain, request, request.path_params.get("account_id"))

    return Starlette(routes=[
        Route("/", root), Route("/accounts/{account_id}", account), Route("/ledgers", ledgers),
        Route("/fee_stats", fee_stats), Route("/transactions", submit, methods=["POST"]),
        Route("/transactions/{tx_hash}", transaction), Route("/friendbot", friendbot_fund),
        Route("/payments", payments), Route("/accounts/{account_id}/payments", payments),
    ])


def _tx_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["hash"], "hash": row["hash"], "ledger": row["ledger"], "successful": bool(row["successful"]),
            "source_account": row["source"], "fee_charged": str(row["fee"]), "envelope_xdr": row["envelope_xdr"],
            "created_at": row["created_at"], "paging_token": row["hash"]}


Resolver = Callable[[str, Any], Callable[[], list[Any]]]


def sign_and_apply(chain: Chain, keypair: Any, passphrase: str, build: Callable[[Any], Any]
                   ) -> tuple[int, dict[str, Any]]:
    """A transaction from one of the sandbox's own accounts (friendbot, the USDC issuer), built, signed and
    applied like any other. Operations that cannot be built (a bad address or amount) answer 400."""
    from stellar_sdk import Account, TransactionBuilder

    source = chain.account(keypair.public_key)
    assert source is not None
    try:
        tx = build(TransactionBuilder(Account(keypair.public_key, source["sequence"]), passphrase, BASE_FEE)
                   ).set_timeout(30).build()
    except Exception:
        return 400, _problem_body(400, "Bad Request", "The request you sent was invalid in some way.")
    tx.sign(keypair)
    return process_envelope(chain, tx.to_xdr(), passphrase)


def submit_xdr(chain: Chain, xdr: str, passphrase: str, resolve_invoke: Resolver | None = None) -> JSONResponse:
    status, body = process_envelope(chain, xdr, passphrase, resolve_invoke)
    if status == 200:
        return JSONResponse(body)
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def process_envelope(
    chain: Chain, xdr: str, passphrase: str, resolve_invoke: Resolver | None = None
) -> tuple[int, dict[str, Any]]:
    """Verify (shape, source, sequence, fee, signatures) and apply one transaction envelope.

    Contract calls (InvokeHostFunction) run only when `resolve_invoke(tx_hash, op)` knows them: the
    Trustless Work sandbox answers for the escrow contracts it built."""
    from stellar_sdk import Keypair, TransactionEnvelope
    from stellar_sdk.exceptions import BadSignatureError

    def failed(tx_code: str, ops: list[str] | None = None) -> tuple[int, dict[str, Any]]:
        codes: dict[str, Any] = {"transaction": tx_code}
        if ops is not None:
            codes["operations"] = ops
        return 400, _problem_body(400, "Transaction Failed",
                                  "The transaction failed when submitted to the stellar network.",
                                  {"envelope_xdr": xdr, "result_codes": codes})

    try:
        envelope = TransactionEnvelope.from_xdr(xdr, passphrase)
        tx = envelope.transaction
        tx_hash = envelope.hash_hex()
        operations = [_normalise(op, tx.source.account_id, tx_hash, resolve_invoke) for op in tx.operations]
    except Exception:
        return 400, _problem_body(400, "Transaction Malformed", "The transaction could not be decoded.")
    existing = chain.transaction(tx_hash)
    if existing is not None:  # the same signed envelope again: Horizon answers with the recorded result
        return (200, _tx_json(existing)) if existing["successful"] else failed("tx_failed")
    bounds = tx.preconditions.time_bounds if tx.preconditions else None
    if bounds is not None and bounds.max_time and time.time() > bounds.max_time:
        return failed("tx_too_late")
    source = chain.account(tx.source.account_id)
    if source is None:
        return failed("tx_no_source_account")
    if tx.sequence != source["sequence"] + 1:
        return failed("tx_bad_seq")
    if tx.fee < BASE_FEE * len(operations) or not operations:
        return failed("tx_insufficient_fee" if operations else "tx_missing_operation")
    signers = {tx.source.account_id} | {op[1].source for op in operations}
    for signer in signers:
        key = Keypair.from_public_key(signer)
        ok = False
        for sig in envelope.signatures:
            if sig.signature_hint != key.signature_hint():
                continue
            try:
                key.verify(envelope.hash(), sig.signature)
                ok = True
            except BadSignatureError:
                continue
        if not ok:
            return failed("tx_bad_auth")
    try:
        successful, codes = chain.apply(
            tx_hash=tx_hash, source=tx.source.account_id, sequence=tx.sequence, fee=tx.fee,
            envelope_xdr=xdr, operations=operations,
        )
    except OperationFailed:
        return failed("tx_insufficient_balance")
    if not successful:
        return failed("tx_failed", codes)
    row = chain.transaction(tx_hash)
    assert row is not None
    return 200, _tx_json(row)


def _problem_body(status: int, title: str, detail: str, extras: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": f"https://stellar.org/horizon-errors/{title.lower().replace(' ', '_')}",
                            "title": title, "status": status, "detail": detail}
    if extras:
        body["extras"] = extras
    return body


def _normalise(op: Any, tx_source: str, tx_hash: str, resolve_invoke: Resolver | None) -> tuple[str, Any]:
    from stellar_sdk import ChangeTrust, CreateAccount, InvokeHostFunction, Payment

    source = op.source.account_id if op.source is not None else tx_source
    if isinstance(op, CreateAccount):
        return "create_account", SimpleNamespace(source=source, destination=op.destination,
                                                 starting_balance=op.starting_balance)
    if isinstance(op, Payment):
        asset = ("native", "") if op.asset.is_native() else (op.asset.code, op.asset.issuer)
        return "payment", SimpleNamespace(source=source, destination=op.destination.account_id, asset=asset,
                                          amount=op.amount)
    if isinstance(op, ChangeTrust):
        return "change_trust", SimpleNamespace(source=source, code=op.asset.code, issuer=op.asset.issuer,
                                               remove=op.limit is not None and Decimal(op.limit) == 0)
    if isinstance(op, InvokeHostFunction) and resolve_invoke is not None:
        return "invoke", SimpleNamespace(source=source, run=resolve_invoke(tx_hash, op))
    raise ValueError(f"operation {type(op).__name__} is not supported by the sandbox")


def _payments_page(chain: Chain, request: Request, account: str | None) -> JSONResponse:
    if account and chain.account(account) is None:
        return problem(404, "Resource Missing", "The resource at the url requested was not found.")
    params = request.query_params
    descending = params.get("order", "asc") == "desc"
    try:
        limit = min(max(int(params.get("limit", "10")), 1), MAX_LIMIT)
        cursor = params.get("cursor")
        position = chain.last_operation_id() if cursor == "now" else (int(cursor) if cursor else None)
    except ValueError:
        return problem(400, "Bad Request", "The request you sent was invalid in some way.")
    rows = chain.payments(account=account, after=None if descending else position,
                          before=position if descending else None, limit=limit, descending=descending)
    records = []
    for r in rows:
        record: dict[str, Any] = {
            "id": str(r["id"]), "paging_token": str(r["id"]), "transaction_successful": bool(r["successful"]),
            "source_account": r["source"], "type": r["type"],
            "type_i": {"create_account": 0, "payment": 1}.get(r["type"], 24),
            "created_at": r["created_at"], "transaction_hash": r["tx_hash"],
        }
        if r["type"] == "create_account":
            record |= {"account": r["receiver"], "funder": r["sender"], "starting_balance": from_stroops(r["amount"])}
        else:
            record |= {"from": r["sender"], "to": r["receiver"], "amount": from_stroops(r["amount"]),
                       **_asset_json(r["code"], r["issuer"])}
        records.append(record)
    next_cursor = records[-1]["paging_token"] if records else (cursor or "")
    base = str(request.url.remove_query_params(["cursor"]))
    link = f"{base}{'&' if '?' in base else '?'}{urlencode({'cursor': next_cursor})}"
    return JSONResponse({"_links": {"next": {"href": link}, "self": {"href": str(request.url)}},
                         "_embedded": {"records": records}})
