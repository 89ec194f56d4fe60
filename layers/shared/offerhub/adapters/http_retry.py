"""One retry policy for the provider clients (Trustless Work, Airtm): a few attempts, exponential backoff,
on 429 / 5xx and transport errors, honouring a numeric Retry-After (capped so a Lambda never sleeps away
its budget). The clients keep their own error mapping; only the sending is shared."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER_SECONDS = 10.0


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    backoff_seconds: float = 0.25
    sleep: Callable[[float], None] = field(default=time.sleep)

    def send(self, http: httpx.Client, method: str, path: str, **request: Any) -> httpx.Response:
        """The response of the last attempt (a retry status only once the attempts ran out). The last
        transport error (httpx.HTTPError) is raised for the client to map."""
        attempts = max(1, self.attempts)
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            try:
                response = http.request(method, path, **request)
            except httpx.HTTPError:
                if last:
                    raise
                self.sleep(self.backoff_seconds * 2 ** (attempt - 1))
                continue
            if response.status_code in RETRY_STATUSES and not last:
                self.sleep(retry_after(response) or self.backoff_seconds * 2 ** (attempt - 1))
                continue
            return response
        raise AssertionError("unreachable")


def retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds (capped); None when absent or an HTTP date (then the backoff applies)."""
    try:
        seconds = float(response.headers.get("retry-after", ""))
    except ValueError:
        return None
    return min(seconds, MAX_RETRY_AFTER_SECONDS) if math.isfinite(seconds) and seconds >= 0 else None
