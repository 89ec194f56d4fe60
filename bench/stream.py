"""The event stream in `make bench` (`BENCH_ONLY=stream` for this section alone): push latency from an event's
commit to its arrival at a WebSocket client, p50/p99, with CONNECTIONS clients connected to the local gateway
(uvicorn, the template's ws functions, the emulated Management API) and the stream dispatcher running as its
schedule runs it (one long-polling invocation, polling every 250 ms, posting through boto3 from 4 threads, as
`make run` does: WS_PUSH_WORKERS).

Everything shares one process and one GIL on the 2-core machine: the clients, the gateway, moto (DynamoDB) and
the dispatcher, so each frame pays both ends of an HTTP call in Python (the boto3 post, about 2.5 ms of CPU here,
and uvicorn serving it) plus the WebSocket send and receive. In AWS the Management API is API Gateway's: a post
costs the dispatcher its boto3 CPU and a network round trip, which its 16 threads overlap. The poll interval
(250 ms) is the floor either way: half of it on average.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

CONNECTIONS = 100
PACED = int(os.environ.get("BENCH_STREAM_EVENTS", "20"))
PACE_SECONDS = 2.0  # one event every 2 s (50 frames/s): latency, not queueing, is what this part measures
BURST = 20  # then this many at once (2,000 frames): how fast one run fans out
EVENTS = PACED + BURST


def bench_stream(master: str, percentile: Callable[[list[float], float], float]) -> None:
    from offerhub.adapters.postgres import engine

    # `make run`'s pool: the handlers share this process and run at once (a Lambda container serves one).
    previous = engine.get_engine()
    engine.set_engine(engine.build_engine(os.environ["DATABASE_URL"], pool_size=4, max_overflow=8))
    try:
        _bench(master, percentile)
    finally:
        engine.get_engine().dispose()
        engine.set_engine(previous)


def _bench(master: str, percentile: Callable[[list[float], float], float]) -> None:
    import boto3

    from local import websocket
    from local.functions import load_handler
    from local.gateway import create_gateway
    from local.sandbox.rails import free_port, serve_in_thread
    from local.template import load
    from offerhub.adapters.postgres.unit_of_work import transaction
    from offerhub.core.context import RequestContext
    from offerhub.streaming.config import stream_settings
    from offerhub.streaming.dispatcher import Dispatcher, run
    from tests.lambda_client import call

    template = load()
    api = websocket.load(template)
    assert api is not None
    table = "offerhub-bench-connections-" + secrets.token_hex(3)
    props = template.resources["ConnectionsTable"]["Properties"]
    boto3.client("dynamodb").create_table(TableName=table, KeySchema=props["KeySchema"],
                                          AttributeDefinitions=props["AttributeDefinitions"],
                                          BillingMode="PAY_PER_REQUEST")
    port = free_port()
    os.environ.update({"CONNECTIONS_TABLE": table, "WS_MANAGEMENT_URL": f"http://127.0.0.1:{port}",
                       "WS_PUSH_WORKERS": os.environ.get("WS_PUSH_WORKERS", "4")})  # as make run has it
    stream_settings.cache_clear()
    handlers = {name: load_handler(template.functions[name].code_uri, template.functions[name].handler)
                for name in api.functions}
    server = serve_in_thread(create_gateway([], template.functions, handlers, websocket=api), port)
    key = call("POST", "/api/v1/auth/api-keys", key=master,
               body={"name": "bench-stream", "scopes": ["read"]}).data["key"]

    stop = threading.Event()
    dispatcher = Dispatcher()
    runner = threading.Thread(target=run, args=(lambda: 0 if stop.is_set() else 10**9,),
                              kwargs={"reader": "bench-" + secrets.token_hex(3), "dispatcher": dispatcher})
    runner.start()

    marker = "bench-" + secrets.token_hex(4)
    received: list[list[tuple[str, int, float]]] = [[] for _ in range(CONNECTIONS)]
    connected = threading.Event()
    loop = asyncio.new_event_loop()
    clients = threading.Thread(target=loop.run_until_complete,
                               args=(_clients(f"ws://127.0.0.1:{port}/ws?apiKey={key}&types=user.created",
                                              marker, received, connected),), daemon=True)
    clients.start()
    assert connected.wait(60), "the clients did not connect"
    deadline = time.monotonic() + 30
    while len(dispatcher.view) < CONNECTIONS and time.monotonic() < deadline:  # its next scan sees them all
        time.sleep(0.05)

    committed: dict[str, float] = {}

    def commit(i: int) -> None:
        with transaction(RequestContext(request_id="bench-stream")) as uow:
            uow.emit("user.created", "User", f"{marker}-{i}", {"i": i})
        committed[f"{marker}-{i}"] = time.time()

    for i in range(PACED):
        commit(i)
        time.sleep(PACE_SECONDS)
    burst_started = time.time()
    for i in range(PACED, EVENTS):
        commit(i)
    clients.join(timeout=120)
    stop.set()
    runner.join(timeout=30)
    server.should_exit = True

    def latencies(first: int, last: int) -> list[float]:
        names = {f"{marker}-{i}" for i in range(first, last)}
        return [(at - committed[agg]) * 1000 for frames in received for agg, _, at in frames if agg in names]

    paced, burst = latencies(0, PACED), latencies(PACED, EVENTS)
    burst_done = max(at for frames in received for agg, _, at in frames if agg in {f"{marker}-{EVENTS - 1}"})
    complete = sum(1 for frames in received if [a for a, _, _ in frames] == [f"{marker}-{i}" for i in range(EVENTS)])
    print(f"\nEvent stream: push latency from commit to client, {CONNECTIONS} WebSocket clients on the local gateway")
    print(f"  (Management API emulation, dispatcher polling every 250 ms, {dispatcher.workers} posting threads; all in "
          "one process)")
    print(f"  {'commit → client':<34} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'max ms':>8}")
    for label, samples in ((f"{PACED} events, one per {PACE_SECONDS * 1000:.0f} ms", paced),
                           (f"a burst of {BURST} events", burst)):
        print(f"  {label:<34} {percentile(samples, 50):>8.1f} {percentile(samples, 99):>8.1f} "
              f"{statistics.fmean(samples):>8.1f} {max(samples):>8.1f}")
    print(f"  fan-out: {len(burst)} frames of the burst delivered in {burst_done - burst_started:.2f} s "
          f"({len(burst) / (burst_done - burst_started):.0f} frames/s)")
    print(f"  {complete}/{CONNECTIONS} clients got every event once, in order; dispatcher: "
          f"{dispatcher.totals.frames} posts, {dispatcher.totals.failed} failed")


async def _clients(url: str, marker: str, received: list[list[tuple[str, int, float]]],
                   connected: threading.Event) -> None:
    from websockets.asyncio.client import connect

    opened = 0

    async def one(frames: list[tuple[str, int, float]]) -> None:
        nonlocal opened
        async with connect(url, max_queue=None) as ws:
            opened += 1
            if opened == len(received):
                connected.set()
            async for message in ws:
                at = time.time()
                frame: dict[str, Any] = json.loads(message)
                if frame.get("aggregateId", "").startswith(marker):
                    frames.append((frame["aggregateId"], frame["sequence"], at))
                    if len(frames) == EVENTS:
                        return

    await asyncio.wait_for(asyncio.gather(*(one(frames) for frames in received)), timeout=120)
