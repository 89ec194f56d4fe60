"""Health: is the database reachable, and how fast (GET /health); and every dependency (GET /health/detailed).

The detailed report asks each dependency the deployment uses at once, in threads, and waits for them all for
at most `CHECK_TIMEOUT_SECONDS` together: a dependency that has not answered by then is reported `down` with a
timeout, so the report itself always comes back in bounded time and always with 200 (the statuses inside say
what is wrong; a load balancer uses GET /health). Each check is also bounded by its own client's timeout, so a
thread left behind ends soon after. Errors name the failure's kind only, never a host or a credential.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import httpx
from sqlalchemy import text

from offerhub import __version__, modes
from offerhub.adapters.postgres import direct
from offerhub.adapters.postgres.unit_of_work import one_statement, read_only
from offerhub.config import settings
from offerhub.core.clock import iso, utcnow
from offerhub.observability import logger

CHECK_TIMEOUT_SECONDS = float(os.environ.get("HEALTH_CHECK_TIMEOUT_SECONDS") or "2.0")
UP, DOWN, NOT_CONFIGURED, NOT_USED = "up", "down", "not_configured", "not_used"


def check_health(database_ms: float | None = None) -> dict[str, Any]:
    """`database_ms`: Postgres already answered this request (the rate limiter's statement) in that time, so the
    database is up without a statement of its own; None: `SELECT 1`."""
    started = time.perf_counter()
    database: dict[str, Any]
    if database_ms is not None:
        database = {"status": "up", "latencyMs": database_ms}
    else:
        try:
            with one_statement() as conn:  # one round trip, not BEGIN / SELECT / ROLLBACK
                direct.rows(conn, "SELECT 1")
            database = {"status": "up", "latencyMs": round((time.perf_counter() - started) * 1000, 1)}
        except Exception as exc:  # any failure to reach the database is "down", never a 500
            logger.warning("database health check failed", extra={"error": str(exc)})
            database = {"status": "down"}
    return {
        "status": "healthy" if database["status"] == "up" else "unhealthy",
        "version": __version__,
        "timestamp": iso(utcnow()),
        "dependencies": {"database": database},
    }


# --- GET /health/detailed --------------------------------------------------------------------------------------
Check = Callable[[float], None]  # raises when the dependency is not usable; given its time budget


def check_health_detailed(timeout: float | None = None) -> dict[str, Any]:
    budget = CHECK_TIMEOUT_SECONDS if timeout is None else timeout
    planned = _planned_checks()
    report: dict[str, dict[str, Any]] = {name: {"status": status} for name, status in planned.items()
                                         if isinstance(status, str)}
    runnable = {name: check for name, check in planned.items() if not isinstance(check, str)}
    pool = ThreadPoolExecutor(max_workers=max(1, len(runnable)), thread_name_prefix="health")
    try:
        futures = {pool.submit(_timed, name, check, budget): name for name, check in runnable.items()}
        done, _ = wait(futures, timeout=budget)
        for future, name in futures.items():
            report[name] = future.result() if future in done else {
                "status": DOWN, "latencyMs": round(budget * 1000, 1), "error": f"no answer within {budget:g} s"}
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    used = [r["status"] for r in report.values() if r["status"] in (UP, DOWN)]
    status = ("unhealthy" if report["database"]["status"] != UP
              else "degraded" if DOWN in used else "healthy")
    return {"status": status, "version": __version__, "paymentProvider": modes.current(),
            "timestamp": iso(utcnow()), "dependencies": {name: report[name] for name in planned}}


def _timed(name: str, check: Check, budget: float) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        check(budget)
        result: dict[str, Any] = {"status": UP}
    except Exception as exc:  # a health check reports, it never raises
        logger.warning("dependency health check failed", extra={"dependency": name, "error": repr(exc)[:300]})
        result = {"status": DOWN, "error": _kind(exc)}
    result["latencyMs"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def _planned_checks() -> dict[str, Check | str]:
    """What this deployment depends on, in the report's order; a string is a status without a check."""
    cfg = settings()
    crypto = modes.current() == modes.CRYPTO
    return {
        "database": _database,
        "dynamodb": _dynamodb(cfg.idempotency_table) if cfg.idempotency_table else NOT_CONFIGURED,
        "kms": (_kms(cfg.wallet_kms_key_id) if cfg.wallet_kms_key_id else NOT_CONFIGURED) if crypto else NOT_USED,
        "horizon": _http(cfg.stellar.horizon_url) if crypto else NOT_USED,
        "trustlessWork": _http(cfg.trustless_api_url) if crypto else NOT_USED,
        "airtm": NOT_USED if crypto else _http(cfg.airtm_api_url),
    }


def _database(_budget: float) -> None:
    with read_only() as conn:
        conn.execute(text("SELECT 1"))


def _boto(service: str, budget: float) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(service, config=Config(connect_timeout=budget, read_timeout=budget,
                                               retries={"max_attempts": 1}))


def _dynamodb(table: str) -> Check:
    def check(budget: float) -> None:
        _boto("dynamodb", budget).describe_table(TableName=table)

    return check


def _kms(key_id: str) -> Check:
    def check(budget: float) -> None:
        state = _boto("kms", budget).describe_key(KeyId=key_id)["KeyMetadata"].get("KeyState")
        if state != "Enabled":
            raise RuntimeError(f"key state {state}")

    return check


def _http(url: str) -> Check:
    """Reachability: any answer below 500 (a 401 or a 404 for the bare base URL included) means it is there."""

    def check(budget: float) -> None:
        response = httpx.get(url, timeout=budget, follow_redirects=False)
        if response.status_code >= 500:
            raise RuntimeError(f"HTTP {response.status_code}")

    return check


def _kind(exc: BaseException) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.HTTPError):
        return "unreachable"
    if isinstance(exc, RuntimeError) and str(exc)[:4] in ("HTTP", "key "):
        return str(exc)
    aws_code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code")  # botocore's ClientError
    return f"{type(exc).__name__}: {aws_code}" if aws_code else type(exc).__name__
