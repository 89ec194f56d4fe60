"""The blockchain monitor: credits every incoming USDC payment to a user wallet exactly once.

Two ways to page, one way to credit (`MONITOR_SCAN`):

- `network` (default; the sandbox and testnet): one scan of the network's payments after one stored
  cursor, for every wallet at once (one `IN` query per page to find ours). Wallets created a moment ago
  are covered because the scan follows the network, not a wallet list loaded at start.
- `wallets` (for mainnet, where the network carries far more payments than ours): each wallet's own
  payments after that wallet's stored cursor, a batch of wallets per run, least recently scanned first
  (`FOR UPDATE SKIP LOCKED`, so overlapping runs share the work). A new wallet starts at the beginning of
  its own short history; no wallet is ever scanned from the start twice.

Either way a run stops after a fixed number of pages, so its time is bounded whatever the backlog; the
next run carries on from the cursors. A payment is credited by operation id (a transaction with two
payments to one wallet credits both), in the same transaction as its ledger lines and its event, so the
two modes can even be switched without crediting anything twice. Amounts are credited in whole cents
(Stellar has 7 decimals); the sub-cent rest is carried per wallet and credited when it makes a cent, so a
user's ledger balance is always their wallet's USDC rounded down to the cent. A payment from the platform
wallet is not a deposit: it is the top-up of a whole refund, credited by that refund's settlement.

Each run reports its lag (`MonitorLagSeconds`): 0 when it caught up with the chain, else the age of the last
payment it read (the backlog left for the next run). A run that learnt nothing (skipped, failed) reports none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from offerhub.adapters.postgres.unit_of_work import UnitOfWork, transaction
from offerhub.audit import service as audit
from offerhub.config import settings
from offerhub.core.context import RequestContext
from offerhub.core.money import format_amount
from offerhub.deposits import store
from offerhub.ledger import accounts
from offerhub.ledger import service as ledger
from offerhub.observability import DEPOSITS_CREDITED, MONITOR_LAG_SECONDS, count
from offerhub.stellar.amounts import cents_and_dust, to_stroops
from offerhub.stellar.horizon import PAGE_LIMIT, USDC, horizon
from offerhub.wallets import store as wallet_store
from offerhub.wallets.service import MONITOR_CURSOR

STELLAR = accounts.external("stellar")
DEPOSIT_CREDITED = "deposit.credited"  # the audit action of a credited deposit
PLATFORM_FUNDED = "platform.funded"  # ... and of USDC sent to the platform wallet
WALLET_BATCH = 50
PAGES_PER_WALLET = 2


@dataclass
class MonitorRun:
    mode: str = "network"
    pages: int = 0
    scanned: int = 0
    credited: int = 0
    wallets: int = 0
    cursor: str | None = None
    skipped: bool = False
    lag_seconds: float | None = None  # None: the run learnt nothing about the chain (skipped)

    def to_dict(self) -> dict[str, object]:
        return {"mode": self.mode, "pages": self.pages, "scanned": self.scanned, "credited": self.credited,
                "wallets": self.wallets, "cursor": self.cursor, "skipped": self.skipped,
                "lagSeconds": self.lag_seconds}

    def behind(self, records: list[dict[str, Any]], caught_up: bool) -> None:
        """Note where a page left the scan: caught up (0), or the age of its last payment (the largest wins)."""
        lag = 0.0 if caught_up or not records else _age_seconds(records[-1].get("created_at"))
        self.lag_seconds = lag if self.lag_seconds is None else max(self.lag_seconds, lag)


def scan(ctx: RequestContext, *, max_pages: int = 20, page_limit: int = PAGE_LIMIT, mode: str | None = None
         ) -> MonitorRun:
    if (mode or settings().monitor_scan) == "wallets":
        run = scan_wallets(ctx, page_limit=page_limit)
    else:
        run = scan_network(ctx, max_pages=max_pages, page_limit=page_limit)
    if run.lag_seconds is not None:
        count(MONITOR_LAG_SECONDS, run.lag_seconds)
    return run


def scan_network(ctx: RequestContext, *, max_pages: int = 20, page_limit: int = PAGE_LIMIT) -> MonitorRun:
    run = MonitorRun(mode="network")
    rail = horizon()
    while run.pages < max_pages:
        with transaction(ctx) as uow:
            cursor = store.lock_cursor(uow.conn, MONITOR_CURSOR)
            if cursor is None:  # no wallet exists yet, or another run holds the cursor
                run.skipped = run.pages == 0
                return run
            records = rail.payments_after(cursor, page_limit)
            run.pages += 1
            run.scanned += len(records)
            run.behind(records, caught_up=len(records) < page_limit)
            if not records:
                run.cursor = cursor
                return run
            deposits = _usdc_payments(records)
            wallets = wallet_store.by_public_keys(uow.conn, {r["to"] for r in deposits})
            run.credited += _credit(uow, [(wallets[r["to"]], r) for r in deposits if r["to"] in wallets])
            run.cursor = records[-1]["paging_token"]
            store.save_cursor(uow.conn, MONITOR_CURSOR, run.cursor)
            if len(records) < page_limit:
                return run
    return run


def scan_wallets(ctx: RequestContext, *, batch: int = WALLET_BATCH, page_limit: int = PAGE_LIMIT) -> MonitorRun:
    run = MonitorRun(mode="wallets")
    rail = horizon()
    with transaction(ctx) as uow:
        claimed = wallet_store.claim_for_scan(uow.conn, batch)
    for wallet in claimed:  # one transaction per wallet: a failure costs that wallet's page, not the batch
        with transaction(ctx) as uow:
            cursor = wallet_store.lock_scan_cursor(uow.conn, wallet["id"])
            for _ in range(PAGES_PER_WALLET):
                records = rail.account_payments_after(wallet["public_key"], cursor, page_limit)
                run.pages += 1
                run.scanned += len(records)
                run.behind(records, caught_up=len(records) < page_limit)
                if not records:
                    break
                run.credited += _credit(uow, [(wallet, r) for r in _usdc_payments(records)
                                              if r["to"] == wallet["public_key"]])
                cursor = records[-1]["paging_token"]
                if len(records) < page_limit:
                    break
            wallet_store.save_scan_cursor(uow.conn, wallet["id"], cursor)
        run.wallets += 1
    return run


def _age_seconds(created_at: Any) -> float:
    try:
        then = datetime.fromisoformat(str(created_at).replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return max(0.0, (datetime.now(UTC) - then).total_seconds())


def _usdc_payments(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    issuer = settings().stellar.usdc_issuer
    return [r for r in records if r.get("type") == "payment" and r.get("transaction_successful", True)
            and r.get("asset_code") == USDC and r.get("asset_issuer") == issuer]


def _credit(uow: UnitOfWork, deposits: list[tuple[dict[str, Any], dict[str, Any]]]) -> int:
    """Credit each (wallet, payment record) not credited before; returns how many were."""
    seen = store.already_credited(uow.conn, [record["id"] for _, record in deposits])
    platform = wallet_store.platform(uow.conn) if deposits else None
    credited = 0
    for wallet, record in deposits:
        if record["id"] in seen or (platform is not None and record.get("from") == platform["public_key"]):
            continue
        amount, dust = cents_and_dust(to_stroops(Decimal(record["amount"])))
        # The sub-cent rest joins the wallet's carried dust; once that makes a whole cent, it is credited too.
        amount += wallet_store.carry_dust(uow.conn, wallet["user_id"], dust)
        transaction_id = None
        if amount > 0:
            transaction_id = (_credit_user if wallet["user_id"] else _fund_platform)(uow, wallet, record, amount)
            credited += 1
        store.claim(uow.conn, operation_id=record["id"], tx_hash=record["transaction_hash"], wallet_id=wallet["id"],
                    user_id=wallet["user_id"], amount=amount, ledger_transaction_id=transaction_id)
        seen.add(record["id"])
    return credited


def _credit_user(uow: UnitOfWork, wallet: dict[str, Any], record: dict[str, Any], amount: Decimal) -> str:
    change = ledger.credit(uow, wallet["user_id"], amount, source=STELLAR, description="Stellar USDC deposit",
                           reference=record["id"])
    uow.count(DEPOSITS_CREDITED)
    audit.record(uow, DEPOSIT_CREDITED, "Balance", wallet["user_id"],
                 before={"available": format_amount(change.before.available)},
                 after={"available": format_amount(change.after.available), "amount": format_amount(amount),
                        "operationId": record["id"], "txHash": record["transaction_hash"],
                        "walletId": wallet["id"], "ledgerTransactionId": change.transaction_id})
    return change.transaction_id


def _fund_platform(uow: UnitOfWork, wallet: dict[str, Any], record: dict[str, Any], amount: Decimal) -> str:
    """USDC an operator sends to the platform wallet (a plain payment; contract payouts of fees are contract
    calls, not payments, and are booked by their settlement) funds `platform:fees`: the float that pays
    Trustless Work's fee on whole refunds (docs/crypto.md)."""
    transaction_id = ledger.post(uow, "PLATFORM_FUNDED", [(STELLAR, -amount), (accounts.platform_fees(), amount)],
                                 description="USDC sent to the platform wallet", reference=record["id"])
    audit.record(uow, PLATFORM_FUNDED, "Wallet", wallet["id"],
                 after={"amount": format_amount(amount), "operationId": record["id"],
                        "txHash": record["transaction_hash"], "from": record.get("from"),
                        "ledgerTransactionId": transaction_id})
    return transaction_id
