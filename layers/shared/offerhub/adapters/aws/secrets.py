"""Secrets Manager reads, cached in memory for five minutes (Powertools parameters)."""

from __future__ import annotations

from typing import Any


def get_secret_string(arn: str) -> str:
    from aws_lambda_powertools.utilities import parameters

    return str(parameters.get_secret(arn, max_age=300))


def get_secret_json(arn: str, *, fresh: bool = False) -> dict[str, Any]:
    """`fresh`: past the cache (a credential that just failed may have been rotated)."""
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_secret(arn, transform="json", max_age=300, force_fetch=fresh)
    return dict(value)  # type: ignore[arg-type]
