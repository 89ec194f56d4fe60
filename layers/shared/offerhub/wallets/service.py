"""Wallet use cases: create (sealed secret), activate on chain, read, sign.

The secret is generated here, sealed at once, and opened only to sign a transaction; it never reaches
a log, an audit row, an event or a response.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from offerhub import modes
from offerhub.adapters.aws.kms import KmsEnvelope
from offerhub.adapters.postgres.unit_of_work import read_only, transaction
from offerhub.audit.service import record
from offerhub.config import settings
from offerhub.core.clock import iso
from offerhub.core.context import RequestContext
from offerhub.core.errors import NotFound, ProviderError, ProviderTimeout, ServiceUnavailable
from offerhub.core.ids import looks_like, new_id
from offerhub.deposits import store as deposit_store
from offerhub.events import catalogue
from offerhub.observability import logger
from offerhub.stellar.horizon import USDC, horizon
from offerhub.users import store as user_store
from offerhub.wallets import store

MONITOR_CURSOR = "stellar-payments"


def _sealer() -> KmsEnvelope:
    key_id = settings().wallet_kms_key_id
    if not key_id:
        raise ServiceUnavailable("wallet encryption is not configured (WALLET_KMS_KEY_ID)",
                                 code="WALLET_ENCRYPTION_UNAVAILABLE")
    return KmsEnvelope(key_id)


def _context(wallet_id: str, owner: str) -> dict[str, str]:
    return {"walletId": wallet_id, "owner": owner}


@dataclass(frozen=True)
class Signer:
    """A wallet able to sign: its public key, and its secret for the time of one operation."""

    wallet_id: str
    public_key: str
    secret: str = ""

    def __repr__(self) -> str:  # the secret must never reach a log line
        return f"Signer({self.wallet_id}, {self.public_key})"


def _new_wallet(kind: str, user_id: str | None) -> tuple[dict[str, Any], str]:
    """A wallet row with its secret sealed, and the secret itself (kept only to activate the wallet)."""
    from stellar_sdk import Keypair

    keypair = Keypair.random()
    wallet_id = new_id("wal")
    wrapped, sealed = _sealer().seal(keypair.secret.encode(), _context(wallet_id, user_id or "platform"))
    return {"id": wallet_id, "user_id": user_id, "kind": kind, "public_key": keypair.public_key,
            "sealed_secret": sealed, "sealed_key": wrapped}, keypair.secret


def _open(row: dict[str, Any]) -> Signer:
    secret = _sealer().open(bytes(row["sealed_key"]), bytes(row["sealed_secret"]),
                            _context(row["id"], row["user_id"] or "platform"))
    return Signer(row["id"], row["public_key"], secret.decode())


def _activate(ctx: RequestContext, row: dict[str, Any], secret: str | None = None) -> dict[str, Any]:
    if row["status"] == "READY":
        return row
    horizon().activate(secret or _open(row).secret)
    with transaction(ctx) as uow:
        store.mark_ready(uow.conn, row["id"])
        data = {"walletId": row["id"], "userId": row["user_id"], "publicKey": row["public_key"]}
        uow.emit(catalogue.WALLET_READY, "Wallet", row["id"], data)
        record(uow, catalogue.WALLET_READY, "Wallet", row["id"], before={"status": "CREATED"},
               after={**data, "status": "READY"})
    return {**row, "status": "READY"}


def _ensure_monitor_cursor(ctx: RequestContext) -> None:
    """The deposit monitor scans from a point before the first wallet existed: set it once, before any
    wallet is created, so no deposit to any wallet can fall before it."""
    with read_only() as conn:
        if deposit_store.cursor_exists(conn, MONITOR_CURSOR):
            return
    cursor = horizon().latest_cursor()
    with transaction(ctx) as uow:
        deposit_store.init_cursor(uow.conn, MONITOR_CURSOR, cursor)


def provision_user_wallet(ctx: RequestContext, user_id: str) -> dict[str, Any]:
    """Create the user's wallet if missing, then activate it. Safe to call again after any failure."""
    with read_only() as conn:
        row = store.of_user(conn, user_id)
    secret = None
    if row is None:
        _ensure_monitor_cursor(ctx)
        new, secret = _new_wallet("USER", user_id)
        with transaction(ctx) as uow:
            row = store.insert_if_new(uow.conn, new)
            if row is None:  # a concurrent request created it first: use theirs
                row, secret = store.of_user(uow.conn, user_id), None
            else:
                public = {"walletId": row["id"], "userId": user_id, "publicKey": row["public_key"]}
                uow.emit(catalogue.WALLET_CREATED, "Wallet", row["id"], public)
                record(uow, catalogue.WALLET_CREATED, "Wallet", row["id"], after=public)
    assert row is not None
    return _activate(ctx, row, secret)


