"""Sending the event log to integrators' endpoints: at least once, signed, retried, and never to an address
the rules refuse.

A run (`run`, the `webhook_sender` schedule) follows the event log with events/tail.py under the reader name
"webhooks". Each tick:

1. fans the new events out: one delivery row per enabled endpoint whose `types` match, for events committed
   after the endpoint was created (unique per endpoint and event, so a batch handed out twice adds nothing);
2. sends what is due (new deliveries and retries) on a small thread pool. Each delivery is claimed first
   (`FOR UPDATE SKIP LOCKED`, then a claim token and a deadline on the row), so two senders never take the same
   one; the claim lapses if the sender dies, and the delivery is sent again (at least once: receivers drop a
   repeat by `OfferHub-Event-Id`).

An attempt re-checks the URL (a name can resolve elsewhere now), signs the body with the endpoint's secret(s),
POSTs it to the pinned address and records the outcome in one transaction:

- a 2xx within 10 s: SUCCEEDED;
- anything else: retried after base * 2^(n-1) seconds (base = WEBHOOK_RETRY_BASE_SECONDS, 60 by default),
  capped at 60 * base, ±20% jitter; the last retry is at 24 h after the delivery was created, and if that fails
  too the delivery is FAILED;
- the endpoint: when every attempt to it has failed for 24 h (no success since its first failure), it is
  DISABLED (an audit row and a `webhook_endpoint.disabled` event), its pending deliveries end FAILED, and no new
  ones are created until it is enabled again (`POST /webhook-endpoints/{id}/enable`).

Locks are always taken endpoint first, then deliveries, and several deliveries in id order, so recording
outcomes never deadlocks with a disable or a delete.
"""

from __future__ import annotations

import json
import random
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import Any

from offerhub import __version__
from offerhub.adapters.postgres.unit_of_work import UnitOfWork, read_only, transaction
from offerhub.audit.service import record
from offerhub.config import settings
from offerhub.core.clock import iso, utcnow
from offerhub.core.context import RequestContext
from offerhub.core.errors import Conflict, NotFound, OfferHubError
from offerhub.core.ids import new_id
from offerhub.events import catalogue, tail
from offerhub.events.store import to_public as event_to_public
from offerhub.observability import logger
from offerhub.outbound import filters, sealing, signing, store, transport, urls

READER = "webhooks"
RETRY_WINDOW = timedelta(hours=24)
DISABLE_AFTER = timedelta(hours=24)
MAX_DELAY_FACTOR = 60  # the backoff stops growing at 60 * base: 1 h with the default base of 60 s
CLAIM_SECONDS = 60  # a claim outlives the attempts of a batch (4 x 10 s) with time to spare
CLAIM_BATCH = 4  # deliveries a worker claims at once (one claim transaction for four attempts)
WORKERS = 8
# An attempt is started only when it can finish (timeout + this) before the run must stop.
START_MARGIN_SECONDS = 2.0
# At most this many attempts per tick, so new events are fanned out regularly even through a large backlog.
ATTEMPTS_PER_TICK = 2000
USER_AGENT = f"OfferHub-Webhooks/{__version__}"

Clock = Callable[[], datetime]


def retry_delay(attempts: int, base: float, jitter: float) -> timedelta:
    """The wait after the n-th failed attempt (jitter in [0, 1))."""
    seconds = min(base * 2 ** min(attempts - 1, 32), base * MAX_DELAY_FACTOR)
    return timedelta(seconds=seconds * (0.8 + 0.4 * jitter))


def event_body(row: dict[str, Any]) -> bytes:
    """The same JSON as the event's item in `GET /events`."""
    item = event_to_public({"id": row["event_id"], "type": row["event_type"], "occurred_at": row["occurred_at"],
                            "aggregate_type": row["aggregate_type"], "aggregate_id": row["aggregate_id"],
                            "sequence": row["event_sequence"], "data": row["data"], "request_id": row["request_id"]})
    return json.dumps(item, separators=(",", ":"), default=str).encode()


