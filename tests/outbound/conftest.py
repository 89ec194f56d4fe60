"""Outbound webhooks: receivers that are real HTTP servers on 127.0.0.1 (the only address these tests ever send
to), a resolver stub in place of DNS for every test (a name nobody set up does not resolve), a clock the test
moves, and a clean slate (no live endpoint, the sender's cursor at the head of the log) before each test."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.lambda_client import call

Reply = int | tuple[int, dict[str, str]] | Callable[[], int]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records what it receives and answers from `plan` (then `default`)."""

    requests: list[Received] = field(default_factory=list)
    plan: list[Reply] = field(default_factory=list)
    default: Reply = 200
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def url_for(self, host: str) -> str:
        return f"http://{host}:{self.port}/hooks"

    def next_reply(self) -> Reply:
        return self.plan.pop(0) if self.plan else self.default

    def events(self) -> list[Any]:
        return [r.json for r in self.requests]


def _serve(receiver: Receiver) -> ThreadingHTTPServer:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            with lock:
                receiver.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                reply = receiver.next_reply()
            if callable(reply):
                reply = reply()
            status, headers = (reply, {}) if isinstance(reply, int) else reply
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


@pytest.fixture
def receivers() -> Iterator[Callable[[], Receiver]]:
    servers: list[ThreadingHTTPServer] = []

    def make() -> Receiver:
        receiver = Receiver()
        servers.append(_serve(receiver))
        return receiver

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver(receivers: Callable[[], Receiver]) -> Receiver:
    return receivers()


@pytest.fixture(autouse=True)
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """The resolver the URL rules use, stubbed: name → addresses. No test resolves a real name."""
    from offerhub.outbound import urls

    answers: dict[str, list[str]] = {}

    def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "unknown name (stub resolver)")
        return list(answers[host])

    monkeypatch.setattr(urls, "resolve_host", resolve)
    return answers


@pytest.fixture
def loopback_refused(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The setting as deployed: no loopback receivers, https only."""
    from offerhub.config import settings

    monkeypatch.setenv("WEBHOOK_ALLOW_LOOPBACK", "false")
    settings.cache_clear()
    yield
    monkeypatch.undo()
    settings.cache_clear()


class Clock:
    def __init__(self) -> None:
        from offerhub.core.clock import utcnow

        self.now: datetime = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def set(self, moment: datetime) -> None:
        self.now = moment


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(autouse=True)
def clean_slate(db: str) -> None:
    """Endpoints other tests left are gone (deleted, as the API deletes), their pending deliveries ended, and
    the sender's cursor is at the head of the log: a test's tick sees only the events the test makes."""
    from sqlalchemy import text

    from offerhub.adapters.postgres.engine import get_engine

    with get_engine().begin() as conn:
        conn.execute(text("""UPDATE webhook_endpoints SET status = 'DELETED', deleted_at = now(), sealed_secret = NULL,
                             sealed_key = NULL, previous_sealed_secret = NULL, previous_sealed_key = NULL,
                             previous_secret_expires_at = NULL WHERE status <> 'DELETED'"""))
        conn.execute(text("""UPDATE webhook_deliveries SET status = 'FAILED', next_attempt_at = NULL,
                             completed_at = now() WHERE status = 'PENDING'"""))
        conn.execute(text("""INSERT INTO monitor_cursors (name, cursor, updated_at)
                             SELECT 'events:webhooks', COALESCE(MAX(sequence), 0)::text, now() FROM events
                             ON CONFLICT (name) DO UPDATE SET cursor = EXCLUDED.cursor"""))


@pytest.fixture(scope="session")
def keys(database_url: str, aws: None) -> dict[str, str]:
    """API keys for the session: all three scopes, and one of each."""
    from tests.conftest import MASTER_KEY

    def make(*scopes: str) -> str:
        result = call("POST", "/api/v1/auth/api-keys", key=MASTER_KEY,
                      body={"name": "outbound", "scopes": list(scopes)})
        assert result.status == 201, result.body
        return result.data["key"]

    return {"all": make("read", "write", "support"), "read": make("read"), "write": make("write"),
            "support": make("support")}


@pytest.fixture
def endpoint(keys: dict[str, str]) -> Callable[..., dict[str, Any]]:
    """Factory: register an endpoint through the API (201), with its secret."""

    def make(url: str, **fields: Any) -> dict[str, Any]:
        result = call("POST", "/api/v1/webhook-endpoints", key=keys["write"], body={"url": url, **fields})
        assert result.status == 201, result.body
        return result.data

    return make


def follow_once(sender: Any) -> Any:
    """One tick of the real run: the events after the cursor, fanned out, then what is due sent."""
    from offerhub.events import tail

    return tail.follow("webhooks", sender.tick, lambda: 10**9, max_ticks=1, poll_seconds=0)


def emit(event_type: str = "user.created", aggregate_id: str | None = None, **data: Any) -> str:
    """Append one event to the log (as a use case would, in its transaction); returns its aggregate id."""
    import secrets

    from offerhub.adapters.postgres.unit_of_work import transaction
    from offerhub.core.context import RequestContext

    aggregate_id = aggregate_id or "usr_" + secrets.token_hex(16)
    with transaction(RequestContext(request_id="outbound-test")) as uow:
        uow.emit(event_type, event_type.split(".")[0].title(), aggregate_id, {"id": aggregate_id, **data})
    return aggregate_id
