"""The few statements every request runs, sent through psycopg directly on a pooled connection.

SQLAlchemy's execution path (compiled-statement lookup, execution context, result metadata, row mappings) costs more
CPU than the round trip of a small statement; on the rate limit counter, the key check, the health ping and the
balance read that is a large share of a request (bench/http_load.py). Those statements skip it and nothing else
changes: the connection comes from the same pool and unit of work, parameters are psycopg's `%(name)s`, rows come
back as dicts of psycopg's own types (the ones SQLAlchemy hands over for these columns: no result processor applies),
and a database error is raised as the SQLAlchemy exception it would have been (OperationalError stays a 503), the
connection invalidated when it broke, as SQLAlchemy does.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError


def rows(conn: Connection, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    raw = conn.connection.dbapi_connection
    try:
        with raw.cursor(row_factory=dict_row) as cursor:  # type: ignore[union-attr]
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description is not None else []
    except psycopg.Error as exc:
        broken = bool(raw.closed or raw.broken)  # type: ignore[union-attr]
        if broken:
            conn.invalidate(exc)
        raise DBAPIError.instance(sql, params, exc, psycopg.Error, hide_parameters=True,
                                  connection_invalidated=broken) from exc


def one(conn: Connection, sql: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    found = rows(conn, sql, params)
    if len(found) != 1:
        raise LookupError(f"expected one row, got {len(found)}")
    return found[0]
