"""EventBridge schedules, locally: each scheduled function runs on a daemon thread, SPEEDUP times more
often than in AWS (rate(1 minute) → every 3 s), so deposits show up within seconds in `make run`."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from local.functions import LambdaContext

SPEEDUP = 20


def start(functions: dict[str, tuple[float, Callable[[dict[str, Any], Any], Any]]], stop: threading.Event) -> None:
    """functions: logical id → (rate in seconds, handler)."""
    for name, (rate, handler) in functions.items():
        threading.Thread(target=_tick, args=(name, rate / SPEEDUP, handler, stop), daemon=True,
                         name=f"schedule-{name}").start()


def _tick(name: str, interval: float, handler: Callable[[dict[str, Any], Any], Any], stop: threading.Event) -> None:
    while not stop.wait(interval):
        event = {"id": str(uuid.uuid4()), "source": "aws.events", "detail-type": "Scheduled Event",
                 "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "detail": {}}
        try:
            handler(event, LambdaContext(function_name=name))
        except Exception as exc:  # a failed run is retried on the next tick, as EventBridge would
            print(f"schedule {name}: {type(exc).__name__}: {exc}", flush=True)
