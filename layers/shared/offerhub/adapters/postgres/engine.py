"""One SQLAlchemy engine per container, reused across invocations.

Settings that behave behind RDS Proxy: no server-side prepared statements (they pin sessions),
a small pool (a Lambda container serves one request at a time), a ping after idling, and recycling.

Parameters hold user input (names, emails, metadata, webhook payloads), so they never reach a log: the engine
hides them from every SQLAlchemy error message, and `loggable_db_error` is what may be logged of a database
error (Postgres's own message, DETAIL and CONTEXT quote the values too, so they are left out).
"""

from __future__ import annotations

import threading
import time
import traceback
from typing import Any
from urllib.parse import quote_plus

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, StatementError
from sqlalchemy.pool import NullPool

from offerhub.config import Settings, settings

_lock = threading.Lock()
_engine: Engine | None = None
_unpooled: tuple[Engine, Engine] | None = None  # (the engine it follows, the unpooled one)
CONNECT_ARGS = {"prepare_threshold": None, "connect_timeout": 5}


def normalize_url(url: str) -> str:
    """Accept postgres://, postgresql:// and postgresql+psycopg:// spellings; always use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def with_database(url: str, database: str) -> str:
    """The same server, another database (tests and the local stack create their own)."""
    return make_url(normalize_url(url)).set(database=database).render_as_string(hide_password=False)


def database_url(cfg: Settings, *, fresh: bool = False) -> str:
    if cfg.database_url:
        return normalize_url(cfg.database_url)
    if not cfg.database_secret_arn:
        raise RuntimeError("set DATABASE_URL or DATABASE_SECRET_ARN")
    from offerhub.adapters.aws.secrets import get_secret_json

    secret = get_secret_json(cfg.database_secret_arn, fresh=fresh)
    host = cfg.database_host or secret.get("host")
    port = cfg.database_port or secret.get("port", 5432)
    name = cfg.database_name or secret.get("dbname", "offerhub")
    user = quote_plus(str(secret["username"]))
    password = quote_plus(str(secret["password"]))
    return f"postgresql+psycopg://{user}:{password}@{host}:{port}/{name}?sslmode={cfg.database_sslmode}"


# A connection that sat in the pool longer than this is pinged before use: between invocations a frozen
# Lambda's connection may have been closed by the proxy or the server. Inside a burst no ping is paid
# (pool_pre_ping would cost a round trip on every checkout, ~0.5 ms per request here).
IDLE_PING_SECONDS = 10.0


def build_engine(url: str, *, pool_size: int = 1, max_overflow: int = 0) -> Engine:
    engine = create_engine(
        normalize_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_recycle=300,
        hide_parameters=True,
        connect_args=dict(CONNECT_ARGS),
    )
    event.listen(engine, "checkin", _stamp_checkin)
    event.listen(engine, "checkout", _ping_if_idle)
    return engine


def _stamp_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    if time.monotonic() - record.info.get("checked_in_at", 0.0) < IDLE_PING_SECONDS:
        return
    try:
        dbapi_connection.execute("SELECT 1")
    except Exception as exc:
        raise DisconnectionError("stale pooled connection") from exc  # the pool reconnects and retries


def loggable_db_error(exc: BaseException) -> dict[str, Any] | None:
    """Log fields for an exception that is, or was caused by, a failed statement; None for any other.

    The statement (its placeholders, not its values), the error classes, the SQLSTATE, the names Postgres
    gives (table, column, constraint) and where it was raised: nothing that can hold a parameter."""
    failed = next((e for e in _chain(exc) if isinstance(e, StatementError)), None)
    if failed is None:
        return None
    orig = failed.orig
    diag = getattr(orig, "diag", None)
    fields: dict[str, Any] = {
        "error": type(exc).__name__,
        "dbError": f"{type(failed).__name__}({type(orig).__name__})" if orig is not None else type(failed).__name__,
        "sqlstate": getattr(orig, "sqlstate", None),
        "statement": failed.statement,
        "stack": [f"{f.filename}:{f.lineno} {f.name}" for f in traceback.extract_tb(exc.__traceback__)],
    }
    for name, key in (("table_name", "table"), ("column_name", "column"), ("constraint_name", "constraint")):
        if value := getattr(diag, name, None):
            fields[key] = value
    return fields


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def get_engine() -> Engine:
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                cfg = settings()
                _engine = build_engine(
                    database_url(cfg), pool_size=cfg.db_pool_size, max_overflow=cfg.db_max_overflow
                )
    return _engine


def unpooled_engine() -> Engine:
    """The same database, but each connection opened for one use and closed after it (NullPool): for a connection
    held for a whole run (a session-level lock) that must not take one of the pool's, which DB_POOL_SIZE sizes for
    the work itself. It follows get_engine() when that is rebuilt (a rotated password) or replaced (tests)."""
    global _unpooled
    engine = get_engine()
    with _lock:
        if _unpooled is None or _unpooled[0] is not engine:
            _unpooled = (engine, create_engine(engine.url, poolclass=NullPool, hide_parameters=True,
                                               connect_args=dict(CONNECT_ARGS)))
        return _unpooled[1]


# SQLSTATE class 28: the server refused the credentials (a rotated password, a role no longer allowed in).
_CREDENTIALS_REFUSED = ("28000", "28P01")


def credentials_refused(exc: BaseException) -> bool:
    for e in _chain(exc):
        if getattr(e, "sqlstate", None) in _CREDENTIALS_REFUSED:
            return True
        text = str(e)
        if "password authentication failed" in text or "is not permitted to log in" in text:
            return True  # libpq's connect failures carry no SQLSTATE of their own
    return False


def renew_engine(failed: Engine) -> bool:
    """The credentials of `failed` were refused: if they come from the database secret, read it afresh (past
    its cache) and build the engine again, once however many threads saw the failure. False when the URL is
    fixed (DATABASE_URL): nothing to re-read, the refusal stands."""
    global _engine
    cfg = settings()
    if cfg.database_url or not cfg.database_secret_arn:
        return False
    with _lock:
        if _engine is failed:
            _engine = build_engine(database_url(cfg, fresh=True), pool_size=cfg.db_pool_size,
                                   max_overflow=cfg.db_max_overflow)
            failed.dispose()
    return True


def set_engine(engine: Engine | None) -> None:
    """Tests and the benchmark point the layer at their own database."""
    global _engine
    _engine = engine
