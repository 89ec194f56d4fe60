"""One webhook POST to a checked, pinned address (offerhub.outbound.urls.Target).

The request goes to the checked IP; the Host header and the TLS SNI (so the certificate check too) are the
URL's name. Redirects are not followed (a 3xx is a failure), proxies from the environment are ignored (they
would resolve the name again), and any 2xx that arrives within the timeout is a success: an answer slower than
that is a failure even when it finally says 200, so the receiver can count on "acknowledged in time".

Clients are kept per container, one per (scheme, name, address, port), so keep-alive connections are reused by
attempts to the same receiver and never shared between two names that happen to share an address.
"""

from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass
from datetime import datetime

import httpx

from offerhub.outbound.urls import Target

TIMEOUT_SECONDS = 10.0
# Certificates are checked against the system's trust store (certifi); tests put their own CA here.
VERIFY: ssl.SSLContext | bool = True
MAX_RESPONSE_BYTES = 64 * 1024
_CLIENT_LIMIT = 256
_clients: dict[tuple[str, str, str, int], httpx.Client] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None = None
    error: str | None = None
    sent: bool = True  # False: refused before anything left (an address the rules refuse, no resolution)
    finished_at: datetime | None = None  # set by the sender (its clock)

    @classmethod
    def refused(cls, error: str) -> Outcome:
        return cls(ok=False, error=error, sent=False)


def close_clients() -> None:
    with _lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


def _client(target: Target) -> httpx.Client:
    key = (target.parsed.scheme, target.parsed.host, target.address, target.parsed.port)
    with _lock:
        client = _clients.get(key)
        if client is None:
            if len(_clients) >= _CLIENT_LIMIT:
                for old in _clients.values():
                    old.close()
                _clients.clear()
            client = httpx.Client(follow_redirects=False, trust_env=False, verify=VERIFY,
                                  limits=httpx.Limits(max_connections=16, max_keepalive_connections=8))
            _clients[key] = client
        return client


def post(target: Target, body: bytes, headers: dict[str, str], *, timeout: float = TIMEOUT_SECONDS) -> Outcome:
    extensions = {"sni_hostname": target.parsed.host} if target.parsed.scheme == "https" else {}
    client = _client(target)
    request = client.build_request("POST", target.request_url, content=body,
                                   headers={**headers, "Host": target.parsed.host_header},
                                   timeout=httpx.Timeout(timeout), extensions=extensions)
    started = time.monotonic()
    try:
        response = client.send(request, stream=True)
        try:
            read = 0
            for chunk in response.iter_raw():
                read += len(chunk)
                if read > MAX_RESPONSE_BYTES or time.monotonic() - started > timeout:
                    break
        finally:
            response.close()
    except httpx.TimeoutException:
        return Outcome(ok=False, error=f"timed out after {timeout:g} s")
    except httpx.HTTPError as exc:
        return Outcome(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
    elapsed = time.monotonic() - started
    status = response.status_code
    if elapsed > timeout:
        return Outcome(ok=False, status_code=status, error=f"timed out: answered after {elapsed:.1f} s")
    if 200 <= status < 300:
        return Outcome(ok=True, status_code=status)
    if 300 <= status < 400:
        return Outcome(ok=False, status_code=status, error=f"HTTP {status}: redirects are not followed")
    return Outcome(ok=False, status_code=status, error=f"HTTP {status}")
