"""One engine per container, connections reused across invocations, stale ones replaced."""

from __future__ import annotations

from sqlalchemy import text

from offerhub.adapters.postgres import engine as engine_module
from offerhub.adapters.postgres.engine import get_engine
from offerhub.adapters.postgres.unit_of_work import read_only
from offerhub.config import settings


def test_one_engine_per_container_and_the_connection_is_reused(database_url, monkeypatch):
    monkeypatch.setattr(engine_module, "_engine", None)  # a fresh container
    settings.cache_clear()
    try:
        first = get_engine()
        assert get_engine() is first
        assert first.pool.size() == 1  # DB_POOL_SIZE default: a Lambda serves one request at a time
        with read_only() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with read_only() as conn:
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() == pid
        first.dispose()
    finally:
        settings.cache_clear()


def test_a_connection_killed_while_idle_is_replaced_not_returned(database_url, monkeypatch):
    """A frozen Lambda's pooled connection may be closed by the server; the next request must not fail."""
    from offerhub.adapters.postgres import engine as engine_module

    engine = engine_module.build_engine(database_url)
    with engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with get_engine().connect() as admin:
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    monkeypatch.setattr(engine_module, "IDLE_PING_SECONDS", 0.0)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
    engine.dispose()
