"""Rate limits (docs/api.md "Rate limits"): per API key, per source IP without one, stricter on top-up and
withdrawal creation; counted in Postgres in the statement that authenticates the key.

The limiter's clock is replaced (no sleeping): each test starts at the beginning of a window of its own, and
counts subjects of its own (fresh keys, source IPs from TEST-NET-3), so no test sees another's hits.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from local.pgtrace import round_trips
from tests.conftest import MASTER_KEY
from tests.lambda_client import Result, call, function_for, http_event, invoke

ROOT = Path(__file__).resolve().parent.parent
WINDOW = 60


class Clock:
    def __init__(self, now: float) -> None:
        self.start = now - now % WINDOW  # the window the test starts in
        self.now = self.start + 5

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch, db: str) -> Clock:
    """The limiter's clock, at the start of the current real window plus a few seconds."""
    from offerhub.auth import limits

    fake = Clock(time.time())
    monkeypatch.setattr(limits, "clock", fake)
    return fake


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """configure(RATE_LIMIT_PER_KEY=3, ...): the limiter's settings for this test."""
    from offerhub.config import settings

    def apply(**env: Any) -> None:
        for name, value in env.items():
            monkeypatch.setenv(name, str(value))
        settings.cache_clear()

    yield apply
    monkeypatch.undo()
    settings.cache_clear()


def from_ip(ip: str, method: str, path: str, **kwargs: Any) -> Result:
    event = http_event(method, path, **kwargs)
    event["requestContext"]["http"]["sourceIp"] = ip
    return invoke(function_for(path), event)


def fresh_ip() -> str:
    """An address of the IPv6 documentation prefix that no other test uses."""
    return f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"


def limit_headers(result: Result) -> tuple[int, int, int]:
    h = result.headers
    return int(h["x-ratelimit-limit"]), int(h["x-ratelimit-remaining"]), int(h["x-ratelimit-reset"])


def test_the_defaults_are_generous_but_stricter_on_creation(monkeypatch):
    from offerhub.auth.limits import Limits
    from offerhub.config import Settings

    for name in ("ENABLED", "WINDOW_SECONDS", "PER_KEY", "CREATE_PER_KEY", "PER_IP", "SHARDS"):
        monkeypatch.delenv(f"RATE_LIMIT_{name}", raising=False)
    defaults = Limits.from_settings(Settings.from_env())
    assert defaults == Limits(enabled=True, window_seconds=60, per_key=6000, create_per_key=60, per_ip=6000, shards=1)
    monkeypatch.setenv("RATE_LIMIT_CREATE_PER_KEY", "0")
    with pytest.raises(RuntimeError, match="RATE_LIMIT_CREATE_PER_KEY"):
        Settings.from_env()


def test_every_response_carries_the_headers_and_remaining_goes_down(api_key, clock, configure):
    key = api_key("read")
    configure(RATE_LIMIT_PER_KEY=10)
    window_end = int(clock.start) + WINDOW
    seen = [limit_headers(call("GET", "/api/v1/auth/me", key=key)) for _ in range(3)]
    assert seen == [(10, 9, window_end), (10, 8, window_end), (10, 7, window_end)]
    # Errors too: a 404 from a use case, a 403 for a missing scope, a 400 on the body.
    missing = call("GET", "/api/v1/users/usr_" + "0" * 32, key=key)
    assert missing.status == 404 and limit_headers(missing) == (10, 6, window_end)
    refused = call("POST", "/api/v1/users", key=key, body={"externalUserId": "no-write-scope"})
    assert refused.status == 403 and limit_headers(refused) == (10, 5, window_end)
    invalid = call("POST", "/api/v1/users", key=key, raw_body="{not json")
    assert invalid.status == 400 and limit_headers(invalid) == (10, 4, window_end)


