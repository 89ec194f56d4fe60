"""Count the round trips to Postgres that an action makes (tests/test_rate_limits.py, bench/ratelimit.py)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any


def round_trips(action: Callable[[], Any], *, warm_first: bool = False) -> int:
    """Messages that wait for the server (a Sync closing an extended query, or a simple Query), from libpq's
    protocol trace of every connection the action checks out of the engine's pool. `warm_first` runs the action
    once untraced, so a pooled connection's pre-ping is not counted against it."""
    from psycopg import pq
    from sqlalchemy import event

    from offerhub.adapters.postgres.engine import get_engine

    engine = get_engine()
    if warm_first:
        action()
    with tempfile.NamedTemporaryFile("w+") as trace:
        def start(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
            dbapi_connection.pgconn.trace(trace.fileno())
            dbapi_connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)

        def stop(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.pgconn.untrace()

        event.listen(engine, "checkout", start)
        event.listen(engine, "checkin", stop)
        try:
            action()
        finally:
            event.remove(engine, "checkout", start)
            event.remove(engine, "checkin", stop)
        trace.seek(0)
        sent = [line.split("\t") for line in trace.read().splitlines()]
    return sum(1 for parts in sent if len(parts) > 2 and parts[0] == "F" and parts[2] in ("Sync", "Query"))
