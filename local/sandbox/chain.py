"""A small simulated Stellar ledger: accounts with sequence numbers, XLM and trustlines, and the history
of payment operations. Amounts are integer stroops (7 decimals), never floats. State lives in SQLite, so
it survives a restart of the local stack.

Transactions are applied atomically: every operation succeeds or none does (the sequence number and the
fee are still consumed by a failed transaction, as on Stellar).
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

STROOPS = 10_000_000
BASE_FEE = 100
BASE_RESERVE = 5_000_000
NATIVE = ("native", "")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (id TEXT PRIMARY KEY, sequence INTEGER NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS balances (account TEXT NOT NULL, code TEXT NOT NULL, issuer TEXT NOT NULL,
    amount INTEGER NOT NULL, PRIMARY KEY (account, code, issuer));
CREATE TABLE IF NOT EXISTS ledger (id INTEGER PRIMARY KEY CHECK (id = 1), sequence INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS transactions (hash TEXT PRIMARY KEY, ledger INTEGER NOT NULL, source TEXT NOT NULL,
    envelope_xdr TEXT NOT NULL, successful INTEGER NOT NULL, fee INTEGER NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS operations (id INTEGER PRIMARY KEY, tx_hash TEXT NOT NULL, type TEXT NOT NULL,
    source TEXT NOT NULL, sender TEXT NOT NULL, receiver TEXT NOT NULL, code TEXT NOT NULL, issuer TEXT NOT NULL,
    amount INTEGER NOT NULL, created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS operations_sender ON operations (sender, id);
CREATE INDEX IF NOT EXISTS operations_receiver ON operations (receiver, id);
INSERT OR IGNORE INTO ledger (id, sequence) VALUES (1, 1);
"""


class OperationFailed(Exception):
    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def to_stroops(amount: str | Decimal) -> int:
    value = Decimal(str(amount)) * STROOPS
    if value != value.to_integral_value():
        raise OperationFailed("op_malformed")
    return int(value)


def from_stroops(stroops: int) -> str:
    return f"{Decimal(stroops) / STROOPS:.7f}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Payment:
    """One balance-moving operation, as the history endpoints show it."""

    type: str  # "payment" | "create_account"
    source: str
    sender: str
    receiver: str
    asset: tuple[str, str]  # (code, issuer); ("native", "") for XLM
    amount: int


