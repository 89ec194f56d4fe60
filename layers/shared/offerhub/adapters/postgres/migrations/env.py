"""Alembic environment: online migrations only, one transaction per run, serialised by an advisory lock."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, pool, text

# Two deploys (or two local stacks) migrating at once must not interleave.
_MIGRATION_LOCK = 7_146_401


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    # A database that does not answer, or a lock (another migration, a long transaction) that is never
    # released, fails the migration in bounded time instead of hanging a deploy.
    lock_timeout_ms = int(float(os.environ.get("MIGRATION_LOCK_TIMEOUT_SECONDS", "60")) * 1000)
    engine = create_engine(url, poolclass=pool.NullPool, connect_args={
        "prepare_threshold": None, "connect_timeout": int(os.environ.get("MIGRATION_CONNECT_TIMEOUT_SECONDS", "10")),
        "options": f"-c lock_timeout={lock_timeout_ms}"})
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK})
        connection.commit()
        try:
            context.configure(connection=connection, transaction_per_migration=False)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK})
            connection.commit()
    engine.dispose()


run_migrations_online()
