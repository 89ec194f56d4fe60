"""EventBridge schedules, locally: each scheduled function runs on a daemon thread, SPEEDUP times more
often than in AWS (rate(1 minute) → every 3 s), so deposits show up within seconds in `make run`.

Each run gets the function's own timeout, and its remaining time drops to zero once `stop` is set: a
function that long-polls until its deadline (the stream dispatcher) winds down when the stack stops."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local.functions import LambdaContext

SPEEDUP = 20
# LOCAL_SCHEDULE_TRACE=<file>: one line per run, "<pid> <logical id> <epoch seconds>". Schedules run in the stack's
# main process only, never in its gateway workers (local/workers.py); the trace shows it.
_TRACE = os.environ.get("LOCAL_SCHEDULE_TRACE")


def start(functions: dict[str, tuple[float, Callable[[dict[str, Any], Any], Any]]], stop: threading.Event,
          timeouts: dict[str, float] | None = None) -> list[threading.Thread]:
    """functions: logical id → (rate in seconds, handler); timeouts: logical id → the function's Timeout."""
    threads = []
    for name, (rate, handler) in functions.items():
        timeout = (timeouts or {}).get(name, LambdaContext.timeout_seconds)
        thread = threading.Thread(target=_tick, args=(name, rate / SPEEDUP, handler, stop, timeout), daemon=True,
                                  name=f"schedule-{name}")
        thread.start()
        threads.append(thread)
    return threads


@dataclass
class _Context(LambdaContext):
    stop: threading.Event | None = None

    def get_remaining_time_in_millis(self) -> int:
        return 0 if self.stop is not None and self.stop.is_set() else super().get_remaining_time_in_millis()


def _tick(name: str, interval: float, handler: Callable[[dict[str, Any], Any], Any], stop: threading.Event,
          timeout: float = LambdaContext.timeout_seconds) -> None:
    while not stop.wait(interval):
        event = {"id": str(uuid.uuid4()), "source": "aws.events", "detail-type": "Scheduled Event",
                 "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "detail": {}}
        if _TRACE:  # which process ran which schedule when (tests/test_local_workers.py)
            with open(_TRACE, "a") as trace:
                trace.write(f"{os.getpid()} {name} {time.time():.3f}\n")
        try:
            handler(event, _Context(function_name=name, timeout_seconds=timeout, stop=stop))
        except Exception as exc:  # a failed run is retried on the next tick, as EventBridge would
            print(f"schedule {name}: {type(exc).__name__}: {exc}", flush=True)
