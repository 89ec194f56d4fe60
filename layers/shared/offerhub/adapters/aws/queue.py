"""SQS: the project's queues (boto3, one client per container). The webhook queue sits between the ingress and
its worker; the wallet activation queue between sign-up (POST /users) and the wallet activator."""

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
    """A verified provider webhook, for the webhook worker."""
    _send(settings().webhook_queue_url, "webhook", "WEBHOOK_QUEUE_URL", message)


def enqueue_wallet_activation(message: dict[str, Any]) -> None:
    """A wallet to activate on chain, for the wallet activator."""
    _send(settings().wallet_activation_queue_url, "wallet activation", "WALLET_ACTIVATION_QUEUE_URL", message)


def _send(url: str | None, name: str, setting: str, message: dict[str, Any]) -> None:
    if not url:
        raise ServiceUnavailable(f"the {name} queue is not configured ({setting})", code="QUEUE_UNAVAILABLE")
    try:
        _sqs().send_message(QueueUrl=url, MessageBody=json.dumps(message, separators=(",", ":")))
    except Exception as exc:  # botocore's errors: the caller decides who retries
        raise ServiceUnavailable(f"the {name} queue is unavailable; retry", code="QUEUE_UNAVAILABLE") from exc
