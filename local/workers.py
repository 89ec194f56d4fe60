"""The local gateway on every core: N worker processes serve the HTTP API on one port.

`make run` starts OFFERHUB_WORKERS gateway workers (default: two per core, at most 8; 1 keeps the single process of
before). Each is `python -m local.workers`: it loads every HTTP function warm and serves the connections the main
process deals it. The main process listens on PORT and hands each accepted connection to the next worker in turn
(round robin, the socket passed over a Unix socket with SCM_RIGHTS); from then on the worker and the client talk
directly. Dealt in turn, keep-alive clients are spread evenly (eight on two workers: 4:4); with one SO_REUSEPORT
socket per worker the kernel hashed them (5:3 or worse in 22 of 30 tries on two workers), and the busier worker
capped the throughput. A worker gets its whole configuration from the environment the main process built
(database, moto endpoint, rails, keys) before spawning it.

What holds state runs once, in the main process: Postgres, moto, the sandbox rails, the schedules, the SQS pollers
and the WebSocket API emulation. That emulation keeps each open connection in the memory of the process that
accepted it, and the Management API (`/@connections/{id}`) must reach that process; so the main process serves
`/ws` and `/@connections/{id}` on a private port (WS_MANAGEMENT_URL points there, for the functions), and a worker
that receives either forwards it there: a WebSocket frame by frame in both directions, with the handshake's
refusal (status and body) and the close code passed through.

The main process reports a worker that dies, and starts a new one unless it stopped on a signal. Ctrl-C or
SIGTERM to the main process stops every worker (SIGTERM, then SIGKILL after a grace period), then the services.
A worker whose main process has gone (SIGKILL) stops by itself within a second.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from local.functions import ROOT

UPSTREAM_ENV = "OFFERHUB_GATEWAY_UPSTREAM"  # host:port of the main process's private gateway
READY_FD_ENV = "OFFERHUB_WORKER_READY_FD"
HANDOFF_FD_ENV = "OFFERHUB_WORKER_HANDOFF_FD"  # the worker's end of the Unix socket its connections arrive on
INDEX_ENV = "OFFERHUB_WORKER_INDEX"
PARENT_ENV = "OFFERHUB_WORKER_PARENT"
STOP_GRACE_SECONDS = 15.0
_HOP_BY_HOP = frozenset({"host", "upgrade", "connection", "sec-websocket-key", "sec-websocket-version",
                         "sec-websocket-extensions", "sec-websocket-protocol", "user-agent", "content-length",
                         "transfer-encoding", "keep-alive"})


# Two per core: a worker is one GIL, and while its requests wait on Postgres its core idles unless another worker
# can run. On two cores under eight keep-alive clients, one worker per core left the machine 10-12% idle and two per
# core 2-5% (GET /health 8-thread/1-thread 1.67x -> 1.76x); four per core paid more in context switches than it
# gained (CPU per request +20-40%). README "Performance". At most DEFAULT_MAX_WORKERS by default: the main process
# (moto, the rails, the schedules) is one GIL whatever the machine, and every process holds Postgres connections.
WORKERS_PER_CORE = 2
DEFAULT_MAX_WORKERS = 8
# A process's pool (DB_POOL_SIZE, DB_MAX_OVERFLOW): connections kept, and more on demand. Its handlers serve
# requests concurrently, unlike one-request Lambda containers.
FULL_POOL = (4, 8)
# What the stack's processes may hold of Postgres's connections (100 by default; a few left for psql and tools). The
# main process keeps the full pool (local/stack.py): its schedules, SQS pollers and event log readers must never
# wait on the gateway's requests for a connection.
CONNECTION_BUDGET = 90
MAIN_PROCESS_CONNECTIONS = sum(FULL_POOL)


def worker_count() -> int:
    value = os.environ.get("OFFERHUB_WORKERS")
    count = int(value) if value else min(DEFAULT_MAX_WORKERS, WORKERS_PER_CORE * (os.cpu_count() or 1))
    if count < 1:
        raise SystemExit(f"OFFERHUB_WORKERS must be at least 1, not {value}")
    most = CONNECTION_BUDGET - MAIN_PROCESS_CONNECTIONS
    if count > most:
        raise SystemExit(f"OFFERHUB_WORKERS must be at most {most}: each worker needs a Postgres connection")
    return count


def worker_pool(count: int) -> tuple[int, int]:
    """(DB_POOL_SIZE, DB_MAX_OVERFLOW) of each of `count` workers: the full pool, shrunk so that they and the main
    process together stay within CONNECTION_BUDGET."""
    kept, extra = FULL_POOL
    share = (CONNECTION_BUDGET - MAIN_PROCESS_CONNECTIONS) // count
    pool = max(1, min(kept, share))
    return pool, max(0, min(extra, share - pool))


def port_is_free(port: int) -> bool:
    """Nobody listens on the port."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# -- the main process's side -----------------------------------------------------------------------------------------
