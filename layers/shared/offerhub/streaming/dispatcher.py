"""The dispatcher: pushes the event log to every open connection, in order, without gaps.

It is a reader of the log (`events.tail.follow("websocket", ...)`): one scheduled run at a time long-polls the
log and calls `tick` with the events committed since the last tick. Each tick:

1. refreshes its view of the connections (a table scan, at most once a second);
2. catches up every connection whose position is behind the events of this tick, from the log;
3. sends the tick's events to every connection they match;
and at the end of the run (and when a connection's catch-up completes) saves the connections' positions.

Why no event is skipped or sent twice to a connection (docs/events.md has the long form):

- A connection's `position` means: every event with a sequence at or below it has been handled for it (sent,
  or not matching). It starts at its `after` event, or at the head of the log when it connected. It only moves
  forward, and only over events that were sent (or did not match): a frame that fails leaves it just before
  that frame.
- Sequences follow commit order and a read sees a prefix of them (events/store.py), so reading `position <
  sequence <= upto`, where `upto` is at or below what the tail has handed out or the head just read, returns
  every event of that range.
- A tick's batch is exactly the events `lo < sequence <= hi` (lo = the first one's sequence - 1). A connection
  at or past `lo` gets the batch's matching events above its position; one behind `lo` is first caught up from
  the log (`position < sequence <= lo`, at most CATCH_UP_LIMIT at a time), then, once level, gets the batch.
  Whatever it did not reach this tick, it reaches next tick the same way. So each connection receives its
  events in sequence order, catch-up before live, each once.
- Per connection, one thread sends its frames one after another, and the tick waits for all of them before the
  tail moves its cursor: a connection never has two frames in flight.
- Positions are saved (forward only) when a catch-up completes and at the end of the run, not per frame. A run
  that dies has not saved the positions of that run, so the next run catches those connections up from the
  last saved position: some frames come again (at least once), none is lost. Every frame carries its `id` and
  `sequence` for the client to drop a repeat.

A connection is dropped when its key is revoked (checked once per tick that pushes, for all keys at once), when
API Gateway answers 410 Gone (it left without `$disconnect` reaching us), or when its TTL has passed. A 410
within CONNECT_GRACE_MS of the connect is not a departure: API Gateway refuses frames until `$connect` has
returned, and the item is written just before that; the connection keeps its position and is caught up on a
later tick.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from offerhub.adapters.postgres.unit_of_work import read_only
from offerhub.events import tail
from offerhub.observability import logger
from offerhub.streaming import store as stream_store
from offerhub.streaming.config import stream_settings
from offerhub.streaming.connections import Connection, ConnectionStore
from offerhub.streaming.filters import Filters
from offerhub.streaming.management import ConnectionGone, FrameRefused, ManagementApi, Pusher, PushFailed
from offerhub.streaming.service import encode

READER = "websocket"
# Connections are read with a Scan at most this often. Between scans a new connection is not known yet (it is
# caught up from its stored position on the next one) and a filter change applies a little later. The Scan reads
# the whole table: fine for hundreds or a few thousand connections (a scan per second costs about one read unit
# per 4 KB). At scale, keep the view up to date from the table's DynamoDB Stream instead of scanning, and split
# connections across several dispatcher readers by a hash of their id (parallel Scan segments).
REFRESH_SECONDS = 1.0
CATCH_UP_LIMIT = 500
CONNECT_GRACE_MS = 10_000
# A tick stops sending after this long (or when the run's deadline nears): a connection it did not finish keeps
# the position of its last frame, falls behind the tail and is caught up from the log on the next ticks. So a
# backlog (500 events x many connections) never holds a tick past the Lambda's deadline, and one slow client
# never holds the others' live events for long.
TICK_SECONDS = 2.0
# A run that finds the previous one still holding the log waits this long for it to let go (runs overlap by a
# few seconds: the function's timeout is a little longer than the schedule's rate), then gives up.
LOCK_WAIT_SECONDS = 15.0
LOCK_RETRY_SECONDS = 0.1

Event = dict[str, Any]


@dataclass
class Subscriber:
    """The dispatcher's view of one connection: its filters and how far it has been served."""

    connection_id: str
    key_id: str
    filters: Filters
    position: int
    connected_at_ms: int
    saved: int  # the position last written to the table

    @classmethod
    def of(cls, c: Connection) -> Subscriber:
        return cls(c.connection_id, c.key_id, c.filters, c.position, c.connected_at_ms, c.position)


@dataclass
class Delivery:
    subscriber: Subscriber
    events: list[Event]
    through: int  # the subscriber's position once every frame is sent
    completes_catch_up: bool  # it started behind this tick's batch and ends level with it