@dataclass
class Report:
    created: int = 0
    attempted: int = 0
    succeeded: int = 0
    failed: int = 0
    disabled: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)

    def to_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}


class Sender:
    """Fans events out and sends deliveries. `clock`, `jitter`, `timeout` and `time_left` (seconds in which an
    attempt may still start; None = no limit) are injectable, so tests drive retries without waiting."""

    def __init__(self, ctx: RequestContext, *, clock: Clock = utcnow, timeout: float = transport.TIMEOUT_SECONDS,
                 workers: int = WORKERS, jitter: Callable[[], float] = random.random,
                 retry_base: float | None = None, time_left: Callable[[], float] | None = None):
        self.ctx = ctx
        self.clock = clock
        self.timeout = timeout
        self.workers = max(1, workers)
        self.jitter = jitter
        self.retry_base = max(0.01, retry_base if retry_base is not None else settings().webhook_retry_base_seconds)
        self.time_left = time_left
        self.report = Report()
        self._pool: ThreadPoolExecutor | None = None
        self._tick_quota = 0

    # --- the tick ----------------------------------------------------------------------------------------

    def tick(self, events: list[dict[str, Any]]) -> None:
        self.fan_out(events)
        self.send_due()

    def fan_out(self, events: list[dict[str, Any]]) -> int:
        if not events:
            return 0
        with read_only() as conn:
            endpoints = store.enabled_endpoints(conn)
        rows = [{"id": new_id("whd"), "endpoint_id": ep["id"], "event_id": e["id"], "event_type": e["type"]}
                for e in events for ep in endpoints
                if int(e["sequence"]) > ep["start_sequence"] and filters.matches(ep["types"], e["type"])]
        if not rows:
            return 0
        with transaction(self.ctx) as uow:
            created = store.insert_deliveries(uow.conn, rows, now=self.clock())
        self.report.add(created=created)
        return created

    def send_due(self) -> int:
        """Send every due delivery (until the run must stop). Returns how many attempts were made."""
        before = self.report.attempted
        self._tick_quota = before + ATTEMPTS_PER_TICK
        if not self._may_start():
            return 0
        first = self._claim(self.workers * self._batch())
        if not first:
            return 0
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="webhook-sender")
        shares = [first[i::self.workers] for i in range(min(self.workers, len(first)))]
        for future in [self._pool.submit(self._work, share) for share in shares]:
            future.result()
        return self.report.attempted - before

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _may_start(self, attempts: int = 1) -> bool:
        if self.report.attempted >= self._tick_quota:
            return False
        return self.time_left is None or self.time_left() > attempts * self.timeout + START_MARGIN_SECONDS

    def _batch(self) -> int:
        """How many deliveries a worker claims at once: CLAIM_BATCH while there is time to send them all one
        after the other, else one."""
        return CLAIM_BATCH if self._may_start(CLAIM_BATCH) else 1

    def _claim(self, n: int) -> list[dict[str, Any]]:
        return self._settle([], n)

    def _settle(self, succeeded: list[tuple[dict[str, Any], transport.Outcome]], n: int) -> list[dict[str, Any]]:
        """One transaction: record a worker's successful attempts, then claim up to n more deliveries. (A sender
        that dies before this sends those again: at least once.)"""
        now = self.clock()
        with transaction(self.ctx) as uow:
            if succeeded:  # endpoints first, then deliveries (in id order): the lock order
                recovered = {row["endpoint_id"] for row, _ in succeeded if row["failing_since"] is not None}
                for endpoint_id in sorted(recovered):
                    store.update_endpoint(uow.conn, endpoint_id, failing_since=None)
                store.record_successes(uow.conn, [
                    (row["id"], row["claim_token"], outcome.status_code or 200, outcome.finished_at or now)
                    for row, outcome in succeeded])
            if n <= 0:
                return []
            return store.claim_due(uow.conn, now=now, until=now + timedelta(seconds=CLAIM_SECONDS),
                                   token=secrets.token_hex(16), n=n)

    def _work(self, claimed: list[dict[str, Any]]) -> None:
        """One worker: attempt what it holds (a failure is recorded at once, successes with the next claim), then
        claim more, until none is due or time is up. Never raises: one receiver's failure (or ours) must not
        stop the others."""
        while claimed:
            succeeded: list[tuple[dict[str, Any], transport.Outcome]] = []
            for row in claimed:
                try:
                    outcome = self._send(row)
                    if outcome is not None and outcome.ok:
                        succeeded.append((row, outcome))
                    elif outcome is not None:
                        self._record(row, outcome)
                except Exception:
                    logger.exception("webhook attempt failed", extra={"deliveryId": row["id"]})
            try:
                claimed = self._settle(succeeded, self._batch() if self._may_start() else 0)
            except Exception:
                logger.exception("recording or claiming webhook deliveries failed")
                return

    # --- one attempt -------------------------------------------------------------------------------------

    def retry(self, delivery_id: str) -> transport.Outcome:
        """A manual retry: this delivery, now, whatever its state (unless an attempt on it is in flight)."""
        now = self.clock()
        token = secrets.token_hex(16)
        with transaction(self.ctx) as uow:
            row = store.claim_one(uow.conn, delivery_id, now=now, until=now + timedelta(seconds=CLAIM_SECONDS),
                                  token=token)
        if row is None:
            raise Conflict("an attempt on this delivery is in flight; retry shortly", code="WEBHOOK_DELIVERY_BUSY",
                           details={"deliveryId": delivery_id}, retry_after=int(self.timeout) + 1)
        outcome = self._send(row, manual=True)
        assert outcome is not None
        self._record(row, outcome)
        return outcome

    def _send(self, row: dict[str, Any], *, manual: bool = False) -> transport.Outcome | None:
        """Send one claimed delivery; the caller records the outcome. None: nothing was attempted (the endpoint
        is no longer enabled, and the delivery was ended; or the secrets key failed, and the claim was given
        back)."""
        if row["endpoint_status"] == store.DELETED or (row["endpoint_status"] != store.ENABLED and not manual):
            self._abandon(row, f"not sent: the endpoint is {row['endpoint_status']}")
            if manual:
                raise NotFound(f"webhook endpoint {row['endpoint_id']} not found", code="WEBHOOK_ENDPOINT_NOT_FOUND")
            return None
        try:
            signing_secrets = self._secrets(row)
        except OfferHubError:
            self._release(row)
            if manual:
                raise
            logger.exception("webhook secret unavailable", extra={"deliveryId": row["id"]})
            return None
        try:
            target = urls.check(row["url"], allow_loopback=settings().webhook_allow_loopback)
        except urls.UrlRefused as exc:
            outcome = transport.Outcome.refused(f"refused: {exc.message}")
        else:
            body = event_body(row)
            timestamp = int(self.clock().timestamp())
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                signing.SIGNATURE_HEADER: signing.signature_header(signing_secrets, timestamp, body),
                "OfferHub-Event-Id": row["event_id"],
                "OfferHub-Event-Type": row["event_type"],
                "OfferHub-Delivery-Id": row["id"],
            }
            outcome = transport.post(target, body, headers, timeout=self.timeout)
        outcome = replace(outcome, finished_at=self.clock())
        self.report.add(attempted=1, succeeded=int(outcome.ok), failed=int(not outcome.ok))
        return outcome

    def _secrets(self, row: dict[str, Any]) -> list[str]:
        """The current secret, and the previous one while its 24 h of overlap last."""
        found = [sealing.open_secret(row["endpoint_id"], row["secret_version"], row["sealed_key"],
                                     row["sealed_secret"])]
        expires = row["previous_secret_expires_at"]
        if expires is not None and self.clock() < expires:
            found.append(sealing.open_secret(row["endpoint_id"], row["previous_secret_version"],
                                             row["previous_sealed_key"], row["previous_sealed_secret"]))
        return found

    def _release(self, row: dict[str, Any]) -> None:
        with transaction(self.ctx) as uow:
            store.release_claim(uow.conn, row["id"], row["claim_token"])

    def _abandon(self, row: dict[str, Any], reason: str) -> None:
        with transaction(self.ctx) as uow:
            current = store.claimed_for_update(uow.conn, row["id"], row["claim_token"])
            if current is None:
                return
            if current["status"] == store.PENDING:
                store.record_failure(uow.conn, row["id"], now=self.clock(), status=store.FAILED, status_code=None,
                                     error=reason, next_attempt_at=None, counted=False)
            else:
                store.release_claim(uow.conn, row["id"], row["claim_token"])

    def _record(self, row: dict[str, Any], outcome: transport.Outcome) -> None:
        now = outcome.finished_at or self.clock()
        if outcome.ok:
            self._settle([(row, outcome)], 0)
            return
        with transaction(self.ctx) as uow:
            endpoint = store.get_endpoint(uow.conn, row["endpoint_id"], for_update=True)
            current = store.claimed_for_update(uow.conn, row["id"], row["claim_token"])
            if endpoint is None or current is None:
                return  # the claim lapsed and another attempt owns the delivery now
            status, next_at = current["status"], None
            if status == store.PENDING:
                give_up_at = current["created_at"] + RETRY_WINDOW
                if now >= give_up_at:
                    status = store.FAILED
                else:
                    next_at = min(now + retry_delay(current["attempts"] + 1, self.retry_base, self.jitter()),
                                  give_up_at)
            store.record_failure(uow.conn, row["id"], now=now, status=status, status_code=outcome.status_code,
                                 error=outcome.error, next_attempt_at=next_at)
            if endpoint["status"] == store.ENABLED:
                self._endpoint_failed(uow, endpoint, now, outcome.error)

    def _endpoint_failed(self, uow: UnitOfWork, endpoint: dict[str, Any], now: datetime, error: str | None) -> None:
        since = endpoint["failing_since"]
        if since is None:
            store.update_endpoint(uow.conn, endpoint["id"], failing_since=now)
        elif now - since >= DISABLE_AFTER:
            if store.succeeded_since(uow.conn, endpoint["id"], since):
                store.update_endpoint(uow.conn, endpoint["id"], failing_since=now)
            else:
                reason = f"every attempt failed for 24 h (since {iso(since)}); last error: {error}"[:500]
                disable(uow, endpoint, now, reason)
                self.report.add(disabled=1)


