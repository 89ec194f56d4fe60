"""One SQLAlchemy engine per container, reused across invocations.

Settings that behave behind RDS Proxy: no server-side prepared statements (they pin sessions),
a small pool (a Lambda container serves one request at a time), a ping after idling, and recycling.
"""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import quote_plus

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

from offerhub.config import Settings, settings

_lock = threading.Lock()
_engine: Engine | None = None


def normalize_url(url: str) -> str:
    """Accept postgres://, postgresql:// and postgresql+psycopg:// spellings; always use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def with_database(url: str, database: str) -> str:
    """The same server, another database (tests and the local stack create their own)."""
    return make_url(normalize_url(url)).set(database=database).render_as_string(hide_password=False)


def database_url(cfg: Settings) -> str:
    if cfg.database_url:
        return normalize_url(cfg.database_url)
    if not cfg.database_secret_arn:
        raise RuntimeError("set DATABASE_URL or DATABASE_SECRET_ARN")
    from offerhub.adapters.aws.secrets import get_secret_json

    secret = get_secret_json(cfg.database_secret_arn)
    host = cfg.database_host or secret.get("host")
    port = cfg.database_port or secret.get("port", 5432)
    name = cfg.database_name or secret.get("dbname", "offerhub")
    user = quote_plus(str(secret["username"]))
    password = quote_plus(str(secret["password"]))
    return f"postgresql+psycopg://{user}:{password}@{host}:{port}/{name}?sslmode=require"


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
        connect_args={"prepare_threshold": None, "connect_timeout": 5},
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


def set_engine(engine: Engine | None) -> None:
    """Tests and the benchmark point the layer at their own database."""
    global _engine
    _engine = engine
