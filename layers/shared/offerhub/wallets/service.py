"""Wallet use cases: create (sealed secret), activate on chain, read, sign.

A user's wallet is created with the user (POST /users) and activated on chain by a queue worker afterwards
(wallets/activation.py; the activation relay queues it from the event log): sign-up never waits for the chain,
nor for the queue. Operations that sign with a user's wallet get it
through `user_signer`, which answers 409 WALLET_NOT_ACTIVE (Retry-After) while the activation is pending. The
secret is opened only to sign (wallets/sealing.py).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from offerhub import modes
from offerhub.adapters.postgres.engine import get_engine
from offerhub.adapters.postgres.unit_of_work import UnitOfWork, read_only, transaction
from offerhub.audit.service import record
from offerhub.config import settings
from offerhub.core.clock import iso
from offerhub.core.context import RequestContext
from offerhub.core.errors import NotFound, OfferHubError
from offerhub.core.ids import looks_like
from offerhub.deposits import store as deposit_store
from offerhub.events import catalogue
from offerhub.observability import logger
from offerhub.stellar.horizon import USDC, horizon
from offerhub.users import store as user_store
from offerhub.users.provisioning import AccountProvisioner
from offerhub.wallets import activation, store
from offerhub.wallets.sealing import Signer, new_wallet, open_signer

__all__ = ["Signer"]  # escrow/steps and the rails name the signer type from here

MONITOR_CURSOR = "stellar-payments"
_cursor_set_in: set[str] = set()  # databases whose monitor cursor exists (never removed): asked once per container


def _ensure_monitor_cursor(ctx: RequestContext) -> None:
    """The deposit monitor scans from a point before the first wallet existed: set it once, before any
    wallet is created, so no deposit to any wallet can fall before it."""
    database = str(get_engine().url)
    if database in _cursor_set_in:
        return
    with read_only() as conn:
        exists = deposit_store.cursor_exists(conn, MONITOR_CURSOR)
    if not exists:
        cursor = horizon().latest_cursor()
        with transaction(ctx) as uow:
            deposit_store.init_cursor(uow.conn, MONITOR_CURSOR, cursor)
    _cursor_set_in.add(database)


def provision_user_wallet(ctx: RequestContext, user_id: str) -> dict[str, Any]:
    """The user's wallet, created if missing (sealed, CREATED); a wallet not ACTIVE yet gets its activation
    queued (again: the activator treats a duplicate as a no-op). Nothing here touches the chain but, once per
    database, the monitor cursor's read. Safe to call again after any failure."""
    with read_only() as conn:
        row = store.of_user(conn, user_id)
    if row is None:
        new = stage_user_wallet(ctx, user_id)
        with transaction(ctx) as uow:
            row = insert_user_wallet(uow, new) or store.of_user(uow.conn, user_id)  # None: a concurrent one won
    assert row is not None
    if row["status"] != store.ACTIVE:
        activation.request(ctx, row)
    return row


def stage_user_wallet(ctx: RequestContext, user_id: str) -> dict[str, Any]:
    """A new wallet row for the user, its secret sealed: what `insert_user_wallet` writes."""
    _ensure_monitor_cursor(ctx)
    return new_wallet("USER", user_id)[0]


def insert_user_wallet(uow: UnitOfWork, new: dict[str, Any]) -> dict[str, Any] | None:
    """The staged wallet written with its event and audit row; None when the user has a wallet already."""
    row = store.insert_if_new(uow.conn, new)
    if row is not None:
        public = {"walletId": row["id"], "userId": row["user_id"], "publicKey": row["public_key"]}
        uow.emit(catalogue.WALLET_CREATED, "Wallet", row["id"], public)
        record(uow, catalogue.WALLET_CREATED, "Wallet", row["id"], after=public)
    return row


def platform_signer(ctx: RequestContext) -> Signer:
    """The platform wallet (dispute resolver, fee receiver), created and activated once, inline: it is needed by
    the first escrow, never by a sign-up."""
    with read_only() as conn:
        row = store.platform(conn)
    if row is None:
        _ensure_monitor_cursor(ctx)
        with transaction(ctx) as uow:
            row = store.insert_if_new(uow.conn, new_wallet("PLATFORM", None)[0]) or store.platform(uow.conn)
            assert row is not None
            record(uow, catalogue.WALLET_CREATED, "Wallet", row["id"],
                   after={"walletId": row["id"], "kind": "PLATFORM", "publicKey": row["public_key"]})
    row = activation.activate(ctx, row)
    return open_signer(row)


def active_wallet(ctx: RequestContext, user_id: str) -> dict[str, Any]:
    """The user's ACTIVE wallet row; else 409 WALLET_NOT_ACTIVE with Retry-After, once the wallet exists (created
    now if it was missing) and its activation is queued."""
    with read_only() as conn:
        row = store.of_user(conn, user_id)
    if row is None:
        row = provision_user_wallet(ctx, user_id)
    return activation.require_active(ctx, row)


def user_signer(ctx: RequestContext, user_id: str) -> Signer:
    return open_signer(active_wallet(ctx, user_id))


def active_wallet_usdc(ctx: RequestContext, user_id: str) -> Decimal | None:
    """The USDC in the user's wallet on chain, the wallet being ACTIVE (409 WALLET_NOT_ACTIVE otherwise): what an
    operation that will move the money checks before it commits to anything."""
    return horizon().balances(active_wallet(ctx, user_id)["public_key"])["usdc"]


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
        "ready": row["status"] == store.ACTIVE,  # the address trusts USDC: a deposit can land
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
        "status": row["status"],
        "ready": row["status"] == store.ACTIVE,
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


class CryptoWalletProvisioner(AccountProvisioner):
    """users/provisioning hook: every new user gets a wallet, sealed and CREATED in the user's own transaction, its
    activation queued by the relay once committed; a retried POST /users queues it again while it is not ACTIVE
    (and creates it for a user from before that lacks one). Nothing waits for the chain."""

    def __init__(self, ctx: RequestContext):
        self.ctx = ctx
        self._attached: dict[str, Any] | None = None

    def stage(self, user_id: str) -> dict[str, Any] | None:
        try:
            return stage_user_wallet(self.ctx, user_id)
        except OfferHubError as exc:  # KMS or Horizon down: the user is still created (or found, on a retry)
            logger.warning("wallet not staged; created after the user", extra={"code": exc.code})
            return None

    def attach(self, uow: UnitOfWork, user: dict[str, Any], staged: dict[str, Any] | None) -> None:
        if staged is not None:
            self._attached = insert_user_wallet(uow, staged)

    def provision(self, user: dict[str, Any]) -> bool:
        # A wallet committed with this (new) user has its `wallet.created` in the log: the activation relay queues it
        # (wallets/activation_relay.py), so the request makes no queue call.
        if self._attached is None:  # a retried POST /users (its wallet exists: no KMS call), or staging failed
            provision_user_wallet(self.ctx, user["id"])  # (tried again: 503)
        return False  # the wallet is not part of the user view