def test_over_the_limit_is_a_429_with_retry_after_and_the_error_envelope(api_key, clock, configure):
    key = api_key("read")
    configure(RATE_LIMIT_PER_KEY=3)
    assert [call("GET", "/api/v1/auth/me", key=key).status for _ in range(3)] == [200, 200, 200]
    clock.now += 12.5
    over = call("GET", "/api/v1/auth/me", key=key)
    assert over.status == 429 and over.error_code == "RATE_LIMITED"
    assert over.body["error"]["requestId"] == over.headers["x-request-id"]
    assert over.body["error"]["details"] == {"limit": 3, "windowSeconds": 60, "bucket": "api", "retryAfter": 43}
    assert over.headers["retry-after"] == "43"  # the window ends 60 s after it began: 5 + 12.5 s in
    assert limit_headers(over)[:2] == (3, 0)
    assert call("GET", "/api/v1/auth/me", key=key).status == 429  # still refused, still counted


def test_the_window_resets_on_the_clock(api_key, clock, configure):
    key = api_key("read")
    configure(RATE_LIMIT_PER_KEY=2)
    assert [call("GET", "/api/v1/auth/me", key=key).status for _ in range(3)] == [200, 200, 429]
    clock.now = clock.start + WINDOW - 0.25  # the window's last moment
    last = call("GET", "/api/v1/auth/me", key=key)
    assert last.status == 429 and last.headers["retry-after"] == "1"
    clock.now = clock.start + WINDOW
    fresh = call("GET", "/api/v1/auth/me", key=key)
    assert fresh.status == 200 and limit_headers(fresh) == (2, 1, int(clock.start) + 2 * WINDOW)


def test_each_key_has_its_own_counter(api_key, clock, configure):
    first, second = api_key("read"), api_key("read")
    configure(RATE_LIMIT_PER_KEY=2)
    assert [call("GET", "/api/v1/auth/me", key=first).status for _ in range(3)] == [200, 200, 429]
    other = call("GET", "/api/v1/auth/me", key=second)
    assert other.status == 200 and limit_headers(other)[:2] == (2, 1)


def test_a_wrong_secret_spends_the_callers_ip_allowance_not_the_keys(api_key, clock, configure):
    key = api_key("read")
    configure(RATE_LIMIT_PER_KEY=5, RATE_LIMIT_PER_IP=2)
    ip = fresh_ip()
    forged = key[:-48] + ("0" * 48 if not key.endswith("0" * 48) else "1" * 48)
    headers = {"authorization": f"Bearer {forged}"}
    results = [from_ip(ip, "GET", "/api/v1/auth/me", headers=headers) for _ in range(3)]
    assert [r.status for r in results] == [401, 401, 429]
    assert limit_headers(results[0])[:2] == (2, 1)
    assert results[2].body["error"]["details"]["bucket"] == "ip"
    # No key at all, or no key id in it: the same IP counter.
    assert from_ip(ip, "GET", "/api/v1/auth/me").status == 429
    assert from_ip(ip, "GET", "/api/v1/auth/me", headers={"authorization": "Bearer nonsense"}).status == 429
    genuine = from_ip(ip, "GET", "/api/v1/auth/me", headers={"authorization": f"Bearer {key}"})
    assert genuine.status == 200 and limit_headers(genuine)[:2] == (5, 4)


def test_a_short_lived_token_spends_its_keys_allowance(api_key, clock, configure):
    key = api_key("read")
    me = call("GET", "/api/v1/auth/me", key=key).data["apiKeyId"]
    configure(RATE_LIMIT_PER_KEY=4, RATE_LIMIT_PER_IP=10)
    issued = call("POST", f"/api/v1/auth/api-keys/{me}/token", key=key)  # the key's second request of the window
    assert issued.status == 201, issued.body
    token = issued.data["token"]
    by_token = call("GET", "/api/v1/auth/me", key=token)
    assert by_token.status == 200 and limit_headers(by_token)[:2] == (4, 1)
    assert limit_headers(call("GET", "/api/v1/auth/me", key=key))[:2] == (4, 0)
    assert [call("GET", "/api/v1/auth/me", key=t).status for t in (token, key)] == [429, 429]
    ip = fresh_ip()
    forged = from_ip(ip, "GET", "/api/v1/auth/me", headers={"authorization": f"Bearer {token[:-2]}xx"})
    assert forged.status == 401 and limit_headers(forged)[:2] == (10, 9)  # the caller's IP, not the key


