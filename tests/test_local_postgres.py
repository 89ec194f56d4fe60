"""The local stack's embedded Postgres is stopped when the stack is killed with SIGKILL (local/postgres.py's
watchdog), but not while another live process still uses it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent
# The stack's Postgres part, as local/stack.py starts it; prints the postmaster's pid, then waits to be killed.
OWNER = """
import sys
from pathlib import Path
from local import postgres
server = postgres.start_embedded(Path(sys.argv[1]))
print(server.get_pid(), flush=True)
sys.stdin.read()
"""


class Owner:
    def __init__(self, data_dir: Path):
        self.process = subprocess.Popen([sys.executable, "-c", OWNER, str(data_dir)], cwd=ROOT, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.process.stdout
        line = self.process.stdout.readline()  # start_embedded has its own timeouts
        assert line.strip().isdigit(), f"owner did not start Postgres (exit {self.process.poll()})"
        self.postmaster = psutil.Process(int(line))
        self.watchdogs = [child for child in psutil.Process(self.process.pid).children()
                          if "local.postgres" in child.cmdline() and "watch" in child.cmdline()]

    def sigkill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


def wait_until(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """Not pytest's tmp_path: as root the server runs as another user, which must traverse the parents, and
    every pytest session starting meanwhile makes /tmp/pytest-of-<user> private again."""
    path = Path(tempfile.mkdtemp(prefix="offerhub-pg-watchdog-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def owners(data_dir: Path) -> Iterator[list[Owner]]:
    started: list[Owner] = []
    yield started
    for owner in started:  # a failed test must not leave a server behind either
        if owner.process.poll() is None:
            owner.sigkill()
    for owner in started:
        wait_until(lambda owner=owner: not running(owner.postmaster), "the server stopped after the test")


def test_a_killed_stack_does_not_leave_postgres_running(data_dir: Path, owners: list[Owner]):
    owner = Owner(data_dir)
    owners.append(owner)
    assert running(owner.postmaster)

    owner.sigkill()  # no atexit, no signal handler: only the watchdog can stop the server now

    wait_until(lambda: not running(owner.postmaster), "the postmaster stopped")
    wait_until(lambda: not any(running(w) for w in owner.watchdogs), "the watchdog finished")
    assert not (data_dir / "pg" / "postmaster.pid").exists()  # a clean shutdown, not a crash
    assert "stopped it" in (data_dir / "pg-watchdog.log").read_text()


def test_the_server_keeps_running_while_another_owner_is_alive(data_dir: Path, owners: list[Owner]):
    first = Owner(data_dir)
    owners.append(first)
    second = Owner(data_dir)  # attaches to the running server (the library's shared owners)
    owners.append(second)
    assert second.postmaster.pid == first.postmaster.pid

    assert len(first.watchdogs) == 1, first.watchdogs
    first.sigkill()
    wait_until(lambda: not any(running(w) for w in first.watchdogs), "the first owner's watchdog finished")
    assert running(first.postmaster)

    second.sigkill()
    wait_until(lambda: not running(second.postmaster), "the postmaster stopped")
