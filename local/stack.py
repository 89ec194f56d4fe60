"""`make run`: Postgres, migrations, moto with the template's resources (tables, keys, secrets, queues), the
sandbox rails (Horizon and Trustless Work over one simulated Stellar network, and Airtm), the schedules,
the SQS pollers that feed queued webhooks to their worker, and the gateway on PORT: OFFERHUB_WORKERS processes
(default: two per core, at most 8) serve the HTTP API there, and this process the WebSocket API (local/workers.py).

PAYMENT_PROVIDER=airtm runs airtm mode. AIRTM_WEBHOOK_SECRET fixes the Svix secret the sandbox Airtm signs
its webhooks with (and the ingress checks); otherwise one is generated and printed.

OFFERHUB_RAILS=testnet uses the real Stellar testnet and Trustless Work's dev API instead (set
TRUSTLESS_API_KEY); the test helpers then answer 404.

Ctrl-C or SIGTERM stops everything: uvicorn returns, the gateway workers stop, the pollers stop, then atexit stops
the embedded Postgres.
After a SIGKILL, the Postgres watchdog stops it (local/postgres.py). The data dir keeps Postgres, the sandbox
chain, the KMS key material and the DynamoDB items (idempotency records; local/dynamodb_state.py) across restarts.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from local import workers as gateway_workers
from local.functions import ROOT, load_handler, put_layer_on_path


def _free_port() -> int:
    """A port nobody listens on now, and never PORT: ours, but bound only once the gateway starts (the kernel may
    hand it out meanwhile; a test's stack lost its start to that once)."""
    ours = int(os.environ.get("PORT") or 3000)
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            found = s.getsockname()[1]
        if found != ours:
            return found


def main() -> None:
    put_layer_on_path()
    from local import aws, postgres, websocket
    from local import template as tpl
    from local.gateway import create_gateway

    port = int(os.environ.get("PORT", "3000"))
    data_dir = Path(os.environ.get("OFFERHUB_DATA_DIR", ROOT / ".devdata"))
    data_dir.mkdir(parents=True, exist_ok=True)
    master_key = os.environ.get("OFFERHUB_MASTER_KEY") or secrets.token_urlsafe(32)
    generated = "OFFERHUB_MASTER_KEY" not in os.environ

    server_url = os.environ.get("DATABASE_URL")
    if not server_url:
        server_url = postgres.start_embedded(data_dir).get_uri()
        database_url = postgres.ensure_database(server_url)
    else:
        database_url = server_url  # used as given: its database is the application's

    from offerhub.adapters.postgres.migrations import upgrade_to_head

    revision = upgrade_to_head(database_url)

    template = tpl.load()
    aws.start_moto(int(os.environ.get("MOTO_PORT") or _free_port()))
    physical = aws.provision(template, master_key=master_key, state_dir=data_dir)
    os.environ.update(tpl.resolve_env(template, physical, shell=os.environ))
    base = f"http://127.0.0.1:{port}/api/v1"
    webhook_secret = os.environ.get("AIRTM_WEBHOOK_SECRET") or "whsec_" + base64.b64encode(os.urandom(24)).decode()
    rails_note = _start_rails(data_dir, webhook_url=f"{base}/webhooks/airtm", webhook_secret=webhook_secret)
    os.environ.update(
        {
            "DATABASE_URL": database_url,
            "OFFERHUB_MASTER_KEY": master_key,
            "AIRTM_WEBHOOK_SECRET": webhook_secret,
            "TRUSTLESS_WEBHOOK_SECRET": os.environ.get("TRUSTLESS_WEBHOOK_SECRET") or secrets.token_hex(24),
            "TOPUP_CALLBACK_BASE_URL": os.environ.get("TOPUP_CALLBACK_BASE_URL") or f"{base}/topups",
            # Outbound webhooks (docs/webhooks.md): receivers on this machine (http to loopback) are allowed
            # locally, and retries come 20x sooner, like the schedules (AWS: 60 s, the template's parameter).
            "WEBHOOK_ALLOW_LOOPBACK": os.environ.get("WEBHOOK_ALLOW_LOOPBACK") or "true",
            "WEBHOOK_RETRY_BASE_SECONDS": os.environ.get("WEBHOOK_RETRY_BASE_SECONDS") or "3",
            # The gateway emulates the WebSocket Management API at its root (local/websocket.py).
            "WS_MANAGEMENT_URL": f"http://127.0.0.1:{port}",
            "WS_PUSH_WORKERS": os.environ.get("WS_PUSH_WORKERS", "4"),  # that API shares this process's GIL
            "API_KEY_ENV": "test",
            # Handlers share this process and serve requests concurrently, unlike one-request containers.
            "DB_POOL_SIZE": str(gateway_workers.FULL_POOL[0]),
            "DB_MAX_OVERFLOW": str(gateway_workers.FULL_POOL[1]),
            "POWERTOOLS_TRACE_DISABLED": "1",
            "POWERTOOLS_SERVICE_NAME": os.environ.get("POWERTOOLS_SERVICE_NAME", "offerhub-local"),
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
        }
    )
    if os.environ.get("OFFERHUB_SERVICES_ONLY"):
        return _serve_services_only(template, physical, data_dir, master_key, rails_note)
    ws_api = websocket.load(template)
    # N gateway workers serve the HTTP API on PORT (local/workers.py); this process keeps what holds state and
    # serves the WebSocket API on a private port. With one worker, this process is the whole gateway, on PORT.
    worker_count = gateway_workers.worker_count()
    workers = None
    listen_port, routes = port, template.routes
    if worker_count > 1:
        if not gateway_workers.port_is_free(port):
            raise SystemExit(f"port {port} is in use (set PORT)")
        listen_port, routes = _free_port(), []
        os.environ.update({
            "WS_MANAGEMENT_URL": f"http://127.0.0.1:{listen_port}",
            gateway_workers.UPSTREAM_ENV: f"127.0.0.1:{listen_port}",
        })
        # Each process has its own pool: the workers' shrink so that all of them stay under Postgres's 100.
        pool_size, max_overflow = gateway_workers.worker_pool(worker_count)
        workers = gateway_workers.Workers(worker_count, {**os.environ, "DB_POOL_SIZE": str(pool_size),
                                                         "DB_MAX_OVERFLOW": str(max_overflow)})
    handlers = {
        name: load_handler(fn.code_uri, fn.handler)
        for name, fn in template.functions.items()
        if any(r.function == name for r in routes) or fn.schedules or fn.queues
        or (ws_api and name in ws_api.functions)
    }
    app = create_gateway(routes, template.functions, handlers, websocket=ws_api)

    mode = os.environ.get("PAYMENT_PROVIDER") or "crypto"
    print(f"OfferHub Orchestrator local stack (schema {revision}, {mode} mode)", flush=True)
    print(f"  API          {base}", flush=True)
    if ws_api:
        print(f"  events       ws://127.0.0.1:{port}{websocket.PATH}?apiKey=<key>", flush=True)
    print(f"  master key   {master_key}" + ("   (generated; set OFFERHUB_MASTER_KEY to keep one)" if generated
                                             else ""), flush=True)
    served = len({r.function for r in template.routes})
    print(f"  routes       {len(template.routes)} across {served} functions", flush=True)
    if workers is not None:
        print(f"  gateway      {worker_count} worker processes on port {port} (OFFERHUB_WORKERS); WebSocket API "
              f"in this process (pid {os.getpid()}) on port {listen_port}", flush=True)
    print(f"  rails        {rails_note}", flush=True)
    print(f"  webhooks     Airtm (Svix) secret {webhook_secret}" + ("" if "AIRTM_WEBHOOK_SECRET" in os.environ
                                                                   else "   (generated)"), flush=True)
    stop_schedules = threading.Event()
    from local import queues, schedules

    scheduled = schedules.start({name: (fn.schedules[0], handlers[name]) for name, fn in template.functions.items()
                                 if fn.schedules}, stop_schedules,
                                timeouts={name: fn.timeout for name, fn in template.functions.items()})
    # Failed messages come back after LOCAL_VISIBILITY_SECONDS (AWS: the queue's 360 s), so the redrive to
    # the DLQ after 5 receives takes seconds, not half an hour.
    pollers = queues.start_pollers([queues.QueueBinding(physical[queue], handlers[name], name, batch_size=batch,
                                              visibility_timeout=LOCAL_VISIBILITY_SECONDS)
                          for name, fn in template.functions.items() for queue, batch in fn.queues], stop_schedules)

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=listen_port, log_level="warning",
                                           lifespan="off"))
    failed = threading.Event()

    def announce_when_listening() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.02)
        if not server.started:
            return
        if workers is not None:
            try:
                pids = workers.start()
            except RuntimeError as exc:
                print(f"gateway workers: {exc}", flush=True)
                failed.set()
                server.should_exit = True
                return
            print(f"  workers      pids {', '.join(map(str, pids))}", flush=True)
        print(f"READY {base}", flush=True)

    threading.Thread(target=announce_when_listening, daemon=True).start()
    # uvicorn re-raises SIGTERM after its shutdown, which would skip atexit (and orphan Postgres).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        if workers is not None:  # first the gateway workers, then the services they use
            workers.stop()
        # Before atexit stops Postgres: a poll started during interpreter shutdown fails noisily in moto's
        # server (no new threads then). Each poller returns within about a second.
        stop_schedules.set()
        for poller in pollers:
            poller.join(timeout=5)
        # A long-polling schedule (the stream dispatcher) sees no time left and saves its positions.
        deadline = time.monotonic() + 10
        for run in scheduled:
            run.join(timeout=max(0.0, deadline - time.monotonic()))
    if failed.is_set():
        sys.exit(1)


