"""The unit of work: one database transaction in which a state change, its ledger lines, its audit
row and its events are written together or not at all."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import InterfaceError, OperationalError

from offerhub.adapters.postgres.engine import credentials_refused, get_engine, renew_engine
from offerhub.core.context import RequestContext
from offerhub.core.errors import ServiceUnavailable


@dataclass
class PendingEvent:
    type: str
    aggregate_type: str
    aggregate_id: str
    data: dict[str, Any]


@dataclass
class UnitOfWork:
    conn: Connection
    ctx: RequestContext
    events: list[PendingEvent] = field(default_factory=list)

    def emit(self, type: str, aggregate_type: str, aggregate_id: str, data: dict[str, Any]) -> None:
        """Queue a domain event; it is appended to the event log just before commit."""
        self.events.append(PendingEvent(type, aggregate_type, aggregate_id, data))


@contextmanager
def transaction(ctx: RequestContext) -> Iterator[UnitOfWork]:
    from offerhub.events.store import append_events

    with _database_reachable(), _connect() as conn, conn.begin():
        uow = UnitOfWork(conn=conn, ctx=ctx)
        yield uow
        if uow.events:
            append_events(conn, uow.events, ctx.request_id)


@contextmanager
def read_only() -> Iterator[Connection]:
    with _database_reachable(), _connect() as conn:
        yield conn


def _connect() -> Connection:
    """A connection from the pool; when the server refuses the credentials (the secret was rotated), the
    engine is rebuilt from the secret read afresh and the connect tried once more."""
    engine = get_engine()
    try:
        return engine.connect()
    except OperationalError as exc:
        if not (credentials_refused(exc) and renew_engine(engine)):
            raise
    return get_engine().connect()


@contextmanager
def _database_reachable() -> Iterator[None]:
    """A lost or refused connection is the database's outage, not a bug: 503, safe to retry."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        raise ServiceUnavailable("the database is unavailable; retry later", code="DATABASE_UNAVAILABLE") from exc