def disable(uow: UnitOfWork, endpoint: dict[str, Any], now: datetime, reason: str) -> dict[str, Any]:
    """ENABLED → DISABLED, in the caller's transaction (which holds the endpoint's row lock)."""
    row = store.update_endpoint(uow.conn, endpoint["id"], status=store.DISABLED, disabled_at=now,
                                disabled_reason=reason, updated_at=now)
    store.fail_pending(uow.conn, endpoint["id"], now=now, reason="not sent: the endpoint was disabled")
    public = store.endpoint_to_public(row)
    uow.emit(catalogue.WEBHOOK_ENDPOINT_DISABLED, "WebhookEndpoint", row["id"], event_data(row, reason=reason))
    record(uow, catalogue.WEBHOOK_ENDPOINT_DISABLED, "WebhookEndpoint", row["id"],
           before={"status": endpoint["status"]}, after=public)
    logger.warning("webhook endpoint disabled", extra={"webhookEndpointId": row["id"]})
    return row


def event_data(row: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The data of a webhook_endpoint.* event (never a secret)."""
    return {"webhookEndpointId": row["id"], "url": row["url"], "types": list(row["types"]),
            "status": row["status"], **extra}


def run(ctx: RequestContext, remaining_ms: Callable[[], int], **options: Any) -> dict[str, Any]:
    """One scheduled run: follow the event log until the Lambda is about to stop."""
    sender = Sender(ctx, time_left=lambda: (remaining_ms() - tail.RESERVE_MS) / 1000, **options)
    try:
        followed = tail.follow(READER, sender.tick, remaining_ms)
    finally:
        sender.close()
    return {**followed.to_dict(), **sender.report.to_dict()}
