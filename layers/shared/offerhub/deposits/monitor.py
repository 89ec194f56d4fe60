"""The blockchain monitor: one scan of the network's payments after a stored cursor, for every wallet.

Each run pages forward through Horizon's payment stream (not one query per wallet), keeps the payments
of USDC to our user wallets, and credits each payment operation once (by operation id: a transaction
with two payments to the same wallet credits both). Wallets created a moment ago are covered because
the scan is by network position, not by a wallet list loaded at start. A run stops after `max_pages`,
so its time is bounded whatever the backlog; the next run carries on from the cursor.

Amounts are credited in whole cents (Stellar has 7 decimals); sub-cent dust stays in the wallet and is
reported by the balance sync.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from offerhub.adapters.postgres.unit_of_work import transaction
from offerhub.config import settings
from offerhub.core.context import RequestContext
from offerhub.core.money import CENT
from offerhub.deposits import store
from offerhub.ledger import accounts
from offerhub.ledger import service as ledger
from offerhub.stellar.horizon import PAGE_LIMIT, USDC, horizon
from offerhub.wallets import store as wallet_store
from offerhub.wallets.service import MONITOR_CURSOR

STELLAR = accounts.external("stellar")


@dataclass
class MonitorRun:
    pages: int = 0
    scanned: int = 0
    credited: int = 0
    cursor: str | None = None
    skipped: bool = False

    def to_dict(self) -> dict[str, object]:
        return {"pages": self.pages, "scanned": self.scanned, "credited": self.credited, "cursor": self.cursor,
                "skipped": self.skipped}


def scan(ctx: RequestContext, *, max_pages: int = 20, page_limit: int = PAGE_LIMIT) -> MonitorRun:
    run = MonitorRun()
    issuer = settings().stellar.usdc_issuer
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
            if not records:
                run.cursor = cursor
                return run
            deposits = [r for r in records if r.get("type") == "payment" and r.get("transaction_successful", True)
                        and r.get("asset_code") == USDC and r.get("asset_issuer") == issuer]
            wallets = wallet_store.by_public_keys(uow.conn, {r["to"] for r in deposits})
            seen = store.already_credited(uow.conn, [r["id"] for r in deposits if r["to"] in wallets])
            for record in deposits:
                wallet = wallets.get(record["to"])
                if wallet is None or record["id"] in seen:
                    continue
                amount = Decimal(record["amount"]).quantize(CENT, rounding=ROUND_DOWN)
                if amount <= 0:
                    continue  # dust below one cent
                change = ledger.credit(uow, wallet["user_id"], amount, source=STELLAR,
                                       description="Stellar USDC deposit", reference=record["id"])
                store.claim(uow.conn, operation_id=record["id"], tx_hash=record["transaction_hash"],
                            wallet_id=wallet["id"], user_id=wallet["user_id"], amount=amount,
                            ledger_transaction_id=change.transaction_id)
                run.credited += 1
            run.cursor = records[-1]["paging_token"]
            store.save_cursor(uow.conn, MONITOR_CURSOR, run.cursor)
            if len(records) < page_limit:
                return run
    return run
