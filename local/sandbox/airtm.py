"""A sandbox Airtm Enterprise API v2 (reference/providers.md §B): payins, payouts, user lookup and the
enterprise balance, behind HTTP Basic auth and a 10 requests/second limit, with Svix-signed webhooks.

Mounted by the rails at `/airtm`, where `<base>/airtm` plays `https://api.stg.enterprise.airtm.com/v2`.
Amounts are JSON numbers written from Decimals and read back as Decimals (offerhub.core.decimal_json);
they are stored as text decimals (objects) and integer cents (the balance), never as floats. State lives
in its own SQLite file, so it survives a restart of `make run`.

What the sandbox decides (the real service's behaviour is not all documented):
- Fees: a payin pays Airtm 1.5% (netAmount = amount - airtmFee reaches the enterprise); a payout's
  recipient pays 1% (amount is debited from the enterprise, netAmount is received); half-up to the cent.
- Balance: a confirmed payin adds its netAmount to `available`; a payout reserves its amount
  (available -> pending) when created, spends it when COMPLETED and gives it back when FAILED/CANCELED.
- Users are made up from the email's local part: `unknown…` does not exist, `inactive…` is inactive,
  `unverified…` is not verified, `pending…` receives payouts only after a control call (PENDING);
  anyone else is an active, verified user whose id is derived from the email.
- A payin stays CREATED until a control call plays the payer (confirm, cancel or fail at checkout).
- Webhooks are sent like Svix does (headers svix-id / svix-timestamp / svix-signature, body
  `{"type", "data"}`) from a background thread, in order per object, retried on a short schedule.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
import hmac
import itertools
import json
import secrets
import sqlite3
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from local.sandbox.faults import WEBHOOK_TARGET, Faults
from offerhub.core.decimal_json import dumps, loads

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("1000000000")
PAYIN_FEE_RATE = Decimal("0.015")
PAYOUT_FEE_RATE = Decimal("0.01")
MIN_PAYOUT = Decimal("0.01")
DEFAULT_PAYER = "payer@example.com"
RATE_LIMIT = 10  # requests per second per api key (§B.1)
# After the first attempt; Svix's real schedule (5 s, 5 min, 30 min, …) scaled down for local use.
RETRY_SCHEDULE = (0.2, 0.5, 1.0, 2.0, 5.0, 5.0, 5.0)
USER_NAMESPACE = uuid.UUID("6f1c3a8e-2b0d-4c1e-9a57-0a1f5e7c2d90")
PAYIN_OUTCOMES = {"confirmed": "CONFIRMED", "canceled": "CANCELED", "failed": "FAILED"}
PAYOUT_OUTCOMES = {"completed": "COMPLETED", "canceled": "CANCELED", "failed": "FAILED"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS airtm_payins (id TEXT PRIMARY KEY, code TEXT NOT NULL UNIQUE, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS airtm_payouts (id TEXT PRIMARY KEY, code TEXT UNIQUE, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS airtm_balance (id INTEGER PRIMARY KEY CHECK (id = 1),
    available_cents INTEGER NOT NULL CHECK (available_cents >= 0),
    pending_cents INTEGER NOT NULL CHECK (pending_cents >= 0));
CREATE TABLE IF NOT EXISTS airtm_settings (name TEXT PRIMARY KEY, value TEXT);
"""

# Reason code → (HTTP status, message). Airtm documents the codes, not the statuses (§B.1, §B.5).
ERRORS: dict[str, tuple[int, str]] = {
    "415901": (400, "Invalid request"),
    "415904": (401, "Unauthorized"),
    "415902": (404, "Item not found"),
    "415031": (404, "Payin not found"),
    "415005": (404, "Payout not found"),
    "415029": (409, "A payin with this code already exists"),
    "415030": (409, "The payin cannot be confirmed or canceled"),
    "415027": (409, "The payout has already been processed"),
    "415055": (409, "Only a created or pending payout can be canceled"),
    "415056": (409, "A payout with this code already exists"),
    "415016": (422, "Insufficient balance for the payout"),
    "415058": (422, "The amount is below the minimum"),
    "415059": (422, "The recipient was not found"),
    "415060": (422, "The recipient cannot receive payouts"),
}
_MONEY_FIELDS = ("amount", "netAmount", "airtmFee", "grossAmount", "enterpriseFee")


