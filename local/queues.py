"""SQS → Lambda, locally: what an AWS event source mapping does, against moto.

moto keeps queues (visibility timeouts, RedrivePolicy → DLQ) but never invokes Lambda from them, so each
binding gets a poller that receives a batch, hands the handler the same event AWS would build, and
deletes what the handler did not report as failed (`ReportBatchItemFailures`). Failed messages come back
after their visibility timeout; after `maxReceiveCount` receives moto moves them to the DLQ.
"""

from __future__ import annotations

import base64
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from local.functions import LambdaContext

# What Lambda copies from ReceiveMessage's attributes into a record (the last five only when present).
_RECORD_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
)
MAX_RECEIVE = 10  # ReceiveMessage's MaxNumberOfMessages ceiling


@dataclass
class QueueBinding:
    """One `Type: SQS` event of a function: the queue, the handler and the mapping's knobs."""

    queue_url: str
    handler: Callable[[dict, Any], Any]
    function_name: str
    batch_size: int = 10
    visibility_timeout: int | None = None  # None: the queue's own

    def __post_init__(self) -> None:
        # Above 10, AWS needs a batching window (several receives per batch); we do not emulate that.
        if not 1 <= self.batch_size <= MAX_RECEIVE:
            raise ValueError(f"batch_size must be 1..{MAX_RECEIVE}, not {self.batch_size}")


def sqs_event(records: list[dict], queue_arn: str, region: str) -> dict:
    """The Lambda SQS event for messages as boto3's receive_message returns them."""
    return {"Records": [_record(message, queue_arn, region) for message in records]}


def _record(message: dict, queue_arn: str, region: str) -> dict:
    attributes = message.get("Attributes", {})
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": {name: attributes[name] for name in _RECORD_ATTRIBUTES if name in attributes},
        "messageAttributes": {name: _message_attribute(value)
                              for name, value in message.get("MessageAttributes", {}).items()},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _b64(value: bytes | str) -> str:
    """boto3 hands binary values back as bytes; Lambda events carry them base64-encoded."""
    return base64.b64encode(value).decode() if isinstance(value, bytes | bytearray) else value


def _message_attribute(value: dict) -> dict:
    """boto3's {StringValue, BinaryValue, DataType} → Lambda's camelCase shape, list fields always present."""
    shaped: dict[str, Any] = {}
    if "StringValue" in value:
        shaped["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        shaped["binaryValue"] = _b64(value["BinaryValue"])
    shaped["stringListValues"] = list(value.get("StringListValues", []))
    shaped["binaryListValues"] = [_b64(item) for item in value.get("BinaryListValues", [])]
    shaped["dataType"] = value["DataType"]
    return shaped


_clients = threading.local()  # boto3 clients are thread-safe, but creating them on several threads is not
_arns: dict[str, str] = {}
_arns_lock = threading.Lock()


def _sqs() -> Any:
    import os

    import boto3

    # Keyed by endpoint and region so a changed environment (another moto server) gets a fresh client.
    key = (os.environ.get("AWS_ENDPOINT_URL"), os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    cache = getattr(_clients, "by_key", None)
    if cache is None:
        cache = _clients.by_key = {}
    if key not in cache:
        cache[key] = boto3.session.Session().client("sqs")
    return cache[key]


def queue_arn(queue_url: str) -> str:
    """The queue's ARN (the records' eventSourceARN), asked once per queue."""
    with _arns_lock:
        cached = _arns.get(queue_url)
    if cached is None:
        cached = _sqs().get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        with _arns_lock:
            _arns[queue_url] = cached
    return cached


def poll_once(binding: QueueBinding, *, wait_seconds: int = 0) -> dict:
    """Receive one batch, invoke the handler, delete what succeeded; {"received", "failed", "deleted"}.

    A handler that raises fails the whole batch: nothing is deleted and the exception propagates.
    """
    sqs = _sqs()
    arn = queue_arn(binding.queue_url)
    receive: dict[str, Any] = {
        "QueueUrl": binding.queue_url,
        "MaxNumberOfMessages": binding.batch_size,
        "WaitTimeSeconds": wait_seconds,
        "AttributeNames": ["All"],
        "MessageAttributeNames": ["All"],
    }
    if binding.visibility_timeout is not None:
        receive["VisibilityTimeout"] = binding.visibility_timeout
    messages = sqs.receive_message(**receive).get("Messages", [])
    if not messages:
        return {"received": 0, "failed": 0, "deleted": 0}
    event = sqs_event(messages, arn, arn.split(":")[3])
    result = binding.handler(event, LambdaContext(function_name=binding.function_name))
    failed = _failed_ids(result, [m["MessageId"] for m in messages])
    done = [m for m in messages if m["MessageId"] not in failed]
    deleted = _delete(sqs, binding.queue_url, done)
    return {"received": len(messages), "failed": len(messages) - len(done), "deleted": deleted}


def _failed_ids(result: Any, message_ids: list[str]) -> set[str]:
    """ReportBatchItemFailures as Lambda reads the response.

    No response, no `batchItemFailures` or an empty list: all succeeded. A malformed entry (not an object,
    empty or missing itemIdentifier, an id not in the batch): the whole batch failed.
    """
    if not isinstance(result, dict) or not result.get("batchItemFailures"):
        return set()
    entries = result["batchItemFailures"]
    known = set(message_ids)
    if not isinstance(entries, list):
        return known
    failed: set[str] = set()
    for entry in entries:
        identifier = entry.get("itemIdentifier") if isinstance(entry, dict) else None
        if not isinstance(identifier, str) or identifier not in known:
            return known
        failed.add(identifier)
    return failed


def _delete(sqs: Any, queue_url: str, messages: Iterable[dict]) -> int:
    batch = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
    deleted = 0
    for start in range(0, len(batch), MAX_RECEIVE):
        response = sqs.delete_message_batch(QueueUrl=queue_url, Entries=batch[start:start + MAX_RECEIVE])
        deleted += len(response.get("Successful", []))
        for failure in response.get("Failed", []):  # e.g. a stale receipt handle: the message comes back
            print(f"queue {queue_url}: delete failed: {failure.get('Code')} {failure.get('Message')}", flush=True)
    return deleted


def start_pollers(bindings: list[QueueBinding], stop: threading.Event) -> list[threading.Thread]:
    """One daemon thread per binding, long-polling until `stop` is set (each stops within about a second)."""
    threads = []
    for binding in bindings:
        thread = threading.Thread(target=_run, args=(binding, stop), daemon=True,
                                  name=f"sqs-{binding.function_name}")
        thread.start()
        threads.append(thread)
    return threads


def _run(binding: QueueBinding, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            poll_once(binding, wait_seconds=1)
        except Exception as exc:  # the batch comes back after its visibility timeout, as in AWS
            print(f"queue {binding.function_name}: {type(exc).__name__}: {exc}", flush=True)
            traceback.print_exc()
            stop.wait(1)  # a broken endpoint must not turn into a busy loop