def test_health_and_provider_webhooks_are_limited_per_source_ip(db, clock, configure):
    configure(RATE_LIMIT_PER_IP=3)
    ip, other_ip = fresh_ip(), fresh_ip()
    first = from_ip(ip, "GET", "/api/v1/health")
    assert first.status == 200 and limit_headers(first)[:2] == (3, 2)
    # An unsigned provider webhook (401, nothing stored) counts against the same address.
    hook = from_ip(ip, "POST", "/api/v1/webhooks/trustless-work", raw_body='{"event":"x"}')
    assert hook.status == 401 and limit_headers(hook)[:2] == (3, 1)
    assert from_ip(ip, "GET", "/api/v1/health").status == 200
    over = from_ip(ip, "GET", "/api/v1/health")
    assert over.status == 429 and over.error_code == "RATE_LIMITED" and over.headers["retry-after"] == "55"
    assert from_ip(other_ip, "GET", "/api/v1/health").status == 200


def test_a_bad_key_on_the_health_check_is_counted_per_ip_and_ignored(db, clock, configure):
    configure(RATE_LIMIT_PER_IP=5)
    ip = fresh_ip()
    result = from_ip(ip, "GET", "/api/v1/health", headers={"x-api-key": "ohk_test_key_" + "A" * 32 + "_" + "0" * 48})
    assert result.status == 200 and limit_headers(result)[:2] == (5, 4)


def test_top_up_and_withdrawal_creation_have_a_stricter_limit(api_key, new_user, clock, configure):
    """Crypto mode: real withdrawals from a funded wallet. The creation bucket is one per key, shared by
    POST /topups and POST /withdrawals; everything else the key does counts in its general bucket."""
    from tests.crypto.conftest import run_monitor

    key = api_key("read", "write")
    user = new_user()["id"]
    assert call("POST", "/api/v1/test-helpers/deposits", key=key, body={"userId": user, "amount": "5.00"}).status == 201
    run_monitor()
    destination = call("POST", "/api/v1/test-helpers/stellar-accounts", key=key, body={"trustUsdc": True}).data
    configure(RATE_LIMIT_PER_KEY=100, RATE_LIMIT_CREATE_PER_KEY=3)
    body = {"userId": user, "amount": "1.00", "destinationType": "crypto", "destinationRef": destination["address"]}
    created = [call("POST", "/api/v1/withdrawals", key=key, body=body) for _ in range(2)]
    assert [c.status for c in created] == [201, 201], created[-1].body
    assert [limit_headers(c)[:2] for c in created] == [(3, 2), (3, 1)]
    # A top-up (airtm mode only: refused here) still counts as a creation.
    topup = call("POST", "/api/v1/topups", key=key, body={"userId": user, "amount": "1.00"})
    assert topup.status == 422 and limit_headers(topup)[:2] == (3, 0)
    over = call("POST", "/api/v1/withdrawals", key=key, body=body)
    assert over.status == 429 and over.body["error"]["details"]["bucket"] == "create"
    assert "top-up and withdrawal creation" in over.body["error"]["message"]
    listed = call("GET", "/api/v1/withdrawals", key=key, query={"userId": user})
    assert listed.status == 200 and len(listed.data) == 2 and limit_headers(listed)[0] == 100
    for wd in created:  # the general bucket: cancelling is not creating
        assert call("POST", f"/api/v1/withdrawals/{wd.data['id']}/cancel", key=key).status == 200
    assert call("GET", f"/api/v1/balance/{user}", key=key).data["available"] == "5.00"


