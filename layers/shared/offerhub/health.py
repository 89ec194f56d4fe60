"""Health: is the database reachable, and how fast."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import text

from offerhub import __version__
from offerhub.adapters.postgres.unit_of_work import read_only
from offerhub.core.clock import iso, utcnow
from offerhub.observability import logger


def check_health() -> dict[str, Any]:
    started = time.perf_counter()
    try:
        with read_only() as conn:
            conn.execute(text("SELECT 1"))
        database: dict[str, Any] = {"status": "up", "latencyMs": round((time.perf_counter() - started) * 1000, 1)}
    except Exception as exc:  # any failure to reach the database is "down", never a 500
        logger.warning("database health check failed", extra={"error": str(exc)})
        database = {"status": "down"}
    return {
        "status": "healthy" if database["status"] == "up" else "unhealthy",
        "version": __version__,
        "timestamp": iso(utcnow()),
        "dependencies": {"database": database},
    }
