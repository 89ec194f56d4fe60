"""Secrets Manager reads, cached in memory for five minutes (Powertools parameters)."""

from __future__ import annotations

from typing import Any


def get_secret_string(arn: str) -> str:
    from aws_lambda_powertools.utilities import parameters

    return str(parameters.get_secret(arn, max_age=300))


def get_secret_json(arn: str) -> dict[str, Any]:
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_secret(arn, transform="json", max_age=300)
    return dict(value)  # type: ignore[arg-type]