class Chain:
    def __init__(self, path: Path | str):
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.executescript(_SCHEMA)

    # --- reads -------------------------------------------------------------------------------------
    def account(self, account_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM accounts WHERE id = ?", (account_id,)).fetchone()
            if row is None:
                return None
            balances = self._db.execute(
                "SELECT code, issuer, amount FROM balances WHERE account = ? ORDER BY code <> 'native', code",
                (account_id,),
            ).fetchall()
        return {"id": row["id"], "sequence": row["sequence"], "balances": [dict(b) for b in balances]}

    def ledger_sequence(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT sequence FROM ledger").fetchone()[0])

    def transaction(self, tx_hash: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM transactions WHERE hash = ?", (tx_hash,)).fetchone()
        return dict(row) if row else None

    def payments(
        self, *, account: str | None, after: int | None, before: int | None, limit: int, descending: bool
    ) -> list[dict[str, Any]]:
        clauses, params = [], []
        if account:
            clauses.append("(sender = ? OR receiver = ?)")
            params += [account, account]
        if after is not None:
            clauses.append("id > ?")
            params.append(after)
        if before is not None:
            clauses.append("id < ?")
            params.append(before)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        order = "DESC" if descending else "ASC"
        with self._lock:
            rows = self._db.execute(
                f"SELECT o.*, t.successful FROM operations o JOIN transactions t ON t.hash = o.tx_hash {where} "
                f"ORDER BY o.id {order} LIMIT ?",
                [*params, limit],
            ).fetchall()
        return [dict(r) for r in rows]

    def last_operation_id(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT coalesce(max(id), 0) FROM operations").fetchone()[0])

    # --- writes ------------------------------------------------------------------------------------
    def create_root(self, account_id: str, xlm: int) -> None:
        """Genesis: an account that exists without a funder (friendbot, the USDC issuer)."""
        with self._lock:
            if self._db.execute("SELECT 1 FROM accounts WHERE id = ?", (account_id,)).fetchone():
                return
            seq = self.ledger_sequence() << 32
            self._db.execute("INSERT INTO accounts VALUES (?, ?, ?)", (account_id, seq, _now()))
            self._db.execute("INSERT INTO balances VALUES (?, 'native', '', ?)", (account_id, xlm))

    def apply(
        self, *, tx_hash: str, source: str, sequence: int, fee: int, envelope_xdr: str,
        operations: list[tuple[str, Any]],
    ) -> tuple[bool, list[str]]:
        """Apply a verified transaction. Returns (successful, per-operation result codes)."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                ledger = self.ledger_sequence() + 1
                db.execute("UPDATE ledger SET sequence = ?", (ledger,))
                db.execute("UPDATE accounts SET sequence = ? WHERE id = ?", (sequence, source))
                self._move(source, "", NATIVE, fee, allow_missing_receiver=True)  # fee is burned
                db.execute("SAVEPOINT ops")
                codes: list[str] = []
                history: list[Payment] = []
                try:
                    for kind, op in operations:
                        history += self._apply_op(kind, op, ledger)
                        codes.append("op_success")
                    successful = True
                except OperationFailed as failed:
                    codes.append(failed.code)
                    db.execute("ROLLBACK TO SAVEPOINT ops")
                    history, successful = [], False
                db.execute("RELEASE SAVEPOINT ops")
                created = _now()
                db.execute("INSERT INTO transactions VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (tx_hash, ledger, source, envelope_xdr, int(successful), fee, created))
                for index, p in enumerate(history):
                    op_id = (ledger << 32) | (1 << 12) | (index + 1)  # Horizon's TOID: ledger, tx, op
                    db.execute("INSERT INTO operations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                               (op_id, tx_hash, p.type, p.source, p.sender, p.receiver, p.asset[0], p.asset[1],
                                p.amount, created))
                db.execute("COMMIT")
                return successful, codes
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def _apply_op(self, kind: str, op: Any, ledger: int) -> list[Payment]:
        if kind == "create_account":
            if self._db.execute("SELECT 1 FROM accounts WHERE id = ?", (op.destination,)).fetchone():
                raise OperationFailed("op_already_exists")
            amount = to_stroops(op.starting_balance)
            if amount < 2 * BASE_RESERVE:
                raise OperationFailed("op_low_reserve")
            self._db.execute("INSERT INTO accounts VALUES (?, ?, ?)", (op.destination, ledger << 32, _now()))
            self._db.execute("INSERT INTO balances VALUES (?, 'native', '', 0)", (op.destination,))
            self._move(op.source, op.destination, NATIVE, amount)
            return [Payment("create_account", op.source, op.source, op.destination, NATIVE, amount)]
        if kind == "change_trust":
            asset = (op.code, op.issuer)
            exists = self._db.execute("SELECT amount FROM balances WHERE account = ? AND code = ? AND issuer = ?",
                                      (op.source, *asset)).fetchone()
            if op.remove:
                if exists is None or exists["amount"] != 0:
                    raise OperationFailed("op_invalid_limit")
                self._db.execute("DELETE FROM balances WHERE account = ? AND code = ? AND issuer = ?",
                                 (op.source, *asset))
            elif exists is None:
                if self._db.execute("SELECT 1 FROM accounts WHERE id = ?", (op.issuer,)).fetchone() is None:
                    raise OperationFailed("op_no_issuer")
                self._db.execute("INSERT INTO balances VALUES (?, ?, ?, 0)", (op.source, *asset))
            return []
        if kind == "invoke":  # a contract call: the sandbox contract moves funds through self.move
            return list(op.run())
        if kind == "payment":
            amount = to_stroops(op.amount)
            if amount <= 0:
                raise OperationFailed("op_malformed")
            self._move(op.source, op.destination, op.asset, amount)
            return [Payment("payment", op.source, op.source, op.destination, op.asset, amount)]
        raise OperationFailed("op_not_supported")

    def create_contract(self, contract_id: str, asset: tuple[str, str]) -> None:
        """A contract holds token balances like an account, without a sequence number or XLM."""
        self._db.execute("INSERT INTO accounts VALUES (?, 0, ?)", (contract_id, _now()))
        self._db.execute("INSERT INTO balances VALUES (?, ?, ?, 0)", (contract_id, *asset))

    def balance(self, account: str, asset: tuple[str, str]) -> int | None:
        with self._lock:
            row = self._db.execute("SELECT amount FROM balances WHERE account = ? AND code = ? AND issuer = ?",
                                   (account, *asset)).fetchone()
        return None if row is None else int(row["amount"])

    def move(self, sender: str, receiver: str, asset: tuple[str, str], amount: int) -> Payment:
        """A token transfer inside a contract call (only valid while `apply` runs the call)."""
        self._move(sender, receiver, asset, amount)
        return Payment("invoke_host_function", sender, sender, receiver, asset, amount)

    @property
    def db(self) -> sqlite3.Connection:
        return self._db

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def _move(self, sender: str, receiver: str, asset: tuple[str, str], amount: int,
              allow_missing_receiver: bool = False) -> None:
        code, issuer = asset
        if receiver and self._db.execute("SELECT 1 FROM accounts WHERE id = ?", (receiver,)).fetchone() is None:
            raise OperationFailed("op_no_destination")
        if sender != issuer:  # an issuer mints its own asset out of nothing
            cur = self._db.execute(
                "UPDATE balances SET amount = amount - ? WHERE account = ? AND code = ? AND issuer = ? "
                "AND amount - ? >= ?",
                (amount, sender, code, issuer, amount, BASE_RESERVE * 2 if code == "native" else 0),
            )
            if cur.rowcount != 1:
                raise OperationFailed("op_underfunded")
        if receiver and receiver != issuer:
            cur = self._db.execute(
                "UPDATE balances SET amount = amount + ? WHERE account = ? AND code = ? AND issuer = ?",
                (amount, receiver, code, issuer),
            )
            if cur.rowcount != 1:
                raise OperationFailed("op_no_trust")