class Workers:
    """Spawns, watches and stops the gateway workers."""

    def __init__(self, count: int, env: dict[str, str]):
        self.count = count
        self.env = env
        self.processes: dict[int, subprocess.Popen[bytes]] = {}
        self.stopping = threading.Event()
        self._ready_read, self._ready_write = os.pipe()
        self.ready: queue.Queue[tuple[int, int]] = queue.Queue()
        self._lock = threading.Lock()
        self._handoffs: dict[int, socket.socket] = {}  # worker index → our end of its connection socket
        self._listener: socket.socket | None = None

    def start(self, timeout: float = 180.0) -> list[int]:
        """Every worker started and serving, and PORT dealt to them; their pids. Raises if one exits first or the
        time runs out."""
        self._listener = _listen(int(self.env["PORT"]))  # connections wait in its backlog until the workers are up
        threading.Thread(target=self._read_ready, daemon=True, name="workers-ready").start()
        for index in range(self.count):
            self._spawn(index)
        deadline = time.monotonic() + timeout
        listening: dict[int, int] = {}
        while len(listening) < self.count:
            try:
                index, pid = self.ready.get(timeout=0.2)
                listening[index] = pid
            except queue.Empty:
                pass
            for index, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"gateway worker {index} (pid {process.pid}) exited with {process.returncode} "
                                       "before it listened")
            if time.monotonic() > deadline:
                raise RuntimeError("gateway workers did not start in time")
        threading.Thread(target=self._watch, daemon=True, name="workers-watch").start()
        threading.Thread(target=self._deal, args=(self._listener,), daemon=True, name="workers-deal").start()
        return [listening[i] for i in range(self.count)]

    def pids(self) -> list[int]:
        with self._lock:
            return [p.pid for p in self.processes.values()]

    def _spawn(self, index: int) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)  # one message: one connection
        env = {**self.env, INDEX_ENV: str(index), READY_FD_ENV: str(self._ready_write), PARENT_ENV: str(os.getpid()),
               HANDOFF_FD_ENV: str(theirs.fileno())}
        process = subprocess.Popen([sys.executable, "-m", "local.workers"], cwd=ROOT, env=env,
                                   pass_fds=(self._ready_write, theirs.fileno()))
        theirs.close()
        with self._lock:
            self.processes[index] = process
            previous = self._handoffs.pop(index, None)
            self._handoffs[index] = ours
        if previous is not None:
            previous.close()

    def _deal(self, listener: socket.socket) -> None:
        """Accept on PORT and hand each connection to the next worker in turn; one that cannot take it (it died, and
        is being replaced) is skipped. Runs until the listener is closed (stop)."""
        turn = itertools.count()
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return  # closed: the stack is stopping
            with connection:
                with self._lock:
                    handoffs = [self._handoffs[i] for i in sorted(self._handoffs)]
                start = next(turn)
                for offset in range(len(handoffs)):
                    try:
                        socket.send_fds(handoffs[(start + offset) % len(handoffs)], [b"c"], [connection.fileno()])
                        break
                    except OSError:
                        continue

    def _read_ready(self) -> None:
        with os.fdopen(self._ready_read, "rb", buffering=0) as pipe:
            buffered = b""
            while chunk := pipe.read(4096):
                buffered += chunk
                *lines, buffered = buffered.split(b"\n")
                for line in lines:
                    index, pid = (int(part) for part in line.split())
                    self.ready.put((index, pid))

    def _watch(self) -> None:
        restarts: list[float] = []
        while not self.stopping.wait(0.25):
            with self._lock:
                dead = [(i, p) for i, p in self.processes.items() if p.poll() is not None]
            for index, process in dead:
                if self.stopping.wait(0.3):  # a Ctrl-C reaches the workers and us at once: not a death
                    return
                code = process.returncode
                stopped = code in (0, -signal.SIGINT, -signal.SIGTERM)
                how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
                print(f"gateway worker {index} (pid {process.pid}) {how}"
                      + ("" if not stopped else "; not restarted (it was stopped)"), flush=True)
                if stopped:
                    with self._lock:
                        self.processes.pop(index, None)
                    continue
                now = time.monotonic()
                restarts = [t for t in restarts if now - t < 60] + [now]
                if len(restarts) > 5:
                    print(f"gateway worker {index}: more than 5 restarts in a minute; not restarted", flush=True)
                    with self._lock:
                        self.processes.pop(index, None)
                    continue
                self._spawn(index)
                print(f"gateway worker {index} restarted as pid {self.processes[index].pid}", flush=True)

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM to every worker, SIGKILL to any still running after `grace` seconds; each reaped."""
        self.stopping.set()
        if self._listener is not None:
            self._listener.close()  # no new connections; the dealer returns
        with self._lock:
            processes = list(self.processes.items())
        for _, process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for index, process in processes:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"gateway worker {index} (pid {process.pid}) ignored SIGTERM; killed", flush=True)
                process.kill()
                process.wait()
        os.close(self._ready_write)
        with self._lock:
            for handoff in self._handoffs.values():
                handoff.close()


# -- a worker's side: forwarding to the main process -----------------------------------------------------------------
def forwarding_routes(upstream: str) -> list[BaseRoute]:
    """`/ws` and `/@connections/{id}`, served by the main process at `upstream` (host:port)."""
    import httpx

    from local.websocket import PATH

    client = httpx.AsyncClient(base_url=f"http://{upstream}", timeout=30)

    async def manage(request: Request) -> Response:
        headers = {k: v for k, v in request.headers.items() if k not in _HOP_BY_HOP}
        answer = await client.request(request.method, request.url.path, content=await request.body(), headers=headers)
        kept = {k: v for k, v in answer.headers.items() if k not in _HOP_BY_HOP and k != "content-encoding"}
        return Response(answer.content, status_code=answer.status_code, headers=kept)

    async def websocket(ws: WebSocket) -> None:
        await forward_websocket(ws, f"ws://{upstream}{PATH}")

    return [WebSocketRoute(PATH, websocket),
            Route("/@connections/{connection_id}", manage, methods=["GET", "POST", "DELETE"])]


async def forward_websocket(client: WebSocket, url: str) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    query = client.scope.get("query_string", b"").decode("latin-1")
    headers = [(k, v) for k, v in client.headers.items() if k not in _HOP_BY_HOP]
    try:
        upstream = await connect(url + (f"?{query}" if query else ""), additional_headers=headers,
                                 user_agent_header=client.headers.get("user-agent"), compression=None,
                                 max_size=None, ping_interval=None, open_timeout=30)
    except InvalidStatus as refused:  # $connect said no: the same status and body to the client
        answer = refused.response
        await client.send_denial_response(Response(answer.body or b"", status_code=answer.status_code,
                                                   media_type=answer.headers.get("content-type")))
        return
    except OSError:
        await client.send_denial_response(Response(b'{"message":"Internal server error"}', status_code=502,
                                                   media_type="application/json"))
        return
    await client.accept()

    async def to_upstream() -> None:
        while True:
            message = await client.receive()
            if message["type"] == "websocket.disconnect":
                code = int(message.get("code") or 1000)
                await upstream.close(code if code not in (1005, 1006) else 1000, str(message.get("reason") or ""))
                return
            if message.get("text") is not None:
                await upstream.send(message["text"])
            else:
                await upstream.send(message.get("bytes") or b"")

    async def to_client() -> None:
        try:
            async for data in upstream:
                if isinstance(data, str):
                    await client.send_text(data)
                else:
                    await client.send_bytes(data)
        except ConnectionClosed:
            pass
        try:
            await client.close(code=upstream.close_code or 1000, reason=upstream.close_reason or "")
        except (RuntimeError, WebSocketDisconnect):
            pass  # the client went first (or the worker is stopping)

    tasks = [asyncio.ensure_future(to_upstream()), asyncio.ensure_future(to_client())]
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        for task in done:
            if not task.cancelled() and task.exception() is not None and not isinstance(
                    task.exception(), ConnectionClosed | RuntimeError | WebSocketDisconnect | OSError):
                raise task.exception()  # type: ignore[misc]
    finally:
        await upstream.close()


# -- a worker's main ---------------------------------------------------------------------------------------------------
def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    sock.set_inheritable(False)
    return sock


class DealtServer:
    """uvicorn serving the connections the main process deals this worker (Workers._deal), not a socket of its own."""

    def __init__(self, server: Any, handoff: socket.socket):
        self.server = server
        self.handoff = handoff
        server.startup = self._startup  # uvicorn's own startup with no listener, then the handoff read

    async def _startup(self, sockets: list[socket.socket] | None = None) -> None:
        server = self.server
        await type(server).startup(server, sockets=[])
        config, loop = server.config, asyncio.get_running_loop()

        def protocol() -> asyncio.Protocol:  # what uvicorn's startup gives create_server (uvicorn pinned: 0.54)
            return config.http_protocol_class(config=config, server_state=server.server_state,
                                              app_state=server.lifespan.state)

        self.handoff.setblocking(False)
        loop.add_reader(self.handoff.fileno(), self._take, loop, protocol)

    def _take(self, loop: asyncio.AbstractEventLoop, protocol: Any) -> None:
        while True:
            try:
                message, fds, _, _ = socket.recv_fds(self.handoff, 16, 4)
            except BlockingIOError:
                return
            if not message and not fds:  # the main process has gone: _exit_with_parent stops us
                loop.remove_reader(self.handoff.fileno())
                return
            for fd in fds:
                # A TCP socket (proto IPPROTO_TCP, read back from the fd): asyncio sets TCP_NODELAY on it, without
                # which an answer's body waits for the client's delayed ACK of its headers (40 ms per request).
                connection = socket.socket(fileno=fd)
                connection.setblocking(False)
                loop.create_task(loop.connect_accepted_socket(protocol, connection))


def _exit_with_parent(parent: int) -> None:
    """The main process was killed (no SIGTERM reached us): stop as if it had been sent."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)


