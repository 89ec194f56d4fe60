"""The unit of work: one database transaction in which a state change, its ledger lines, its audit
row and its events are written together or not at all."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from psycopg.pq import TransactionStatus
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from offerhub.adapters.postgres.engine import credentials_refused, get_engine, renew_engine
from offerhub.core.context import RequestContext
from offerhub.core.errors import ServiceUnavailable
from offerhub.observability import count, traced


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
    counts: list[tuple[str, float]] = field(default_factory=list)
    audit_rows: list[dict[str, Any]] = field(default_factory=list)

    def emit(self, type: str, aggregate_type: str, aggregate_id: str, data: dict[str, Any]) -> None:
        """Queue a domain event; it is appended to the event log just before commit."""
        self.events.append(PendingEvent(type, aggregate_type, aggregate_id, data))

    def audit(self, row: dict[str, Any]) -> None:
        """Queue an audit row (audit.store.new_row); it is written with the events, just before commit."""
        self.audit_rows.append(row)

    def count(self, metric: str, value: float = 1) -> None:
        """Count a metric (offerhub.observability.METRICS) once this transaction commits: a rolled-back credit
        is not counted, and its retry counts once."""
        self.counts.append((metric, value))


@contextmanager
def transaction(ctx: RequestContext) -> Iterator[UnitOfWork]:
    from offerhub.audit.store import insert_rows
    from offerhub.events.store import append_events

    with traced("postgres"), _database_reachable(), connect() as conn, conn.begin():
        uow = UnitOfWork(conn=conn, ctx=ctx)
        yield uow
        if uow.events:  # the audit rows ride along: one round trip before the commit for both
            append_events(conn, uow.events, ctx.request_id, uow.audit_rows)
        elif uow.audit_rows:
            insert_rows(conn, uow.audit_rows)
    for metric, value in uow.counts:  # committed
        count(metric, value)


@contextmanager
def read_only() -> Iterator[Connection]:
    with traced("postgres"), _database_reachable(), connect() as conn:
        yield conn


@contextmanager
def one_statement() -> Iterator[Connection]:
    """A connection in autocommit, for a read (or a self-contained write) that is a single statement: the statement
    is its own transaction, with no BEGIN and ROLLBACK round trips around it (read_only() costs three, the
    statement included). Under READ COMMITTED a statement sees the same snapshot either way."""
    with read_only() as conn:
        raw = conn.connection.dbapi_connection
        if raw is None:
            yield conn
            return
        if raw.info.transaction_status != TransactionStatus.IDLE:
            raw.rollback()  # the pool's ping after an idle spell (adapters.postgres.engine) left one open
        # psycopg's own switch, not execution_options(isolation_level=...): that one costs SQLAlchemy more CPU than
        # the round trips it saves. Switched back before the connection returns to the pool.
        raw.autocommit = True
        try:
            yield conn
        finally:
            if not raw.closed:
                raw.autocommit = False


def connect(engine_of: Callable[[], Engine] = get_engine) -> Connection:
    """A connection from the pool (or from `engine_of`: `unpooled_engine` for one of its own); when the server
    refuses the credentials (the secret was rotated), the engine is rebuilt from the secret read afresh and the
    connect tried once more."""
    engine = get_engine()
    try:
        return engine_of().connect()
    except OperationalError as exc:
        if not (credentials_refused(exc) and renew_engine(engine)):
            raise
    return engine_of().connect()


@contextmanager
def _database_reachable() -> Iterator[None]:
    """A lost or refused connection is the database's outage, not a bug: 503, safe to retry."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        raise ServiceUnavailable("the database is unavailable; retry later", code="DATABASE_UNAVAILABLE") from exc
