"""`make run` on every core (local/workers.py): the HTTP API served by OFFERHUB_WORKERS gateway processes on one port,
everything with state (schedules, pollers, moto, the rails, the WebSocket API) once, in the main process."""

from __future__ import annotations

import itertools
import os
import re
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.e2e.stack import Stack, eventually

pytestmark = pytest.mark.e2e
WORKER_HEADER = "x-offerhub-worker"


def _workers(stack: Stack) -> list[psutil.Process]:
    return [p for p in stack.descendants() if "local.workers" in " ".join(p.cmdline())]


def _answered_by(stack: Stack, requests: int = 40) -> set[int]:
    """The worker pids that answered, each request on a new connection (the main process deals connections)."""
    pids = set()
    for _ in range(requests):
        response = httpx.get(f"{stack.base}/health", headers={"connection": "close"}, timeout=30)
        assert response.status_code == 200, response.text
        pids.add(int(response.headers[WORKER_HEADER]))
    return pids


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("schedules") / "trace.log"


@pytest.fixture(scope="module")
def stack(fresh_database_url, tmp_path_factory: pytest.TempPathFactory, trace: Path) -> Iterator[Stack]:
    running = Stack({"DATABASE_URL": fresh_database_url(), "OFFERHUB_WORKERS": "2", "LOCAL_SCHEDULE_TRACE": str(trace),
                     "OFFERHUB_DATA_DIR": str(tmp_path_factory.mktemp("workers-data"))})
    yield running
    if running.process.poll() is None:
        running.stop()


def test_requests_spread_over_the_workers(stack: Stack):
    workers = {p.pid for p in _workers(stack)}
    assert len(workers) == 2
    assert stack.process.pid not in workers
    assert _answered_by(stack) == workers


def test_keep_alive_connections_are_dealt_to_the_workers_in_turn(stack: Stack):
    """Eight clients that keep their connection are four per worker, every time (hashed by the kernel, as with one
    SO_REUSEPORT socket per worker, they were 5:3 or worse two times in three)."""
    for _ in range(3):
        clients = [httpx.Client(base_url=stack.base, timeout=30) for _ in range(8)]
        try:
            answered = [int(c.get("/health").headers[WORKER_HEADER]) for c in clients]
            assert [int(c.get("/health").headers[WORKER_HEADER]) for c in clients] == answered  # the same connection
        finally:
            for client in clients:
                client.close()
        assert sorted(Counter(answered).values()) == [4, 4], answered


def test_the_schedules_run_once_in_the_main_process(stack: Stack, trace: Path):
    from local import template as tpl

    scheduled = {name for name, fn in tpl.load().functions.items() if fn.schedules}

    def runs() -> list[tuple[int, str, float]] | None:
        lines = [line.split() for line in trace.read_text().splitlines()] if trace.exists() else []
        parsed = [(int(pid), name, float(at)) for pid, name, at in lines]
        counts = {name: sum(1 for _, n, _ in parsed if n == name) for name in scheduled}
        # Every schedule once, and the monitor (a short run every 3 s) several times. The stream dispatcher
        # long-polls through most of its minute, so a second run of it could be a minute away.
        return parsed if counts and min(counts.values()) >= 1 and counts["MonitorFunction"] >= 3 else None

    parsed = eventually(runs, "every schedule to run", timeout=90)
    assert {pid for pid, _, _ in parsed} == {stack.process.pid}  # never in a worker
    assert {name for _, name, _ in parsed} == scheduled
    for name in scheduled:  # once per tick, not once per process: ticks are a whole interval apart
        times = sorted(at for _, n, at in parsed if n == name)
        rate = min(tpl.load().functions[name].schedules) / 20  # local/schedules.py SPEEDUP
        assert all(later - earlier >= rate * 0.9 for earlier, later in itertools.pairwise(times)), (
            name, times)


def test_a_worker_that_dies_is_reported_and_replaced(stack: Stack):
    victim = _workers(stack)[0]
    os.kill(victim.pid, signal.SIGKILL)
    eventually(lambda: any(f"(pid {victim.pid}) was killed by signal 9" in line for line in stack.output),
              "the death report")
    restarted = eventually(lambda: re.search(r"restarted as pid (\d+)", "".join(stack.output)), "the restart")
    replacement = int(restarted.group(1))
    assert {p.pid for p in _workers(stack)} == {replacement} | {p.pid for p in _workers(stack) if p.pid != replacement}
    assert victim.pid not in {p.pid for p in _workers(stack)}
    eventually(lambda: replacement in _answered_by(stack, 10), "the new worker to answer")


def test_sigterm_stops_every_worker_then_the_stack(stack: Stack):
    processes = [psutil.Process(stack.process.pid), *stack.descendants()]
    assert len(_workers(stack)) == 2
    assert stack.stop() == 0, "".join(stack.output)
    _gone, alive = psutil.wait_procs(processes, timeout=10)
    assert not alive, [p.cmdline() for p in alive]  # no orphan: every worker ended with the stack
    assert "Traceback" not in "".join(stack.output), "".join(stack.output)


def test_the_default_is_two_workers_per_core_up_to_eight(monkeypatch):
    from local.workers import worker_count

    monkeypatch.delenv("OFFERHUB_WORKERS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert worker_count() == 6
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert worker_count() == 8
    monkeypatch.setenv("OFFERHUB_WORKERS", "1")
    assert worker_count() == 1
    monkeypatch.setenv("OFFERHUB_WORKERS", "79")
    with pytest.raises(SystemExit):
        worker_count()


@pytest.mark.parametrize("count", range(1, 79))
def test_the_processes_pools_stay_within_postgres_connections(count):
    from local.workers import CONNECTION_BUDGET, MAIN_PROCESS_CONNECTIONS, worker_pool

    pool, overflow = worker_pool(count)
    assert pool >= 1 and overflow >= 0
    assert MAIN_PROCESS_CONNECTIONS + count * (pool + overflow) <= CONNECTION_BUDGET < 100


def test_a_few_workers_keep_the_full_pools(stack: Stack):
    from local.workers import worker_pool

    assert worker_pool(4) == (4, 8)
    assert worker_pool(32) == (2, 0)
    for worker in _workers(stack):  # what the main process spawned them with
        assert (worker.environ()["DB_POOL_SIZE"], worker.environ()["DB_MAX_OVERFLOW"]) == ("4", "8")


def test_one_worker_is_the_single_process_stack(fresh_database_url, tmp_path: Path):
    single = Stack({"DATABASE_URL": fresh_database_url(), "OFFERHUB_WORKERS": "1",
                    "OFFERHUB_DATA_DIR": str(tmp_path)})
    try:
        assert _workers(single) == []
        assert _answered_by(single, 3) == {single.process.pid}
    finally:
        assert single.stop() == 0, "".join(single.output)


def test_a_port_picked_for_the_services_is_never_the_gateways(monkeypatch):
    """PORT is bound only once the gateway starts: until then the kernel may hand it out as a free port."""
    from types import SimpleNamespace

    from local import stack as local_stack

    handed = iter([4100, 4100, 4101])

    class Probe:
        def __enter__(self) -> Probe:
            return self

        def __exit__(self, *_: object) -> None:
            return None

        def bind(self, _: object) -> None:
            return None

        def getsockname(self) -> tuple[str, int]:
            return "127.0.0.1", next(handed)

    monkeypatch.setattr(local_stack, "socket", SimpleNamespace(socket=Probe))
    monkeypatch.setenv("PORT", "4100")
    assert local_stack._free_port() == 4101