def test_a_429_is_not_stored_for_its_idempotency_key_and_replays_show_the_current_count(api_key, clock, configure):
    key = api_key("write")
    configure(RATE_LIMIT_PER_KEY=3)
    idem = {"Idempotency-Key": "rl-" + secrets.token_hex(6)}
    body = {"externalUserId": "rl-" + secrets.token_hex(6)}
    first = call("POST", "/api/v1/users", key=key, headers=idem, body=body)
    replay = call("POST", "/api/v1/users", key=key, headers=idem, body=body)
    assert first.status == replay.status == 201 and replay.headers["idempotent-replayed"] == "true"
    assert limit_headers(first)[1] == 2 and limit_headers(replay)[1] == 1  # the current counter, not the stored one
    other = {"Idempotency-Key": "rl-" + secrets.token_hex(6)}
    other_body = {"externalUserId": "rl-" + secrets.token_hex(6)}
    assert call("POST", "/api/v1/users", key=key).status == 400  # the third request of the window
    limited = call("POST", "/api/v1/users", key=key, headers=other, body=other_body)
    assert limited.status == 429 and "idempotent-replayed" not in limited.headers
    clock.now += WINDOW
    after = call("POST", "/api/v1/users", key=key, headers=other, body=other_body)
    assert after.status == 201 and "idempotent-replayed" not in after.headers  # it ran: nothing was stored


def test_the_master_key_is_limited_like_any_key(db, clock, configure):
    from sqlalchemy import text

    from offerhub.adapters.postgres.unit_of_work import read_only

    configure(RATE_LIMIT_PER_KEY=2)
    clock.now += 7 * WINDOW  # a window of its own: the session's other master-key requests are in the current one
    try:
        results = [call("GET", "/api/v1/auth/api-keys", key=MASTER_KEY) for _ in range(3)]
        assert [r.status for r in results] == [200, 200, 429]
        assert limit_headers(results[0])[:2] == (2, 1)
    finally:  # the master key's counter back in the real window, for the rest of the session
        with read_only() as conn:
            conn.execute(text("DELETE FROM rate_limit_counters WHERE subject = 'master'"))
            conn.commit()


def test_a_lagging_clock_counts_in_the_later_window_and_stale_rows_are_pruned(db):
    """Store level: a container whose clock lags counts in the window the row is already in (never resets it);
    a counting statement may prune rows nobody has counted on for an hour."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import text

    from offerhub.adapters.postgres.unit_of_work import read_only
    from offerhub.auth import store

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    subject, stale = "ip:" + fresh_ip(), "ip:" + fresh_ip()
    with read_only() as conn:
        assert store.count(conn, subject=subject, bucket="ip", shard=0, window_start=now + timedelta(minutes=1))[
            "used"] == 1
        lagging = store.count(conn, subject=subject, bucket="ip", shard=0, window_start=now)
        assert (lagging["used"], lagging["window_start"]) == (2, now + timedelta(minutes=1))
        store.count(conn, subject=stale, bucket="ip", shard=0, window_start=now - timedelta(hours=2))
        store.count(conn, subject=subject, bucket="ip", shard=0, window_start=now,
                    stale_before=now - timedelta(hours=1))
        left = conn.execute(text("SELECT subject FROM rate_limit_counters WHERE subject IN (:a, :b)"),
                            {"a": subject, "b": stale}).scalars().all()
        assert left == [subject]
        conn.rollback()


def test_the_limiter_can_be_switched_off(api_key, clock, configure):
    key = api_key("read")
    configure(RATE_LIMIT_ENABLED="false", RATE_LIMIT_PER_KEY=1)
    results = [call("GET", "/api/v1/auth/me", key=key) for _ in range(3)]
    assert [r.status for r in results] == [200, 200, 200]
    assert not any(h.startswith("x-ratelimit") for r in results for h in r.headers)


def test_sharded_counters_add_up_to_one_limit(api_key, clock, configure):
    key = api_key("read")
    configure(RATE_LIMIT_PER_KEY=10, RATE_LIMIT_SHARDS=4)
    statuses = [call("GET", "/api/v1/auth/me", key=key) for _ in range(12)]
    assert [r.status for r in statuses] == [200] * 10 + [429] * 2
    assert [limit_headers(r)[1] for r in statuses[:10]] == list(range(9, -1, -1))


@pytest.fixture
def one_connection(db: str) -> Iterator[None]:
    """The layer on an engine of one connection, as in a Lambda container (DB_POOL_SIZE=1)."""
    from offerhub.adapters.postgres import engine

    previous = engine.get_engine()
    single = engine.build_engine(db)
    engine.set_engine(single)
    yield
    engine.set_engine(previous)
    single.dispose()


def test_admitting_a_request_is_one_round_trip(api_key, clock, configure, one_connection):
    """The key check, last_used_at and the counter: one statement, sent in autocommit (no BEGIN, COMMIT or
    ROLLBACK around it), with the limiter on or off; a source IP's counter is one statement too."""
    from offerhub.auth import service

    key = api_key("read")
    configure(RATE_LIMIT_PER_KEY=100)
    service.admit(key, source_ip="198.51.100.1", bucket="api")  # connect
    assert round_trips(lambda: service.admit(key, source_ip="198.51.100.1", bucket="api")) == 1
    assert round_trips(lambda: service.admit(None, source_ip=fresh_ip(), bucket="api")) == 1
    assert round_trips(lambda: service.authenticate(key)) == 1
    configure(RATE_LIMIT_ENABLED="false")
    assert round_trips(lambda: service.admit(key, source_ip="198.51.100.1", bucket="api")) == 1
    assert round_trips(lambda: service.admit(None, source_ip=fresh_ip(), bucket="api")) == 0