class AirtmError(Exception):
    """A refusal with an Airtm reason code; `status` is the HTTP status the sandbox answers with."""

    def __init__(self, code: str, message: str | None = None, data: dict[str, Any] | None = None):
        self.status, default = ERRORS.get(code, (400, "Invalid request"))
        super().__init__(message or default)
        self.code = code
        self.message = message or default
        self.data = data or {}

    def response(self) -> JSONResponse:
        return airtm_error(self.status, self.code, self.message, self.data)


def airtm_error(status: int, code: str, message: str, data: dict[str, Any] | None = None,
                headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "data": data or {}}, status_code=status,
                        headers=headers)


def fee(amount: Decimal, rate: Decimal) -> Decimal:
    return (amount * rate).quantize(CENT, rounding=ROUND_HALF_UP)


def sign(key: bytes, svix_id: str, timestamp: int, body: bytes) -> str:
    """Svix's `v1` signature: HMAC-SHA256 over "{id}.{timestamp}.{body}", base64."""
    digest = hmac.new(key, f"{svix_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a Svix secret: base64-decode what follows `whsec_`."""
    raw = secret.removeprefix("whsec_")
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the webhook secret must be whsec_ followed by base64") from None
    if not key:
        raise ValueError("the webhook secret is empty")
    return key


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _cents(amount: Decimal) -> int:
    return int(amount * 100)


def _from_cents(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


# --- request validation ----------------------------------------------------------------------------------
def _invalid(message: str) -> AirtmError:
    return AirtmError("415901", message)


def _money(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal):
        raise _invalid(f"{field} must be a number")
    try:
        quantized = value.quantize(CENT)
    except InvalidOperation:
        raise _invalid(f"{field} is out of range") from None
    if quantized != value:
        raise _invalid(f"{field} must have at most 2 decimals")
    if quantized.copy_abs() > MAX_AMOUNT:
        raise _invalid(f"{field} is out of range")
    return quantized


def _text(body: dict[str, Any], field: str, *, required: bool = True, limit: int = 1000) -> str | None:
    value = body.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _invalid(f"{field} is required and must be a non-empty string")
    if len(value) > limit:
        raise _invalid(f"{field} must be at most {limit} characters")
    return value


def _email(value: Any, field: str = "email") -> str:
    if not isinstance(value, str) or len(value) > 254 or value.count("@") != 1 or any(c.isspace() for c in value):
        raise _invalid(f"{field} must be an email address")
    local, domain = value.split("@")
    if not local or not domain:
        raise _invalid(f"{field} must be an email address")
    return value


def user_for(email: str) -> dict[str, Any] | None:
    """The sandbox's made-up Airtm user for an email (None: no Airtm account)."""
    local = email.split("@", 1)[0].lower()
    if local.startswith("unknown"):
        return None
    return {"id": str(uuid.uuid5(USER_NAMESPACE, email.lower())),
            "status": "inactive" if local.startswith("inactive") else "active", "primaryEmail": True,
            "firstName": "Sandbox", "lastName": local[:40] or "User", "country": "COL",
            "isVerified": not local.startswith("unverified")}


# --- webhooks --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WebhookMessage:
    """One Svix message: the same `svix_id` and body on every attempt."""

    svix_id: str
    type: str
    object_id: str
    body: bytes

    def payload(self) -> Any:
        return loads(self.body)


@dataclass(frozen=True)
class _Delivery:
    message: WebhookMessage
    url: str
    key: bytes
    attempt: int = 0


class WebhookSender:
    """Delivers messages on one background thread. Messages about one object go out in order (a retried
    one holds back the later ones); a delayed message travels alone, so later ones may overtake it."""

    def __init__(self, *, retry_schedule: Sequence[float] = RETRY_SCHEDULE, timeout_seconds: float = 5.0):
        self.retry_schedule = tuple(retry_schedule)
        self.delivered: list[tuple[str, str, int]] = []  # every attempt: (svix_id, type, status; 0 = no answer)
        self.given_up: list[tuple[str, str]] = []
        self._cond = threading.Condition()
        self._lanes: dict[str, deque[_Delivery]] = {}
        self._heap: list[tuple[float, int, str]] = []  # (due, tiebreak, lane) for each lane's head
        self._order = itertools.count()
        self._busy = 0
        self._stopping = False
        self._client = httpx.Client(timeout=timeout_seconds, trust_env=False)
        self._thread = threading.Thread(target=self._run, daemon=True, name="airtm-webhooks")
        self._thread.start()

    def send(self, delivery: _Delivery, *, lane: str, delay: float = 0.0) -> None:
        with self._cond:
            queue = self._lanes.setdefault(lane, deque())
            queue.append(delivery)
            if len(queue) == 1:
                heapq.heappush(self._heap, (time.monotonic() + delay, next(self._order), lane))
                self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self._lanes and not self._busy, timeout)

    def close(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(10)
        self._client.close()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (not self._heap or self._heap[0][0] > time.monotonic()):
                    self._cond.wait(None if not self._heap else self._heap[0][0] - time.monotonic())
                if self._stopping:
                    return
                _, _, lane = heapq.heappop(self._heap)
                delivery = self._lanes[lane][0]
                self._busy += 1
            status = self._post(delivery)
            with self._cond:
                self._busy -= 1
                message = delivery.message
                self.delivered.append((message.svix_id, message.type, status))
                queue = self._lanes[lane]
                if 200 <= status < 300 or delivery.attempt >= len(self.retry_schedule):
                    if not 200 <= status < 300:
                        self.given_up.append((message.svix_id, message.type))
                    queue.popleft()
                    due = time.monotonic()
                else:
                    queue[0] = replace(delivery, attempt=delivery.attempt + 1)
                    due = time.monotonic() + self.retry_schedule[delivery.attempt]
                if queue:
                    heapq.heappush(self._heap, (due, next(self._order), lane))
                else:
                    del self._lanes[lane]
                self._cond.notify_all()

    def _post(self, delivery: _Delivery) -> int:
        message, timestamp = delivery.message, int(time.time())
        headers = {"svix-id": message.svix_id, "svix-timestamp": str(timestamp),
                   "svix-signature": sign(delivery.key, message.svix_id, timestamp, message.body),
                   "content-type": "application/json", "user-agent": "Svix-Webhooks/1.0 (offerhub sandbox)"}
        try:
            return self._client.post(delivery.url, content=message.body, headers=headers).status_code
        except Exception:  # connection refused, timeout, …: a failed attempt
            return 0


# --- the sandbox -----------------------------------------------------------------------------------------
class _RateLimiter:
    """A sliding one-second window of the requests let through, per api key."""

    def __init__(self, limit: int):
        self.limit = limit
        self._lock = threading.Lock()
        self._hits: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and now - hits[0] >= 1.0:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True


class AirtmSandbox:
    def __init__(
        self, state_file: Path | str, *, api_key: str, api_secret: str, faults: Faults | None = None,
        initial_balance: Decimal | str = "0.00", webhook_url: str | None = None, webhook_secret: str | None = None,
        rate_limit: int | None = RATE_LIMIT, webhook_retry_schedule: Sequence[float] = RETRY_SCHEDULE,
        webhook_delay_seconds: float = 2.0, webhook_timeout_seconds: float = 5.0,
    ):
        self.api_key = api_key
        self.api_secret = api_secret
        self.faults = faults or Faults()
        self.webhook_delay_seconds = webhook_delay_seconds
        self.events: list[WebhookMessage] = []  # every message, sent or not
        self.outbox: list[WebhookMessage] = []  # messages not sent because no URL was configured
        self.dropped: list[WebhookMessage] = []  # messages a `drop` fault swallowed
        self._limiter = _RateLimiter(rate_limit) if rate_limit else None
        self.webhook_url: str | None = None
        self.webhook_secret = ""
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(state_file), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.executescript(_SCHEMA)
        opening = _money(Decimal(str(initial_balance)), "initial_balance")
        self._db.execute("INSERT OR IGNORE INTO airtm_balance VALUES (1, ?, 0)", (_cents(opening),))
        settings = {r["name"]: r["value"] for r in self._db.execute("SELECT name, value FROM airtm_settings")}
        secret = webhook_secret or settings.get("webhook_secret") or "whsec_" + base64.b64encode(
            secrets.token_bytes(24)).decode()
        self.configure_webhooks(webhook_url if webhook_url is not None else settings.get("webhook_url"), secret)
        self._sender = WebhookSender(retry_schedule=webhook_retry_schedule, timeout_seconds=webhook_timeout_seconds)

    # --- webhooks ----------------------------------------------------------------------------------------
    def configure_webhooks(self, url: str | None, secret: str | None = None) -> None:
        """Where events go (None: nowhere, they stay in `outbox`) and the Svix secret they are signed with;
        kept in the state file. A missing secret keeps the current one."""
        if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
            raise ValueError("the webhook url must be an http(s) URL")
        with self._lock:
            secret = secret or self.webhook_secret
            key = secret_key(secret)
            self.webhook_url, self.webhook_secret, self._webhook_key = url, secret, key
            for name, value in (("webhook_url", url), ("webhook_secret", secret)):
                self._db.execute("INSERT OR REPLACE INTO airtm_settings VALUES (?, ?)", (name, value))

    @property
    def delivered(self) -> list[tuple[str, str, int]]:
        """Every delivery attempt: (svix_id, event type, HTTP status; 0 when no answer came)."""
        return self._sender.delivered

    @property
    def given_up(self) -> list[tuple[str, str]]:
        return self._sender.given_up

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every queued message was delivered or given up; False if `timeout` passed first."""
        return self._sender.wait_idle(timeout)

    def close(self) -> None:
        self._sender.close()

    def _emit(self, event: str, obj: dict[str, Any]) -> None:
        """Called with the state lock held, after the change is committed: per object, messages are queued
        in the order the changes happened."""
        message = WebhookMessage("msg_" + secrets.token_hex(14), event, obj["id"],
                                 dumps({"type": event, "data": obj}).encode())
        self.events.append(message)
        if self.webhook_url is None:
            self.outbox.append(message)
            return
        delivery = _Delivery(message, self.webhook_url, self._webhook_key)
        mode = self.faults.take(WEBHOOK_TARGET)
        if mode == "drop":
            self.dropped.append(message)
        elif mode == "delay":
            self._sender.send(delivery, lane=f"delayed:{message.svix_id}", delay=self.webhook_delay_seconds)
        else:
            for _ in range(2 if mode == "duplicate" else 1):
                self._sender.send(delivery, lane=obj["id"])

    # --- state -------------------------------------------------------------------------------------------
    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _load(self, table: str, column: str, value: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(f"SELECT data FROM {table} WHERE {column} = ?", (value,)).fetchone()
        return None if row is None else json.loads(row["data"])

    def _save(self, db: sqlite3.Connection, table: str, record: dict[str, Any], *, new: bool = False) -> None:
        if new:
            db.execute(f"INSERT INTO {table} (id, code, data) VALUES (?, ?, ?)",
                       (record["id"], record.get("code"), json.dumps(record)))
        else:
            record["updatedAt"] = _now()
            db.execute(f"UPDATE {table} SET data = ? WHERE id = ?", (json.dumps(record), record["id"]))

    def _move(self, db: sqlite3.Connection, *, available: int = 0, pending: int = 0) -> None:
        db.execute("UPDATE airtm_balance SET available_cents = available_cents + ?, pending_cents = pending_cents + ?",
                   (available, pending))

    def balance(self) -> dict[str, Decimal]:
        with self._lock:
            row = self._db.execute("SELECT available_cents, pending_cents FROM airtm_balance").fetchone()
        return {"available": _from_cents(row["available_cents"]), "pending": _from_cents(row["pending_cents"])}

    @staticmethod
    def _public(record: dict[str, Any]) -> dict[str, Any]:
        """The record as Airtm shows it: amounts as Decimals (JSON numbers once written)."""
        shown = {k: Decimal(v) if k in _MONEY_FIELDS and v is not None else v for k, v in record.items()}
        if "items" in shown:
            shown["items"] = [{**item, "amount": Decimal(item["amount"])} for item in shown["items"]]
        return shown

    # --- users -------------------------------------------------------------------------------------------
    def user(self, email: str) -> dict[str, Any]:
        found = user_for(_email(email))
        if found is None:
            raise AirtmError("415902", "No Airtm user has this email")
        return found

    # --- payins ------------------------------------------------------------------------------------------
    def create_payin(self, body: dict[str, Any]) -> dict[str, Any]:
        code = _text(body, "code", limit=255)
        description = _text(body, "description")
        confirmation_uri = _text(body, "confirmationUri", limit=2048)
        cancel_uri = _text(body, "cancelUri", limit=2048)
        amount = _money(body.get("amount"), "amount")
        if amount <= 0:
            raise _invalid("amount must be positive")
        items = body.get("items")
        if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
            raise _invalid("items must be a non-empty list of {description, amount, quantity}")
        payin_id = str(uuid.uuid4())
        parsed = []
        for index, item in enumerate(items):
            item_amount = _money(item.get("amount"), f"items[{index}].amount")
            quantity = item.get("quantity")
            if (isinstance(quantity, bool) or not isinstance(quantity, Decimal) or quantity <= 0
                    or quantity != quantity.to_integral_value() or quantity > 1_000_000):
                raise _invalid(f"items[{index}].quantity must be a positive integer")
            if item_amount <= 0:
                raise _invalid(f"items[{index}].amount must be positive")
            parsed.append({"id": str(uuid.uuid4()), "payinId": payin_id,
                           "description": _text(item, "description"), "amount": str(item_amount),
                           "quantity": int(quantity)})
        total = sum((Decimal(i["amount"]) * i["quantity"] for i in parsed), Decimal(0))
        if total != amount:
            raise _invalid(f"the items add up to {total}, not to amount {amount}")
        airtm_fee = fee(amount, PAYIN_FEE_RATE)
        now = _now()
        record = {"id": payin_id, "code": code, "status": "CREATED", "amount": str(amount),
                  "netAmount": str(amount - airtm_fee), "airtmFee": str(airtm_fee), "description": description,
                  "items": parsed, "airtmUserId": None, "airtmUserEmail": None, "failureReason": None,
                  "confirmationUri": confirmation_uri, "cancelUri": cancel_uri, "createdAt": now, "updatedAt": now}
        with self._lock:
            try:
                with self._transaction() as db:
                    self._save(db, "airtm_payins", record, new=True)
            except sqlite3.IntegrityError:
                raise AirtmError("415029", f"A payin with code {code} already exists") from None
            shown = self._public(record)
            self._emit("payin.created", shown)
        return shown

    def _payin_record(self, payin_id: str) -> dict[str, Any]:
        record = self._load("airtm_payins", "id", payin_id)
        if record is None:
            raise AirtmError("415031")
        return record

    def payin(self, payin_id: str) -> dict[str, Any]:
        return self._public(self._payin_record(payin_id))

    def payin_by_code(self, code: str) -> dict[str, Any]:
        record = self._load("airtm_payins", "code", code)
        if record is None:
            raise AirtmError("415031")
        return self._public(record)

    def cancel_payin(self, payin_id: str) -> dict[str, Any]:
        with self._lock:
            record = self._payin_record(payin_id)
            if record["status"] != "CREATED":
                raise AirtmError("415030", f"A {record['status']} payin cannot be canceled")
            record["status"] = "CANCELED"
            with self._transaction() as db:
                self._save(db, "airtm_payins", record)
            shown = self._public(record)
            self._emit("payin.canceled", shown)
        return shown

    def complete_payin(self, payin_id: str, outcome: str, payer_email: str | None = None) -> dict[str, Any]:
        """Test hook: the payer confirms, cancels or fails at Airtm's checkout."""
        if outcome not in PAYIN_OUTCOMES:
            raise _invalid(f"outcome must be one of {', '.join(PAYIN_OUTCOMES)}")
        payer = _email(payer_email or DEFAULT_PAYER, "payerEmail")
        with self._lock:
            record = self._payin_record(payin_id)
            if record["status"] != "CREATED":
                raise AirtmError("415030", f"The payin is {record['status']}, not CREATED")
            record |= {"airtmUserId": str(uuid.uuid5(USER_NAMESPACE, payer.lower())), "airtmUserEmail": payer}
            if outcome == "confirmed":
                record["status"] = "PROCESSING"
                with self._transaction() as db:
                    self._save(db, "airtm_payins", record)
            record["status"] = PAYIN_OUTCOMES[outcome]
            if outcome == "failed":
                record["failureReason"] = "The payment was declined (sandbox)"
            with self._transaction() as db:
                self._save(db, "airtm_payins", record)
                if outcome == "confirmed":
                    self._move(db, available=_cents(Decimal(record["netAmount"])))
            shown = self._public(record)
            self._emit(f"payin.{outcome}", shown)
        return shown

    # --- payouts -----------------------------------------------------------------------------------------
    def create_payout(self, body: dict[str, Any]) -> dict[str, Any]:
        email = _email(body.get("airtmUserEmail"), "airtmUserEmail")
        notes = _text(body, "notes", limit=255)
        code = _text(body, "code", required=False, limit=255)
        internal_note = _text(body, "internalNote", required=False, limit=255)
        amount = _money(body.get("amount"), "amount")
        commit = body.get("commit", False)
        require_verified = body.get("requireIdVerified")
        if not isinstance(commit, bool) or not isinstance(require_verified, bool | None):
            raise _invalid("commit and requireIdVerified must be booleans")
        enterprise_fee = body.get("enterpriseFee")
        if enterprise_fee is not None and _money(enterprise_fee, "enterpriseFee") != 0:
            raise _invalid("the sandbox does not model enterpriseFee: leave it out or send 0")
        if amount < MIN_PAYOUT:
            raise AirtmError("415058", f"The minimum payout is {MIN_PAYOUT}")
        user = user_for(email)
        if user is None:
            raise AirtmError("415059", f"No Airtm user has the email {email}")
        if user["status"] != "active" or not user["isVerified"]:
            raise AirtmError("415060", f"The user {email} cannot receive payouts")
        airtm_fee = fee(amount, PAYOUT_FEE_RATE)
        now = _now()
        record = {"id": str(uuid.uuid4()), "code": code, "airtmUserId": user["id"], "airtmUserEmail": email,
                  "requireIdVerified": require_verified, "notes": notes, "internalNote": internal_note,
                  "status": "CREATED", "grossAmount": str(amount), "amount": str(amount),
                  "netAmount": str(amount - airtm_fee), "airtmFee": str(airtm_fee), "enterpriseFee": "0.00",
                  "reasonCode": None, "reasonDescription": None, "createdAt": now, "updatedAt": now}
        with self._lock:
            events = []
            try:
                with self._transaction() as db:
                    available = db.execute("SELECT available_cents FROM airtm_balance").fetchone()[0]
                    if available < _cents(amount):
                        raise AirtmError("415016", f"The available balance is {_from_cents(available)}")
                    self._move(db, available=-_cents(amount), pending=_cents(amount))
                    self._save(db, "airtm_payouts", record, new=True)
                    events.append(("payout.created", self._public(record)))
                    if commit:
                        events += self._commit(db, record)
            except sqlite3.IntegrityError:
                raise AirtmError("415056", f"A payout with code {code} already exists") from None
            for event, shown in events:
                self._emit(event, shown)
        return self._public(record)

    def _commit(self, db: sqlite3.Connection, record: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        if record["airtmUserEmail"].split("@", 1)[0].lower().startswith("pending"):
            record["status"] = "PENDING"  # the spec has no webhook for this
            self._save(db, "airtm_payouts", record)
            return []
        return self._finish(db, record, "COMPLETED")

    def _finish(self, db: sqlite3.Connection, record: dict[str, Any], status: str
                ) -> list[tuple[str, dict[str, Any]]]:
        cents = _cents(Decimal(record["amount"]))
        self._move(db, pending=-cents, available=0 if status == "COMPLETED" else cents)
        record["status"] = status
        if status == "FAILED":
            record |= {"reasonCode": "415998", "reasonDescription": "The payout failed (sandbox)"}
        self._save(db, "airtm_payouts", record)
        return [(f"payout.{status.lower()}", self._public(record))]

    def _payout_record(self, payout_id: str) -> dict[str, Any]:
        record = self._load("airtm_payouts", "id", payout_id)
        if record is None:
            raise AirtmError("415005")
        return record

    def payout(self, payout_id: str) -> dict[str, Any]:
        return self._public(self._payout_record(payout_id))

    def payout_by_code(self, code: str) -> dict[str, Any]:
        record = self._load("airtm_payouts", "code", code)
        if record is None:
            raise AirtmError("415005")
        return self._public(record)

    def commit_payout(self, payout_id: str) -> None:
        with self._lock:
            record = self._payout_record(payout_id)
            if record["status"] != "CREATED":
                raise AirtmError("415027", f"The payout is {record['status']}, not CREATED")
            with self._transaction() as db:
                events = self._commit(db, record)
            for event, shown in events:
                self._emit(event, shown)

    def cancel_payout(self, payout_id: str) -> dict[str, Any]:
        with self._lock:
            record = self._payout_record(payout_id)
            if record["status"] not in ("CREATED", "PENDING"):
                raise AirtmError("415055", f"A {record['status']} payout cannot be canceled")
            with self._transaction() as db:
                events = self._finish(db, record, "CANCELED")
            for event, shown in events:
                self._emit(event, shown)
        return self._public(record)

    def complete_payout(self, payout_id: str, outcome: str) -> dict[str, Any]:
        """Test hook: a PENDING payout's recipient signs up (completed), or it fails or is canceled."""
        if outcome not in PAYOUT_OUTCOMES:
            raise _invalid(f"outcome must be one of {', '.join(PAYOUT_OUTCOMES)}")
        with self._lock:
            record = self._payout_record(payout_id)
            if record["status"] != "PENDING":
                raise AirtmError("415027", f"The payout is {record['status']}, not PENDING")
            with self._transaction() as db:
                events = self._finish(db, record, PAYOUT_OUTCOMES[outcome])
            for event, shown in events:
                self._emit(event, shown)
        return self._public(record)

    # --- HTTP --------------------------------------------------------------------------------------------
    def _authorized(self, header: str | None) -> bool:
        scheme, _, encoded = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            key, sep, secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, ValueError):
            return False
        return bool(sep) and hmac.compare_digest(key.encode(), self.api_key.encode()) and hmac.compare_digest(
            secret.encode(), self.api_secret.encode())

    def app(self) -> Starlette:
        def rate_limited() -> Response:
            return airtm_error(429, "429", "Too many requests", headers={"Retry-After": "1"})

        def unavailable(mode: str) -> Response:
            status = 504 if mode == "timeout" else 503
            return airtm_error(status, "415999", "Service unavailable (a fault injected by the sandbox)")

        Handler = Callable[[Request], Awaitable[Any]]

        def endpoint(target: str | None, handler: Handler, *, applied_on_timeout: bool = False,
                     status: int = 200) -> Callable[[Request], Awaitable[Response]]:
            async def run(request: Request) -> Response:
                if not self._authorized(request.headers.get("authorization")):
                    return airtm_error(401, "415904", "Unauthorized: HTTP Basic with the api key and secret",
                                       headers={"WWW-Authenticate": 'Basic realm="airtm"'})
                if self._limiter is not None and not self._limiter.allow(self.api_key):
                    return rate_limited()
                mode = self.faults.take(target) if target else None
                if mode == "rate-limit":
                    return rate_limited()
                if mode == "error" or (mode == "timeout" and not applied_on_timeout):
                    if mode == "timeout":
                        await self.faults.hold()
                    return unavailable(mode)
                try:
                    result = await handler(request)
                    response = (Response(status_code=204) if status == 204 else
                                Response(dumps(result), status_code=status, media_type="application/json"))
                except AirtmError as error:
                    response = error.response()
                if mode == "timeout":  # applied, but the caller never hears back
                    await self.faults.hold()
                    return unavailable(mode)
                return response

            return run

        async def body(request: Request) -> dict[str, Any]:
            try:
                parsed = loads(await request.body())
            except ValueError:
                raise _invalid("the body is not JSON") from None
            if not isinstance(parsed, dict):
                raise _invalid("the body must be a JSON object")
            return parsed

        async def create_payin(request: Request) -> Any:
            return self.create_payin(await body(request))

        async def get_payin(request: Request) -> Any:
            return self.payin(request.path_params["id"])

        async def payin_by_code(request: Request) -> Any:
            return self.payin_by_code(request.path_params["code"])

        async def cancel_payin(request: Request) -> Any:
            return self.cancel_payin(request.path_params["id"])

        async def create_payout(request: Request) -> Any:
            return self.create_payout(await body(request))

        async def commit_payout(request: Request) -> Any:
            self.commit_payout(request.path_params["id"])

        async def get_payout(request: Request) -> Any:
            return self.payout(request.path_params["id"])

        async def payout_by_code(request: Request) -> Any:
            return self.payout_by_code(request.path_params["code"])

        async def cancel_payout(request: Request) -> Any:
            return self.cancel_payout(request.path_params["id"])

        async def user(request: Request) -> Any:
            return self.user(request.path_params["email"])  # Starlette has URL-decoded it

        async def balance(request: Request) -> Any:
            return self.balance()

        async def me(request: Request) -> Any:
            return {"id": str(uuid.uuid5(USER_NAMESPACE, "enterprise:" + self.api_key)),
                    "cancelPendingPayoutsAfterDays": 90, "payoutRequireIdVerification": False}

        def by_method(get: Callable[..., Any], delete: Callable[..., Any]) -> Callable[[Request], Awaitable[Response]]:
            async def dispatch(request: Request) -> Response:
                return await (get if request.method == "GET" else delete)(request)

            return dispatch

        return Starlette(routes=[
            Route("/payins", endpoint("airtm-payins-create", create_payin, applied_on_timeout=True), methods=["POST"]),
            Route("/payins/by-code/{code}", endpoint("airtm-payins-get", payin_by_code)),
            Route("/payins/{id}", by_method(endpoint("airtm-payins-get", get_payin),
                                            endpoint("airtm-payins-cancel", cancel_payin)),
                  methods=["GET", "DELETE"]),
            Route("/payouts", endpoint("airtm-payouts-create", create_payout, applied_on_timeout=True),
                  methods=["POST"]),
            Route("/payouts/by-code/{code}", endpoint("airtm-payouts-get", payout_by_code)),
            Route("/payouts/{id}/commit", endpoint("airtm-payouts-commit", commit_payout, applied_on_timeout=True,
                                                   status=204), methods=["POST"]),
            Route("/payouts/{id}", by_method(endpoint("airtm-payouts-get", get_payout),
                                             endpoint("airtm-payouts-cancel", cancel_payout)),
                  methods=["GET", "DELETE"]),
            Route("/users/{email}", endpoint("airtm-users-get", user)),
            Route("/me/balance", endpoint("airtm-balance", balance)),
            Route("/me", endpoint(None, me)),
        ])