def platform_signer(ctx: RequestContext) -> Signer:
    """The platform wallet (dispute resolver, fee receiver), created and activated once."""
    with read_only() as conn:
        row = store.platform(conn)
    if row is None:
        _ensure_monitor_cursor(ctx)
        with transaction(ctx) as uow:
            row = store.insert_if_new(uow.conn, _new_wallet("PLATFORM", None)[0]) or store.platform(uow.conn)
            assert row is not None
            record(uow, catalogue.WALLET_CREATED, "Wallet", row["id"],
                   after={"walletId": row["id"], "kind": "PLATFORM", "publicKey": row["public_key"]})
    row = _activate(ctx, row)
    return _open(row)


def user_signer(ctx: RequestContext, user_id: str) -> Signer:
    with read_only() as conn:
        row = store.of_user(conn, user_id)
    if row is None or row["status"] != "READY":
        row = provision_user_wallet(ctx, user_id)
    return _open(row)


def wallet_row(user_id: str) -> dict[str, Any]:
    with read_only() as conn:
        row = store.of_user(conn, user_id) if looks_like(user_id, "usr") else None
        known = row is not None or (looks_like(user_id, "usr") and user_store.exists(conn, user_id))
    if not known:
        raise NotFound(f"user {user_id} not found", code="USER_NOT_FOUND")
    if row is None:
        raise NotFound(f"user {user_id} has no wallet", code="WALLET_NOT_FOUND")
    return row


def get_wallet(user_id: str) -> dict[str, Any]:
    row = wallet_row(user_id)
    balances = horizon().balances(row["public_key"])
    return {
        "id": row["id"],
        "userId": user_id,
        "publicKey": row["public_key"],
        "type": "INVISIBLE",
        "provider": "STELLAR",
        "network": settings().stellar.network,
        "status": row["status"],
        "balance": {k: (None if v is None else f"{v:.7f}") for k, v in balances.items()},
        "createdAt": iso(row["created_at"]),
    }


def deposit_instructions(user_id: str) -> dict[str, Any]:
    row = wallet_row(user_id)
    net = settings().stellar
    return {
        "provider": "crypto",
        "method": "stellar_address",
        "address": row["public_key"],
        "asset": {"code": USDC, "issuer": net.usdc_issuer},
        "network": net.network,
        "ready": row["status"] == "READY",
        "instructions": f"Send {USDC} (issuer {net.usdc_issuer}) on Stellar {net.network} to this address. "
                        "Amounts are credited in whole cents once the payment is seen on chain.",
    }


def wallet_transactions(user_id: str, limit: int) -> list[dict[str, Any]]:
    """Upstream's GET /users/{userId}/wallet/transactions: the wallet's payments as Horizon has them, newest
    first (the chain's record, not the ledger's: GET /balance/{userId}/entries is that). Amounts keep the chain's
    7 decimals; `direction` says whether the money came in or went out."""
    modes.require(modes.CRYPTO, "wallet transactions")
    row = wallet_row(user_id)
    records = horizon().recent_account_payments(row["public_key"], limit)
    return [_payment_view(r, row["public_key"]) for r in records]


def _payment_view(record: dict[str, Any], own: str) -> dict[str, Any]:
    kind = record.get("type")
    if kind == "create_account":
        sender, receiver, amount, asset = (record.get("funder"), record.get("account"),
                                           record.get("starting_balance"), "XLM")
    else:
        change = next((c for c in record.get("asset_balance_changes") or []  # a Soroban transfer (escrow)
                       if own in (c.get("from"), c.get("to"))), record)
        sender, receiver, amount = change.get("from"), change.get("to"), change.get("amount")
        asset = ("XLM" if change.get("asset_type") == "native" else
                 f"{change['asset_code']}:{change['asset_issuer']}" if change.get("asset_code") else None)
    return {
        "id": record.get("id"), "type": kind, "from": sender, "to": receiver, "amount": amount, "asset": asset,
        "direction": "in" if receiver == own else "out" if sender == own else None,
        "createdAt": record.get("created_at"), "hash": record.get("transaction_hash"),
        "successful": record.get("transaction_successful"),
    }


def chain_usdc(user_id: str) -> Decimal | None:
    return horizon().balances(wallet_row(user_id)["public_key"])["usdc"]


class CryptoWalletProvisioner:
    """users/provisioning hook: every new user gets a wallet. A rail outage does not fail the user
    creation; the wallet stays CREATED and the next call (a retried POST /users, or first use) activates it."""

    def __init__(self, ctx: RequestContext):
        self.ctx = ctx

    def provision(self, user: dict[str, Any]) -> bool:
        try:
            provision_user_wallet(self.ctx, user["id"])
        except (ProviderError, ProviderTimeout) as exc:
            logger.warning("wallet activation deferred", extra={"userId": user["id"], "code": exc.code})
        return False  # the wallet is not part of the user view