def test_a_health_check_is_one_round_trip_the_limiters_statement_vouching_for_the_database(
        clock, configure, one_connection):
    """GET /health reports the database up from the admission's statement (it reached Postgres) rather than
    sending a SELECT 1 of its own; with the limiter off, the SELECT 1 is its one statement."""
    configure(RATE_LIMIT_PER_IP=100)
    from_ip(fresh_ip(), "GET", "/api/v1/health")  # connect
    answers: list[Result] = []
    assert round_trips(lambda: answers.append(from_ip(fresh_ip(), "GET", "/api/v1/health"))) == 1
    database = answers[-1].data["dependencies"]["database"]
    assert answers[-1].status == 200 and database["status"] == "up" and database["latencyMs"] >= 0
    configure(RATE_LIMIT_ENABLED="false")
    assert round_trips(lambda: answers.append(from_ip(fresh_ip(), "GET", "/api/v1/health"))) == 1
    assert answers[-1].status == 200 and answers[-1].data["dependencies"]["database"]["status"] == "up"

CHILD = r"""
import json, os, sys, time
root, database_url, token, calls, start_at, now = sys.argv[1:7]
sys.path[:0] = [os.path.join(root, "layers", "shared"), root]
from offerhub.adapters.postgres.engine import build_engine, set_engine
from offerhub.auth import limits
from tests.lambda_client import call

set_engine(build_engine(database_url))  # this process's own engine and connection
limits.clock = lambda: float(now)
call("GET", "/api/v1/health")  # import and connect before the start line
while time.time() < float(start_at):
    time.sleep(0.001)
results = [call("GET", "/api/v1/auth/me", key=token) for _ in range(int(calls))]
print(json.dumps([[r.status, r.headers.get("x-ratelimit-remaining")] for r in results]))
"""


def test_two_processes_share_one_limit(api_key, clock, db):
    """Two OS processes, each with its own engine (as two Lambda containers), spend one key's allowance."""
    key = api_key("read")
    env = {**os.environ, "DATABASE_URL": db, "RATE_LIMIT_PER_KEY": "20", "RATE_LIMIT_ENABLED": "true",
           "IDEMPOTENCY_TABLE": ""}
    start_at = time.time() + 3
    children = [subprocess.Popen([sys.executable, "-c", CHILD, str(ROOT), db, key, "15", str(start_at),
                                  str(clock.now)], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
                for _ in range(2)]
    outputs = [child.communicate(timeout=120)[0] for child in children]
    assert all(child.returncode == 0 for child in children), outputs
    results = [tuple(r) for out in outputs for r in json.loads(out.strip().splitlines()[-1])]
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 20 + [429] * 10
    remaining = sorted(int(left) for status, left in results if status == 200)
    assert remaining == list(range(20))  # every count from 19 down to 0 handed out exactly once
