"""Frames to clients: the API Gateway Management API (`POST/DELETE @connections/{id}`), behind one port.

The same boto3 client serves AWS and `make run`: only the endpoint differs (WS_MANAGEMENT_URL; the local
gateway emulates the API). All retrying lives here: throttling (429 `LimitExceededException`) and 5xx are
tried up to 4 more times with short, jittered backoff, a refused or timed-out call once more (short timeouts:
API Gateway answers in milliseconds); botocore's own retries are off so that the total wait stays bounded and
known — a dispatcher tick must end well before its Lambda's deadline. A 410 `GoneException` means the client has
left (or, for a moment, that its `$connect` has not finished): the caller decides what to do with it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from functools import cache
from typing import Any, Protocol

from offerhub.streaming.config import stream_settings

ATTEMPTS = 5
NETWORK_ATTEMPTS = 2  # a refused or timed-out call is tried once more only: each costs up to its timeout
BACKOFF_SECONDS = 0.05  # 50, 100, 200, 400 ms (±50%): about 0.75 s in all
POOL = 16  # HTTP connections (the dispatcher posts from a thread pool of this size)
_THROTTLED = frozenset({"LimitExceededException", "TooManyRequestsException", "ThrottlingException"})


class ConnectionGone(Exception):
    """410: the connection is closed (or not yet open)."""


class PushFailed(Exception):
    """The frame was not delivered and may be tried again later (throttled past the retries, network)."""


class FrameRefused(Exception):
    """The frame itself was refused (e.g. 413 too large): sending it again would fail again."""


class Pusher(Protocol):
    def post(self, connection_id: str, data: bytes) -> None: ...

    def close(self, connection_id: str) -> None: ...


@cache
def _client(endpoint_url: str) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": 1, "mode": "standard"}, max_pool_connections=POOL,
                    connect_timeout=1, read_timeout=2)  # API Gateway answers in milliseconds
    return boto3.client("apigatewaymanagementapi", endpoint_url=endpoint_url, config=config)


def management_url(request_context: dict[str, Any] | None = None) -> str:
    """WS_MANAGEMENT_URL, else the stage the event came through (https://{domainName}/{stage})."""
    configured = stream_settings().management_url
    if configured:
        return configured
    ctx = request_context or {}
    if ctx.get("domainName") and ctx.get("stage"):
        return f"https://{ctx['domainName']}/{ctx['stage']}"
    raise RuntimeError("WS_MANAGEMENT_URL is not set")


class ManagementApi:
    def __init__(self, endpoint_url: str | None = None, *, client: Any | None = None, attempts: int = ATTEMPTS,
                 backoff_seconds: float = BACKOFF_SECONDS, sleep: Callable[[float], None] = time.sleep):
        self._client = client or _client(endpoint_url or management_url())
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._sleep = sleep
        self.retries = 0  # throttled or failed attempts that were tried again (for the run's summary)

    def post(self, connection_id: str, data: bytes) -> None:
        self._call("post_to_connection", ConnectionId=connection_id, Data=data)

    def close(self, connection_id: str) -> None:
        """Close a connection from the server side (API Gateway then sends it a close frame and runs
        $disconnect). An already closed one is fine."""
        try:
            self._call("delete_connection", ConnectionId=connection_id)
        except ConnectionGone:
            pass

    def _call(self, operation: str, **params: Any) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        for attempt in range(1, self._attempts + 1):
            try:
                getattr(self._client, operation)(**params)
                return
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
                if code == "GoneException" or status == 410:
                    raise ConnectionGone(params["ConnectionId"]) from exc
                transient = code in _THROTTLED or status == 429 or status >= 500
                if not transient:
                    raise FrameRefused(f"{operation}: {code or status}") from exc
                failure: Exception = exc
            except BotoCoreError as exc:  # connection refused or reset, a timeout
                failure = exc
                if attempt >= min(self._attempts, NETWORK_ATTEMPTS):
                    raise PushFailed(f"{operation} failed {attempt} times: {exc}") from exc
            if attempt == self._attempts:
                raise PushFailed(f"{operation} failed {attempt} times: {failure}") from failure
            self.retries += 1
            delay = self._backoff * 2 ** (attempt - 1)
            self._sleep(random.uniform(delay / 2, delay * 1.5))  # noqa: S311 - jitter, not a secret
