"""SQS: the webhook queue between the ingress and the worker (boto3, one client per container)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from offerhub.config import settings
from offerhub.core.errors import ServiceUnavailable


@cache
def _sqs() -> Any:
    import boto3

    return boto3.client("sqs")


def enqueue(message: dict[str, Any]) -> None:
    url = settings().webhook_queue_url
    if not url:
        raise ServiceUnavailable("the webhook queue is not configured (WEBHOOK_QUEUE_URL)", code="QUEUE_UNAVAILABLE")
    try:
        _sqs().send_message(QueueUrl=url, MessageBody=json.dumps(message, separators=(",", ":")))
    except Exception as exc:  # botocore's errors: the provider retries the delivery
        raise ServiceUnavailable("the webhook queue is unavailable; retry", code="QUEUE_UNAVAILABLE") from exc
