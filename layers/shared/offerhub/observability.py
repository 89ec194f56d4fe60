"""One logger for the layer (Powertools: JSON logs with the Lambda context and the request id)."""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger(service=None, use_rfc3339=True)