@dataclass
class Totals:
    frames: int = 0
    connections: int = 0
    caught_up: int = 0
    revoked: int = 0
    gone: int = 0
    failed: int = 0
    refused: int = 0
    scans: int = 0
    paused: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class Dispatcher:
    store: ConnectionStore = field(default_factory=ConnectionStore)
    pusher: Pusher | None = None
    refresh_seconds: float = REFRESH_SECONDS
    catch_up_limit: int = CATCH_UP_LIMIT
    workers: int = field(default_factory=lambda: stream_settings().push_workers)
    connect_grace_ms: int = CONNECT_GRACE_MS
    tick_seconds: float = TICK_SECONDS
    # The run's remaining time and the reserve to keep (set by run()): a tick ends its sends before the reserve.
    remaining_ms: Callable[[], int] | None = None
    reserve_ms: int = tail.RESERVE_MS
    clock: Callable[[], float] = time.monotonic
    view: dict[str, Subscriber] = field(default_factory=dict)
    # Every event at or below this has been handed to this dispatcher (or was in the log when it looked).
    position: int | None = None
    totals: Totals = field(default_factory=Totals)
    _scanned_at: float | None = None
    _pool: ThreadPoolExecutor | None = None
    _send_until: float = 0.0

    # -- the tick ------------------------------------------------------------------------------------------
    def tick(self, batch: list[Event]) -> None:
        self.refresh()
        if batch:
            lo, hi = int(batch[0]["sequence"]) - 1, int(batch[-1]["sequence"])
        elif self.view:
            if self.position is None:  # the log is drained up to here: the tail handed nothing out
                with read_only() as conn:
                    self.position = tail.head(conn)
            lo = hi = self.position
        else:
            return
        if self.view:
            deliveries = self._plan(batch, lo, hi)
            if any(d.events for d in deliveries):
                self._drop_revoked()
            budget = self.tick_seconds
            if self.remaining_ms is not None:
                budget = min(budget, max(0.0, (self.remaining_ms() - self.reserve_ms) / 1000))
            self._send_until = self.clock() + budget
            self._deliver_all([d for d in deliveries if d.subscriber.connection_id in self.view])
        self.position = max(self.position or 0, hi)

    def _plan(self, batch: list[Event], lo: int, hi: int) -> list[Delivery]:
        behind: dict[tuple[int, Any], list[Subscriber]] = {}
        for sub in self.view.values():
            if sub.position < lo:
                behind.setdefault((sub.position, sub.filters.key()), []).append(sub)
        caught: dict[tuple[int, Any], list[Event]] = {}
        if behind:
            with read_only() as conn:  # one read per (position, filters): a crash's survivors share one
                for group_key, subs in behind.items():
                    caught[group_key] = stream_store.read_range(
                        conn, after=group_key[0], upto=lo, filters=subs[0].filters, limit=self.catch_up_limit)
        deliveries = []
        for sub in self.view.values():
            if sub.position < lo:
                rows = caught[(sub.position, sub.filters.key())]
                if len(rows) >= self.catch_up_limit and rows[-1]["sequence"] < lo:  # more to catch up first:
                    deliveries.append(Delivery(sub, list(rows), int(rows[-1]["sequence"]), False))
                    continue  # the live batch waits for next tick
                live = [e for e in batch if sub.filters.matches(e)]
                deliveries.append(Delivery(sub, [*rows, *live], hi, True))
            else:
                live = [e for e in batch if e["sequence"] > sub.position and sub.filters.matches(e)]
                deliveries.append(Delivery(sub, live, max(sub.position, hi), False))
        return deliveries

    def _deliver_all(self, deliveries: list[Delivery]) -> None:
        sending = [d for d in deliveries if d.events]
        for d in deliveries:
            if not d.events:
                d.subscriber.position = max(d.subscriber.position, d.through)
        if len(sending) <= 1:
            outcomes = [self._deliver(d) for d in sending]
        else:
            outcomes = list(self._executor().map(self._deliver, sending))
        for d, (outcome, frames, refused) in zip(sending, outcomes, strict=True):
            self.totals.frames += frames
            self.totals.refused += refused
            if outcome == "gone":
                self.totals.gone += 1
                self._forget(d.subscriber.connection_id, close=False)
            elif outcome in ("failed", "paused"):
                setattr(self.totals, outcome, getattr(self.totals, outcome) + 1)
        # A connection level with the live stream again: save its position now, so that a crash later in this
        # run does not send it the whole catch-up a second time.
        level = [d.subscriber for d in deliveries if d.completes_catch_up and d.subscriber.position >= d.through
                 and d.subscriber.connection_id in self.view]
        if level:
            self.totals.caught_up += len(level)
            self._save(level)

    def _deliver(self, d: Delivery) -> tuple[str, int, int]:
        """Send one connection's frames in order; its position follows each frame that went out. Returns the
        outcome (sent, paused, failed, waiting, gone), the frames sent and the frames refused."""
        sub = d.subscriber
        assert self.pusher is not None
        sent = refused = 0
        for event in d.events:
            if self.clock() >= self._send_until:
                return "paused", sent, refused  # out of time this tick: the rest comes from the log next tick
            try:
                self.pusher.post(sub.connection_id, encode(event))
                sent += 1
            except ConnectionGone:
                young = time.time() * 1000 - sub.connected_at_ms < self.connect_grace_ms
                return ("waiting" if sent == refused == 0 and young else "gone"), sent, refused
            except FrameRefused as exc:  # sending it again would fail again: skip it, say so in the log
                logger.error("frame refused", extra={"connectionId": sub.connection_id, "eventId": event["id"],
                                                     "error": str(exc)})
                refused += 1
            except PushFailed as exc:
                logger.warning("push failed; the connection catches up next tick",
                               extra={"connectionId": sub.connection_id, "error": str(exc)})
                return "failed", sent, refused
            sub.position = int(event["sequence"])
        sub.position = max(sub.position, d.through)
        return "sent", sent, refused

    # -- connections ---------------------------------------------------------------------------------------
    def refresh(self, *, force: bool = False) -> None:
        now = self.clock()
        if not force and self._scanned_at is not None and now - self._scanned_at < self.refresh_seconds:
            return
        self._scanned_at = now
        try:
            found = self.store.scan()
        except Exception as exc:  # DynamoDB unavailable for a moment: keep serving the view we have
            logger.warning("connection scan failed", extra={"error": str(exc)})
            return
        self.totals.scans += 1
        view: dict[str, Subscriber] = {}
        for c in found:
            sub = self.view.get(c.connection_id)
            if sub is None:
                sub = Subscriber.of(c)
            else:  # filters may have changed; our position is at least the stored one
                sub.key_id, sub.filters = c.key_id, c.filters
                sub.position, sub.saved = max(sub.position, c.position), max(sub.saved, c.position)
            view[c.connection_id] = sub
        self.view = view
        self.totals.connections = max(self.totals.connections, len(view))

    def _drop_revoked(self) -> None:
        with read_only() as conn:
            revoked = stream_store.revoked_keys(conn, {s.key_id for s in self.view.values()})
        for sub in [s for s in self.view.values() if s.key_id in revoked]:
            logger.info("closing a connection of a revoked key",
                        extra={"connectionId": sub.connection_id, "keyId": sub.key_id})
            self.totals.revoked += 1
            self._forget(sub.connection_id, close=True)

    def _forget(self, connection_id: str, *, close: bool) -> None:
        self.view.pop(connection_id, None)
        if close and self.pusher is not None:
            try:
                self.pusher.close(connection_id)
            except Exception as exc:  # it will be gone from the table anyway; its next frame would 410
                logger.warning("closing a connection failed", extra={"connectionId": connection_id,
                                                                     "error": str(exc)})
        self.store.delete(connection_id)

    # -- positions -----------------------------------------------------------------------------------------
    def flush(self) -> None:
        """Save every position that moved since it was last saved (one conditional update each)."""
        self._save([s for s in self.view.values() if s.position > s.saved])

    def _save(self, subs: list[Subscriber]) -> None:
        def save(sub: Subscriber) -> None:
            position = sub.position
            if position > sub.saved:
                self.store.save_position(sub.connection_id, position)
                sub.saved = position

        if len(subs) <= 1:
            for sub in subs:
                save(sub)
        else:
            list(self._executor().map(save, subs))

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="stream-push")
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def run(remaining_ms: Callable[[], int], *, reader: str = READER, dispatcher: Dispatcher | None = None,
        lock_wait_seconds: float = LOCK_WAIT_SECONDS, **follow: Any) -> dict[str, Any]:
    """One scheduled run: follow the log until the deadline, then save the positions. When the previous run
    still holds the log (runs overlap by a few seconds), wait for it to let go rather than leave a gap."""
    d = dispatcher or Dispatcher()
    if d.pusher is None:
        d.pusher = ManagementApi()
    reserve = int(follow.get("reserve_ms", tail.RESERVE_MS))
    d.remaining_ms, d.reserve_ms = remaining_ms, reserve
    saved_in_time = False

    def remaining() -> int:
        # follow() asks this before each tick while it still holds the reader's lock: save the positions as
        # soon as the deadline is near, so that the next run (waiting for the lock) reads them.
        nonlocal saved_in_time
        left = remaining_ms()
        if left <= reserve and not saved_in_time:
            saved_in_time = True
            d.flush()
        return left

    waited = 0.0
    try:
        while True:
            attempt = time.monotonic()
            result = tail.follow(reader, d.tick, remaining, **follow)
            if not result.skipped or waited >= lock_wait_seconds or remaining_ms() <= reserve:
                break
            time.sleep(LOCK_RETRY_SECONDS)
            waited += time.monotonic() - attempt
    finally:
        d.flush()
        d.close()
    return {**result.to_dict(), **d.totals.to_dict(), "lockWaitMs": int(waited * 1000)}
