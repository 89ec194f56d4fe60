"""Outbound webhooks in `make bench` (`BENCH_ONLY=webhooks` for just this section): deliveries per second from
the sender to one receiver on 127.0.0.1.

The receiver is a plain HTTP/1.1 server in its own process (keep-alive, answers 200 at once), so it does not
share the sender's interpreter. The sender runs as in AWS: the engine sized as the template sizes the
function's pool (10 connections), 8 sending threads, each delivery claimed, signed (HMAC-SHA256 with the
KMS-sealed secret, opened once), checked against the URL rules, POSTed and recorded in its own transaction.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

EVENTS = 2000
RECEIVER = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def bench_webhooks(database_url: str, master: str) -> None:
    import boto3

    from offerhub.adapters.postgres import engine
    from offerhub.adapters.postgres.unit_of_work import transaction
    from offerhub.config import settings
    from offerhub.core.context import RequestContext
    from offerhub.events import tail
    from offerhub.outbound.sender import READER, Sender
    from tests.lambda_client import call

    kms = boto3.client("kms")
    alias = "alias/offerhub-bench-webhook-secrets"
    if not any(a["AliasName"] == alias for a in kms.list_aliases()["Aliases"]):
        kms.create_alias(AliasName=alias, TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"])
    os.environ.update({"WEBHOOK_SECRETS_KMS_KEY_ID": alias, "WEBHOOK_ALLOW_LOOPBACK": "true"})
    settings.cache_clear()
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)
    previous = engine.get_engine()
    sized = engine.build_engine(database_url, pool_size=10, max_overflow=0)
    engine.set_engine(sized)
    try:
        assert receiver.stdout is not None
        port = int(receiver.stdout.readline())
        key = call("POST", "/api/v1/auth/api-keys", key=master,
                   body={"name": "bench-webhooks", "scopes": ["read", "write"]}).data["key"]
        ctx = RequestContext(request_id="bench-webhooks")
        warm = Sender(ctx)
        tail.follow(READER, warm.tick, lambda: 10**9, max_ticks=1, poll_seconds=0)  # the cursor at the head
        created = call("POST", "/api/v1/webhook-endpoints", key=key,
                       body={"url": f"http://127.0.0.1:{port}/hooks", "types": ["user.*"]})
        assert created.status == 201, created.body
        print(f"\nOutbound webhooks: {EVENTS} events to one endpoint on a local receiver (own process), 8 threads")
        ticks = EVENTS // tail.BATCH + 2
        for round_name in ("warm-up", "measured", "together"):
            with transaction(ctx) as uow:
                for i in range(EVENTS):
                    uow.emit("user.created", "User", f"usr_bench{i:027d}", {"userId": f"usr_bench{i:027d}"})
            t0 = time.perf_counter()
            if round_name == "together":  # as a run does it: each tick fans out a batch, then sends what is due
                sender = Sender(ctx)
                tail.follow(READER, sender.tick, lambda: 10**9, max_ticks=ticks, poll_seconds=0)
                fanned = t0
            else:  # fan-out alone (a sender with no time to send), then the sends alone
                fan_only = Sender(ctx, time_left=lambda: 0)
                tail.follow(READER, fan_only.tick, lambda: 10**9, max_ticks=ticks, poll_seconds=0)
                assert fan_only.report.created == EVENTS, fan_only.report
                fanned = time.perf_counter()
                sender = Sender(ctx)
            while sender.report.succeeded < EVENTS and sender.send_due():
                pass
            elapsed = time.perf_counter() - t0
            sender.close()
            report = sender.report.to_dict()
            assert report["succeeded"] == EVENTS and report["failed"] == 0, report
            if round_name == "measured":
                print(f"  fan-out (events to delivery rows)   {EVENTS / (fanned - t0):>8.0f} rows per second")
                print(f"  sends (claim, sign, POST, record)   {EVENTS / (elapsed - (fanned - t0)):>8.0f} "
                      "deliveries per second")
            elif round_name == "together":
                print(f"  a run: fan-out and sends per tick   {EVENTS / elapsed:>8.0f} deliveries per second "
                      f"({elapsed:.2f} s for {EVENTS})")
        warm.close()
        call("DELETE", f"/api/v1/webhook-endpoints/{created.data['id']}", key=key)
    finally:
        engine.set_engine(previous)
        sized.dispose()
        receiver.terminate()
        receiver.wait(timeout=10)
