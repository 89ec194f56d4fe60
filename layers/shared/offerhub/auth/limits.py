"""Rate limits: which counter a request counts against, its limit, and what is left of it (pure).

Counting is a fixed window (RATE_LIMIT_WINDOW_SECONDS, 60 by default) per subject and bucket:

- subject: the API key that authenticated the request (`key:<id>`; a short-lived token counts as its key), the
  master key (`master`), or, when the request carries no key that authenticates, its source IP (`ip:<address>`:
  the health check, the provider webhooks, and every 401);
- bucket: `create` for top-up and withdrawal creation (`POST /topups`, `POST /withdrawals`), `api` for every
  other request of a key, `ip` for a source IP. Each request counts in exactly one bucket.

The counters live in Postgres (table `rate_limit_counters`), so every Lambda container shares them; the increment
rides on the statement that authenticates the key (offerhub.auth.store), so it costs no round trip of its own.
A counter may be split into `shards` rows, one picked at random per request and the others summed in the same
statement, for a key so busy that one row would queue its writers (docs/api.md "Rate limits" has the numbers).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from offerhub.config import Settings

API = "api"
CREATE = "create"
IP = "ip"
MASTER_SUBJECT = "master"

# The limiter's clock (epoch seconds). Tests replace it to cross a window without sleeping; the windows of all
# containers agree as far as their clocks do (Lambda's are NTP-synchronised).
clock: Callable[[], float] = time.time


def key_subject(key_id: str) -> str:
    return f"key:{key_id}"


def ip_subject(address: str) -> str:
    return f"ip:{address}"


@dataclass(frozen=True)
class Limits:
    enabled: bool
    window_seconds: int
    per_key: int
    create_per_key: int
    per_ip: int
    shards: int

    @classmethod
    def from_settings(cls, cfg: Settings) -> Limits:
        return cls(enabled=cfg.rate_limit_enabled, window_seconds=cfg.rate_limit_window_seconds,
                   per_key=cfg.rate_limit_per_key, create_per_key=cfg.rate_limit_create_per_key,
                   per_ip=cfg.rate_limit_per_ip, shards=cfg.rate_limit_shards)

    def limit_of(self, bucket: str) -> int:
        return {API: self.per_key, CREATE: self.create_per_key, IP: self.per_ip}[bucket]

    def window_at(self, now: float) -> datetime:
        """The start of the window `now` falls in."""
        return datetime.fromtimestamp(now - now % self.window_seconds, UTC)


@dataclass(frozen=True)
class Quota:
    """One counter as this request left it: `used` counts this request too."""

    bucket: str
    limit: int
    used: int
    window_seconds: int
    reset_at: int  # epoch seconds: the end of the window

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit

    def retry_after(self, now: float) -> int:
        """Whole seconds until the window ends, at least 1."""
        return max(1, math.ceil(self.reset_at - now))


def quota(limits: Limits, bucket: str, used: int, window_start: datetime) -> Quota:
    start = int(window_start.timestamp())
    return Quota(bucket=bucket, limit=limits.limit_of(bucket), used=used, window_seconds=limits.window_seconds,
                 reset_at=start + limits.window_seconds)
