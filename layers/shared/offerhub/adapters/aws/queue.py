"""SQS: the project's queues (boto3, one client per container). The webhook queue sits between the ingress and
its worker; the wallet activation queue between sign-up (POST /users, through the activation relay) and the wallet
activator."""

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


def enqueue_wallet_activations(messages: list[dict[str, Any]]) -> None:
    """Wallets to activate, ten to a SendMessageBatch (the activation relay). All or an error: a partly sent batch
    raises too, and is sent again whole (a duplicate is a no-op for the activator)."""
    url = _url(settings().wallet_activation_queue_url, "wallet activation", "WALLET_ACTIVATION_QUEUE_URL")
    for start in range(0, len(messages), 10):
        entries = [{"Id": str(i), "MessageBody": json.dumps(m, separators=(",", ":"))}
                   for i, m in enumerate(messages[start:start + 10])]
        try:
            failed = _sqs().send_message_batch(QueueUrl=url, Entries=entries).get("Failed")
        except Exception as exc:  # botocore's errors
            raise _unavailable("wallet activation") from exc
        if failed:
            raise _unavailable("wallet activation")


def _send(url: str | None, name: str, setting: str, message: dict[str, Any]) -> None:
    url = _url(url, name, setting)
    try:
        _sqs().send_message(QueueUrl=url, MessageBody=json.dumps(message, separators=(",", ":")))
    except Exception as exc:  # botocore's errors: the caller decides who retries
        raise _unavailable(name) from exc


def _url(url: str | None, name: str, setting: str) -> str:
    if not url:
        raise ServiceUnavailable(f"the {name} queue is not configured ({setting})", code="QUEUE_UNAVAILABLE")
    return url


def _unavailable(name: str) -> ServiceUnavailable:
    return ServiceUnavailable(f"the {name} queue is unavailable; retry", code="QUEUE_UNAVAILABLE")