def main() -> None:
    from local.functions import load_handler, put_layer_on_path

    put_layer_on_path()
    from local import template as tpl
    from local.gateway import create_gateway

    index = int(os.environ[INDEX_ENV])
    threading.Thread(target=_exit_with_parent, args=(int(os.environ[PARENT_ENV]),), daemon=True).start()
    template = tpl.load()
    served = {r.function for r in template.routes}
    handlers: dict[str, Any] = {name: load_handler(fn.code_uri, fn.handler) for name, fn in template.functions.items()
                                if name in served}
    app = create_gateway(template.routes, template.functions, handlers, forward_to=os.environ[UPSTREAM_ENV])

    import uvicorn

    handoff = socket.socket(fileno=int(os.environ[HANDOFF_FD_ENV]))
    # asyncio's loop, never uvloop even when installed: with uvloop 0.23 a bench run under load twice left a keep-alive
    # client waiting for an answer while the worker sat idle; asyncio's loop has not done that.
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, loop="asyncio"))
    DealtServer(server, handoff)
    ready_fd = int(os.environ[READY_FD_ENV])

    def announce() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.02)
        if server.started:
            os.write(ready_fd, f"{index} {os.getpid()}\n".encode())
        os.close(ready_fd)

    threading.Thread(target=announce, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # uvicorn re-raises it after its graceful shutdown
    try:
        server.run()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
