"""Following the event log as it grows: the one way the channels that push events (the WebSocket stream,
outbound webhooks) read it.

Sequences are assigned in commit order (events/store.py), so a reader that handles `sequence > cursor` in
order and then moves its cursor never skips an event. Each reader has a name and its own cursor (the last
sequence it handled, in `monitor_cursors`); a new reader starts at the head of the log, not at its start, unless it
asks for the whole log (`from_start`: a relay that must not miss what was committed before its first run).

A run is one scheduled invocation that keeps polling until its Lambda is about to time out, so events are
pushed within a poll interval of their commit rather than a schedule's minute. Only one run per reader holds
the log at a time (a Postgres advisory lock on a connection of its own, outside the pool, so that a function
with a pool of one still has it for the run's reads and the reader's work); an overlapping run sees the lock
taken and returns at once. A run that dies closes that connection, and the lock goes with it. A run that dies
mid-batch has not saved its cursor, so the next run hands that batch out again: delivery is at least once, and
every event carries its id and sequence for the receiver to drop a repeat.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from offerhub.adapters.postgres.engine import get_engine, unpooled_engine
from offerhub.adapters.postgres.schema import events, monitor_cursors
from offerhub.adapters.postgres.unit_of_work import connect, read_only
from offerhub.core.clock import utcnow
from offerhub.events.store import to_public

Event = dict[str, Any]
# Called once per poll with the events committed since the last call (often none): the reader pushes them and
# does its own periodic work (retries, new subscribers). It must not raise for one target's failure.
Tick = Callable[[list[Event]], None]

POLL_SECONDS = 0.25
BATCH = 500
# Stop this long before the Lambda's deadline: the last batch must finish and its cursor be saved.
RESERVE_MS = 5_000


@dataclass
class FollowRun:
    reader: str
    skipped: bool = False
    ticks: int = 0
    events: int = 0
    cursor: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"reader": self.reader, "skipped": self.skipped, "ticks": self.ticks, "events": self.events,
                "cursor": self.cursor}


def head(conn: Connection) -> int:
    """The sequence of the newest committed event (0 when the log is empty)."""
    return int(conn.execute(select(func.coalesce(func.max(events.c.sequence), 0))).scalar_one())


def read_after(conn: Connection, sequence: int, limit: int = BATCH) -> list[Event]:
    rows = conn.execute(select(events).where(events.c.sequence > sequence).order_by(events.c.sequence)
                        .limit(limit)).mappings().all()
    return [to_public(r) for r in rows]


def follow(reader: str, tick: Tick, remaining_ms: Callable[[], int], *, poll_seconds: float = POLL_SECONDS,
           reserve_ms: int = RESERVE_MS, max_ticks: int | None = None, from_start: bool = False) -> FollowRun:
    """Hand every event after the reader's cursor to `tick`, in order, until the deadline (or `max_ticks`)."""
    run = FollowRun(reader=reader)
    with _exclusive(reader) as mine:
        if not mine:
            run.skipped = True
            return run
        cursor = _load_cursor(reader, from_start)
        while remaining_ms() > reserve_ms and (max_ticks is None or run.ticks < max_ticks):
            with read_only() as conn:
                batch = read_after(conn, cursor)
            tick(batch)
            run.ticks += 1
            if batch:
                cursor = int(batch[-1]["sequence"])
                _save_cursor(reader, cursor)
                run.events += len(batch)
                if len(batch) == BATCH:
                    continue  # a backlog: no pause until it is drained
            if max_ticks is None or run.ticks < max_ticks:
                time.sleep(poll_seconds)
        run.cursor = cursor
    return run


@contextmanager
def _exclusive(reader: str) -> Iterator[bool]:
    with connect(unpooled_engine) as conn:  # a rotated password is read afresh, as for the pool's
        key = {"k": f"offerhub.events.tail:{reader}"}
        mine = bool(conn.execute(text("SELECT pg_try_advisory_lock(hashtext(:k))"), key).scalar())
        conn.commit()
        try:
            yield mine
        finally:
            if mine:
                conn.execute(text("SELECT pg_advisory_unlock(hashtext(:k))"), key)
                conn.commit()


def _load_cursor(reader: str, from_start: bool = False) -> int:
    name = _cursor_name(reader)
    with get_engine().begin() as conn:
        stored = conn.execute(select(monitor_cursors.c.cursor).where(monitor_cursors.c.name == name)).scalar()
        if stored is not None:
            return int(stored)
        start = 0 if from_start else head(conn)
        conn.execute(pg_insert(monitor_cursors).values(name=name, cursor=str(start), updated_at=utcnow())
                     .on_conflict_do_nothing())
        return start


def _save_cursor(reader: str, sequence: int) -> None:
    with get_engine().begin() as conn:
        conn.execute(monitor_cursors.update().where(monitor_cursors.c.name == _cursor_name(reader))
                     .values(cursor=str(sequence), updated_at=utcnow()))


def _cursor_name(reader: str) -> str:
    return f"events:{reader}"