LOCAL_VISIBILITY_SECONDS = 2


def _serve_services_only(template, physical: dict[str, str], data_dir: Path, master_key: str, rails_note: str) -> None:
    """`make services`: Postgres, moto and the sandbox rails without the gateway, the schedules or the pollers, for
    `sam local invoke` / `sam local start-api` (local/sam_env.py writes their --env-vars file). Runs until
    Ctrl-C or SIGTERM; atexit then stops the embedded Postgres."""
    from local import sam_env

    env = {**os.environ, "OFFERHUB_AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"]}
    env.update(sam_env.seed_secrets(template, physical, os.environ))
    path = sam_env.write(template, env, data_dir / "env.json")
    print("OfferHub Orchestrator local services (no gateway: run the functions with sam local)", flush=True)
    print(f"  database     {os.environ['DATABASE_URL']}", flush=True)
    print(f"  aws (moto)   {os.environ['AWS_ENDPOINT_URL']}", flush=True)
    print(f"  rails        {rails_note}", flush=True)
    print(f"  master key   {master_key}", flush=True)
    print(f"  sam local    sam local start-api --env-vars {path} --docker-network host", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"READY {path}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass


def _start_rails(data_dir: Path, *, webhook_url: str, webhook_secret: str) -> str:
    """The sandbox rails on their own port (state in the data dir), unless testnet was asked for. The
    sandbox Airtm delivers its webhooks to our ingress, through the gateway."""
    if os.environ.get("OFFERHUB_RAILS", "sandbox") == "testnet":
        for name in ("HORIZON_URL", "USDC_ISSUER", "FRIENDBOT_URL", "TRUSTLESS_API_URL", "SANDBOX_CONTROL_URL"):
            os.environ.pop(name, None)
        os.environ["STELLAR_NETWORK"] = "testnet"
        return "Stellar testnet + Trustless Work dev API"
    from local.sandbox.rails import SandboxRails, serve_in_thread

    (data_dir / "sandbox").mkdir(exist_ok=True)
    rails = SandboxRails(data_dir / "sandbox" / "chain.sqlite", airtm_webhook_secret=webhook_secret)
    rails.airtm.configure_webhooks(webhook_url, webhook_secret)
    port = int(os.environ.get("SANDBOX_PORT") or _free_port())
    serve_in_thread(rails.app(), port)
    base = f"http://127.0.0.1:{port}"
    os.environ.update(rails.environment(base))
    return f"sandbox at {base} (horizon, trustless, airtm, control); USDC issuer {rails.usdc_issuer}"


if __name__ == "__main__":
    main()
