"""HTTP load against the real local stack (`BENCH_ONLY=http make bench` for just this section).

`python -m local.stack` starts as a subprocess on a free PORT, with its own data dir (embedded Postgres, sandbox
chain) in a temp folder, in crypto mode, the rate limits out of the way. A stdlib client (http.client, keep-alive,
one connection per thread) sends REQUESTS requests per cell after a warm-up, in two rounds that interleave the
cells, so a neighbour's load on the shared machine drifts both sides of each ratio alike.

Per cell: req/s, p50/p90/p99 latency, and CPU per request: user+sys of the stack's processes (the parent, its
gateway workers, the watchdog: the process tree) and, apart, of the embedded Postgres (the postmaster and its
backends) and of this client, each as a delta over the cell divided by its requests; and the machine's idle share
over the cell (the client shares the two cores, so 8 threads can at best use what 1 thread leaves idle).

BENCH_HTTP_REQUESTS changes the requests per cell (2,000; BENCH_HTTP_REQUESTS_<CELL> for one cell), BENCH_HTTP_ROUNDS
the rounds (2), BENCH_HTTP_CELLS the cells (comma-separated names: health, balance, users, reserve), OFFERHUB_WORKERS
the stack's gateway workers; BENCH_HTTP_ECHO=1 prints the stack's output.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from local.launcher import StackProcess
from local.workers import worker_count

ROOT = Path(__file__).resolve().parent.parent
REQUESTS = int(os.environ.get("BENCH_HTTP_REQUESTS", "2000"))
ROUNDS = int(os.environ.get("BENCH_HTTP_ROUNDS", "2"))
WARMUP = 200
REQUEST_TIMEOUT = 30.0
THREADS = (1, 8)
CELLS = ("health", "balance", "users", "reserve")
GOALS = {"health": {"cpu": 1.2, "rps8": 1200}, "balance": {"cpu": 2.0, "rps8": 700}}
SCALING_GOAL = 1.7


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class LocalStack(StackProcess):
    """`python -m local.stack` on a free port with a throwaway data dir (local/launcher.py); stopped with SIGTERM."""

    def __init__(self, master: str, env: dict[str, str] | None = None):
        self.data_dir = Path(tempfile.mkdtemp(prefix="offerhub-bench-http-"))
        full = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("AWS_ENDPOINT_URL")}
        full.update({"PORT": "", "MOTO_PORT": "", "OFFERHUB_DATA_DIR": str(self.data_dir),
                     "OFFERHUB_MASTER_KEY": master, "PAYMENT_PROVIDER": "crypto",
                     "RATE_LIMIT_PER_KEY": "100000000", "RATE_LIMIT_CREATE_PER_KEY": "100000000",
                     "RATE_LIMIT_PER_IP": "100000000", **(env or {})})
        # BENCH_HTTP_ECHO: the stack's own output, for a look when a cell fails.
        super().__init__(full, ready_timeout=120, echo=bool(os.environ.get("BENCH_HTTP_ECHO")))

    def cpu_seconds(self) -> tuple[float, float]:
        """(the stack's process tree, the embedded Postgres) user+sys seconds so far."""
        return _tree_cpu(self.process.pid), _tree_cpu(self._postmaster())

    def settle(self, busy: float = 0.1, timeout: float = 60.0) -> None:
        """Wait (up to `timeout`) until the stack uses less than `busy` of a core: work a cell left behind (wallet
        activations on the queue after POST /users) must not be counted against the next cell."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            before = sum(self.cpu_seconds())
            time.sleep(0.5)
            if sum(self.cpu_seconds()) - before < busy * 0.5:
                return

    def _postmaster(self) -> int | None:
        try:
            return int((self.data_dir / "pg" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self, timeout: float = 60) -> int:
        try:
            return super().stop(timeout)
        finally:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def _own_cpu(pid: int) -> float:
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return times.user + times.system


def _tree_cpu(pid: int | None) -> float:
    """user+sys of a process and its descendants, with the children it has reaped (Postgres's exited backends)."""
    if pid is None:
        return 0.0
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
        reaped = root.cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    total = reaped.children_user + reaped.children_system
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


class Client:
    """One keep-alive connection."""

    def __init__(self, port: int):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)

    def send(self, method: str, path: str, headers: dict[str, str], body: Any = None) -> tuple[int, bytes]:
        payload = None if body is None else json.dumps(body).encode()
        all_headers = {**headers, **({"content-type": "application/json"} if payload is not None else {})}
        self.connection.request(method, path, body=payload, headers=all_headers)
        response = self.connection.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self.connection.close()


Request = tuple[str, str, dict[str, str], Any, int]  # method, path, headers, body, expected status


@dataclass
class Cell:
    name: str
    label: str
    next_request: Callable[[], Request]
    prepare: Callable[[int], None] = lambda n: None  # makes what n more requests consume (orders to reserve)
    # Waits for the work the cell's answers left behind (wallet activations after POST /users), so it is not counted
    # against the next cell: stack.settle() alone is fooled by an activator that waits on the sandbox chain.
    finish: Callable[[list[bytes]], None] | None = None


@dataclass
class Result:
    rps: float
    latencies: list[float] = field(default_factory=list)
    cpu_ms: float = 0.0
    pg_ms: float = 0.0
    client_ms: float = 0.0  # this load client's own CPU per request (every thread of the bench process)
    main_ms: float = 0.0  # the stack's main process alone (schedules, pollers, moto, rails: no gateway worker)
    idle: float = 0.0  # the machine's idle share over the cell (all cores; steal counted apart)
    steal: float = 0.0
    iowait: float = 0.0  # part of idle: waiting on the disk (Postgres's checkpoints, WAL flushes)


def run_cell(stack: LocalStack, cell: Cell, threads: int, n: int, warmup: int = WARMUP) -> Result:
    cell.prepare(n + warmup)
    clients = [Client(stack.port) for _ in range(threads)]
    lock = threading.Lock()
    errors: list[str] = []
    answers: list[bytes] = []

    def drive(client: Client, budget: Iterator[int], out: list[float]) -> None:
        while True:
            with lock:
                if errors or next(budget, None) is None:
                    return
                method, path, headers, body, expected = cell.next_request()
            t0 = time.perf_counter()
            try:
                status, data = client.send(method, path, headers, body)
            except OSError as exc:
                errors.append(f"{method} {path}: {type(exc).__name__}: {exc}")
                return
            out.append((time.perf_counter() - t0) * 1000)
            if status != expected:
                errors.append(f"{method} {path}: {status} {data[:300]!r}")
                return
            if cell.finish is not None:
                answers.append(data)

    def phase(count: int) -> tuple[list[float], float]:
        budget = iter(range(count))
        samples: list[list[float]] = [[] for _ in clients]
        workers = [threading.Thread(target=drive, args=(c, budget, s)) for c, s in zip(clients, samples, strict=True)]
        t0 = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        elapsed = time.perf_counter() - t0
        if errors:
            raise RuntimeError(f"{cell.name}: {errors[0]}")
        return list(itertools.chain.from_iterable(samples)), elapsed

    try:
        stack.settle()  # before the warm-up: an idle keep-alive connection is closed after 5 s
        phase(warmup)
        cpu0, pg0 = stack.cpu_seconds()
        client0, machine0, main0 = time.process_time(), psutil.cpu_times(), _own_cpu(stack.process.pid)
        latencies, elapsed = phase(n)
        client1, machine1, main1 = time.process_time(), psutil.cpu_times(), _own_cpu(stack.process.pid)
        cpu1, pg1 = stack.cpu_seconds()
    finally:
        for c in clients:
            c.close()
    if cell.finish is not None:
        cell.finish(answers)
    spent = {k: getattr(machine1, k) - getattr(machine0, k) for k in machine0._fields}
    total = sum(spent.values()) or 1.0
    return Result(rps=n / elapsed, latencies=latencies, cpu_ms=(cpu1 - cpu0) * 1000 / n, pg_ms=(pg1 - pg0) * 1000 / n,
                  client_ms=(client1 - client0) * 1000 / n, main_ms=(main1 - main0) * 1000 / n,
                  idle=(spent["idle"] + spent.get("iowait", 0)) / total, steal=spent.get("steal", 0) / total,
                  iowait=spent.get("iowait", 0) / total)


def setup(stack: LocalStack, master: str) -> dict[str, Cell]:
    client = Client(stack.port)
    api = "/api/v1"

    def call(method: str, path: str, key: str, body: Any = None, expected: tuple[int, ...] = (200, 201)) -> Any:
        status, data = client.send(method, api + path, {"authorization": f"Bearer {key}"}, body)
        if status not in expected:
            raise RuntimeError(f"{method} {path}: {status} {data[:300]!r}")
        return json.loads(data)["data"]

    key = call("POST", "/auth/api-keys", master, {"name": "bench-http", "scopes": ["read", "write", "support"]})["key"]
    auth = {"authorization": f"Bearer {key}"}
    buyer = call("POST", "/users", key, {"externalUserId": "bench-http-buyer"})["id"]
    seller = call("POST", "/users", key, {"externalUserId": "bench-http-seller"})["id"]
    wait_for_activations(stack, key, [buyer, seller])
    # Reserve in crypto mode checks the chain: real USDC in the buyer's wallet, credited by the monitor schedule.
    call("POST", "/test-helpers/deposits", key, {"userId": buyer, "amount": "1000000.00"})
    deadline = time.monotonic() + 60
    while call("GET", f"/balance/{buyer}", key)["available"] != "1000000.00":
        if time.monotonic() > deadline:
            raise RuntimeError("the deposit was not credited within 60 s")
        time.sleep(0.2)
    client.close()

    counter = itertools.count()
    run_id = secrets.token_hex(3)
    orders: list[str] = []

    def make_orders(n: int) -> None:
        def create(budget: Iterator[int]) -> None:
            c = Client(stack.port)
            try:
                while next(budget, None) is not None:
                    status, data = c.send("POST", api + "/orders", auth,
                                          {"buyerId": buyer, "sellerId": seller, "amount": "1.00", "title": "bench"})
                    if status != 201:
                        raise RuntimeError(f"POST /orders: {status} {data[:300]!r}")
                    orders.append(json.loads(data)["data"]["id"])
            finally:
                c.close()

        budget = iter(range(n))
        failures: list[BaseException] = []

        def guarded(budget: Iterator[int]) -> None:
            try:
                create(budget)
            except BaseException as exc:
                failures.append(exc)

        makers = [threading.Thread(target=guarded, args=(budget,)) for _ in range(8)]
        for m in makers:
            m.start()
        for m in makers:
            m.join()
        if failures:
            raise failures[0]

    return {
        "health": Cell("health", "GET /health", lambda: ("GET", api + "/health", {}, None, 200)),
        "balance": Cell("balance", "GET /balance/{userId}",
                        lambda: ("GET", f"{api}/balance/{buyer}", auth, None, 200)),
        "users": Cell("users", "POST /users (crypto)", lambda: (
            "POST", api + "/users", auth, {"externalUserId": f"bench-{run_id}-{next(counter)}"}, 201),
            finish=lambda answers: wait_for_activations(stack, key, [json.loads(a)["data"]["id"] for a in answers])),
        "reserve": Cell("reserve", "POST /orders/{id}/reserve",
                        lambda: ("POST", f"{api}/orders/{orders.pop()}/reserve", auth, None, 200),
                        prepare=make_orders),
    }


def wait_for_activations(stack: LocalStack, key: str, user_ids: list[str], timeout: float = 600.0) -> None:
    """Until every one of the users' wallets is ACTIVE (the relay queued it, the stack's queue poller ran the
    activator): eight clients read GET /users/{id}/wallet/deposit, and read again the ones not ready yet."""
    waiting, t0 = list(user_ids), time.monotonic()

    def still_waiting(ids: list[str], out: list[str]) -> None:
        client, auth = Client(stack.port), {"authorization": f"Bearer {key}"}
        try:
            for u in ids:
                status, data = client.send("GET", f"/api/v1/users/{u}/wallet/deposit", auth)
                if status != 200 or not json.loads(data)["data"]["ready"]:
                    out.append(u)
        finally:
            client.close()

    while waiting:
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"{len(waiting)} wallets were not activated within {timeout:.0f} s")
        parts: list[list[str]] = [[] for _ in range(8)]
        threads = [threading.Thread(target=still_waiting, args=(waiting[i::8], parts[i])) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        waiting = list(itertools.chain.from_iterable(parts))
        if waiting:
            time.sleep(0.5)
    if len(user_ids) > 2:
        print(f"  .. {len(user_ids)} wallet activations done {time.monotonic() - t0:.1f} s after the cell", flush=True)


def _requests(cell: str) -> int:
    """BENCH_HTTP_REQUESTS_<CELL> (e.g. BENCH_HTTP_REQUESTS_USERS=300) overrides the count for one cell."""
    return int(os.environ.get(f"BENCH_HTTP_REQUESTS_{cell.upper()}") or REQUESTS)


def bench_http() -> None:
    master = "bench-http-master-" + secrets.token_hex(8)
    names = [n.strip() for n in os.environ.get("BENCH_HTTP_CELLS", ",".join(CELLS)).split(",") if n.strip()]
    workers = os.environ.get("OFFERHUB_WORKERS") or f"{worker_count()} (the default)"
    print(f"\nHTTP load against `python -m local.stack` (crypto mode, {workers} gateway workers): stdlib client, "
          f"keep-alive, one connection per thread, {REQUESTS} requests per cell after {WARMUP} warm-up, "
          f"{ROUNDS} interleaved rounds; CPU = user+sys per request of the stack's processes / of Postgres / of "
          f"this client; idle = the machine's idle share")
    stack = LocalStack(master)
    try:
        cells = setup(stack, master)
        results: dict[tuple[str, int], list[Result]] = {}
        for _ in range(ROUNDS):
            for name in names:
                for threads in THREADS:
                    result = run_cell(stack, cells[name], threads, _requests(name))
                    results.setdefault((name, threads), []).append(result)
                    print(f"  .. {cells[name].label:<26} {threads:>3} {result.rps:>8,.0f} req/s "
                          f"{result.cpu_ms:>6.2f} ms CPU/req (main process {result.main_ms:.2f}), "
                          f"client {result.client_ms:.2f} ms, machine idle {result.idle:.0%} "
                          f"(iowait {result.iowait:.0%}) steal {result.steal:.0%}", flush=True)
        print(f"  {'endpoint':<26} {'thr':>3} {'req/s':>13} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} "
              f"{'CPU ms/req':>11} {'PG ms/req':>10} {'client ms':>10} {'idle':>5}")
        for name in names:
            for threads in THREADS:
                runs = results[(name, threads)]
                lat = list(itertools.chain.from_iterable(r.latencies for r in runs))
                rps = " - ".join(f"{r.rps:,.0f}" for r in sorted(runs, key=lambda r: r.rps))
                cpu = statistics.fmean(r.cpu_ms for r in runs)
                pg = statistics.fmean(r.pg_ms for r in runs)
                client = statistics.fmean(r.client_ms for r in runs)
                idle = statistics.fmean(r.idle for r in runs)
                print(f"  {cells[name].label:<26} {threads:>3} {rps:>13} {percentile(lat, 50):>7.2f} "
                      f"{percentile(lat, 90):>7.2f} {percentile(lat, 99):>7.2f} {cpu:>11.2f} {pg:>10.2f} "
                      f"{client:>10.2f} {idle:>5.0%}")
        for name in ("health", "balance"):
            if name not in names:
                continue
            ratios = [r8.rps / r1.rps for r1, r8 in zip(results[(name, 1)], results[(name, 8)], strict=True)]
            # Of the rounds' means too: a round's two cells run seconds apart, and the machine's speed drifts.
            overall = statistics.fmean(r.rps for r in results[(name, 8)]) / statistics.fmean(
                r.rps for r in results[(name, 1)])
            best8 = max(r.rps for r in results[(name, 8)])
            cpu1 = statistics.fmean(r.cpu_ms for r in results[(name, 1)])
            goal = GOALS[name]
            print(f"  {name}: 8-thread / 1-thread {' '.join(f'{x:.2f}x' for x in ratios)} per round, {overall:.2f}x "
                  f"of the means (goal >= {SCALING_GOAL}x); "
                  f"1-thread CPU {cpu1:.2f} ms/req (goal <= {goal['cpu']}); best 8-thread {best8:,.0f} req/s "
                  f"(goal >= {goal['rps8']:,})")
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.path[:0] = [str(ROOT / "layers" / "shared"), str(ROOT)]
    bench_http()
