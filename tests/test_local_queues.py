"""The local SQS → Lambda poller against moto in-process: partial failures, DLQ, event shape, stopping."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading

import boto3
import pytest

from local.functions import LambdaContext
from local.queues import QueueBinding, poll_once, queue_arn, sqs_event, start_pollers


def make_queue(*, visibility: str = "30", dlq_after: int | None = None) -> tuple[str, str | None]:
    """A uniquely named queue (and its DLQ when asked); returns (queue url, dlq url)."""
    sqs = boto3.client("sqs")
    name = "test-webhooks-" + secrets.token_hex(4)
    attributes = {"VisibilityTimeout": visibility}
    dlq_url = None
    if dlq_after is not None:
        dlq_url = sqs.create_queue(QueueName=name + "-dlq")["QueueUrl"]
        attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": queue_arn(dlq_url),
                                                  "maxReceiveCount": dlq_after})
    return sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"], dlq_url


def send(queue_url: str, *bodies: str) -> list[str]:
    sqs = boto3.client("sqs")
    return [sqs.send_message(QueueUrl=queue_url, MessageBody=body)["MessageId"] for body in bodies]


def depth(queue_url: str) -> tuple[int, int]:
    """(visible, in flight)."""
    attrs = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


class Recorder:
    """A handler that fails the records whose body is in `fail` and remembers every event."""

    def __init__(self, fail: set[str] = frozenset()):
        self.fail = fail
        self.events: list[dict] = []
        self.contexts: list[LambdaContext] = []

    def __call__(self, event: dict, context: LambdaContext) -> dict:
        self.events.append(event)
        self.contexts.append(context)
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]
                                      if r["body"] in self.fail]}


def advance_moto_clock(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Let the visibility timeout pass without sleeping: moto reads this clock for visibility."""
    import moto.sqs.models as sqs_models

    real = sqs_models.unix_time_millis
    monkeypatch.setattr(sqs_models, "unix_time_millis", lambda *a: real(*a) + seconds * 1000)


def test_partial_failure_deletes_the_rest_and_the_failed_one_returns_after_the_timeout(aws, monkeypatch):
    url, _ = make_queue(visibility="30")
    ids = send(url, "ok-1", "poison", "ok-2")
    handler = Recorder(fail={"poison"})
    binding = QueueBinding(url, handler, "webhook-worker")

    assert poll_once(binding) == {"received": 3, "failed": 1, "deleted": 2}
    assert sorted(r["messageId"] for r in handler.events[0]["Records"]) == sorted(ids)
    assert depth(url) == (0, 1)  # the failed one is in flight, hidden for the visibility timeout
    assert poll_once(binding) == {"received": 0, "failed": 0, "deleted": 0}

    advance_moto_clock(monkeypatch, 31)
    assert depth(url) == (1, 0)
    handler.fail = set()
    assert poll_once(binding) == {"received": 1, "failed": 0, "deleted": 1}
    again = handler.events[-1]["Records"][0]
    assert (again["messageId"], again["body"]) == (ids[1], "poison")
    assert again["attributes"]["ApproximateReceiveCount"] == "2"
    assert depth(url) == (0, 0)


def test_binding_visibility_timeout_overrides_the_queue(aws, monkeypatch):
    url, _ = make_queue(visibility="0")  # moto: a 0 timeout leaves a received message visible at once
    send(url, "bad")
    binding = QueueBinding(url, Recorder(fail={"bad"}), "webhook-worker", visibility_timeout=5)
    assert poll_once(binding)["failed"] == 1
    assert poll_once(binding)["received"] == 0
    advance_moto_clock(monkeypatch, 6)
    assert poll_once(binding)["received"] == 1


def test_poison_message_reaches_the_dlq_after_max_receive_count(aws):
    url, dlq_url = make_queue(visibility="0", dlq_after=5)
    [poison_id] = send(url, "poison")
    handler = Recorder(fail={"poison"})
    binding = QueueBinding(url, handler, "webhook-worker")

    for attempt in range(1, 6):
        assert poll_once(binding) == {"received": 1, "failed": 1, "deleted": 0}
        assert handler.events[-1]["Records"][0]["attributes"]["ApproximateReceiveCount"] == str(attempt)
    # The 6th receive finds the count at maxReceiveCount and moves the message instead of delivering it.
    assert poll_once(binding) == {"received": 0, "failed": 0, "deleted": 0}
    assert depth(url) == (0, 0)
    assert depth(dlq_url) == (1, 0)
    dead = boto3.client("sqs").receive_message(QueueUrl=dlq_url, AttributeNames=["All"])["Messages"]
    assert [(m["MessageId"], m["Body"]) for m in dead] == [(poison_id, "poison")]


def test_event_has_the_aws_shape(aws):
    url, _ = make_queue(visibility="0")
    sqs = boto3.client("sqs")
    message_id = sqs.send_message(
        QueueUrl=url,
        MessageBody='{"type":"payin.confirmed"}',
        MessageAttributes={
            "provider": {"DataType": "String", "StringValue": "AIRTM"},
            "attempt": {"DataType": "Number", "StringValue": "1"},
            "raw": {"DataType": "Binary", "BinaryValue": b"\x00\xffsig"},
        },
    )["MessageId"]
    handler = Recorder()
    binding = QueueBinding(url, handler, "webhook-worker", batch_size=1)
    handler.fail = {'{"type":"payin.confirmed"}'}
    poll_once(binding)
    handler.fail = set()
    poll_once(binding)

    first, second = (event["Records"][0] for event in handler.events)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert arn.startswith("arn:aws:sqs:us-east-1:")
    assert set(first) == {"messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody",
                          "md5OfMessageAttributes", "eventSource", "eventSourceARN", "awsRegion"}
    assert first["messageId"] == second["messageId"] == message_id
    assert first["receiptHandle"] != second["receiptHandle"]
    assert (first["eventSource"], first["eventSourceARN"], first["awsRegion"]) == ("aws:sqs", arn, "us-east-1")
    assert first["body"] == '{"type":"payin.confirmed"}'
    assert first["md5OfBody"] == hashlib.md5(first["body"].encode()).hexdigest()
    assert set(first["attributes"]) == {"ApproximateReceiveCount", "SentTimestamp", "SenderId",
                                        "ApproximateFirstReceiveTimestamp"}
    assert all(isinstance(v, str) for v in first["attributes"].values())
    assert (first["attributes"]["ApproximateReceiveCount"], second["attributes"]["ApproximateReceiveCount"]) == ("1",
                                                                                                                 "2")
    assert first["attributes"]["ApproximateFirstReceiveTimestamp"] == \
        second["attributes"]["ApproximateFirstReceiveTimestamp"]
    assert first["messageAttributes"] == {
        "provider": {"stringValue": "AIRTM", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
        "attempt": {"stringValue": "1", "stringListValues": [], "binaryListValues": [], "dataType": "Number"},
        "raw": {"binaryValue": base64.b64encode(b"\x00\xffsig").decode(), "stringListValues": [],
                "binaryListValues": [], "dataType": "Binary"},
    }
    assert handler.contexts[0].function_name == "webhook-worker"
    assert handler.contexts[0].get_remaining_time_in_millis() > 0
    assert json.loads(json.dumps(handler.events[0])) == handler.events[0]  # plain JSON, like a real event


def test_event_parses_with_powertools(aws):
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    url, _ = make_queue(visibility="30")
    send(url, "good", "bad", "good")
    seen: list[str] = []

    def record_handler(record) -> None:
        seen.append(record.body)
        if record.body == "bad":
            raise ValueError("poison")

    def handler(event: dict, context: LambdaContext) -> dict:
        return process_partial_response(event, record_handler, BatchProcessor(EventType.SQS), context)

    assert poll_once(QueueBinding(url, handler, "webhook-worker")) == {"received": 3, "failed": 1, "deleted": 2}
    assert sorted(seen) == ["bad", "good", "good"]


def test_sqs_event_helper_builds_records_from_receive_output():
    received = [{"MessageId": "m-1", "ReceiptHandle": "rh", "MD5OfBody": "x", "Body": "b",
                 "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1", "SenderId": "s",
                                "ApproximateFirstReceiveTimestamp": "2", "MessageGroupId": "g",
                                "SqsManagedSseEnabled": "true"},
                 "MessageAttributes": {"l": {"DataType": "String", "StringListValues": ["a"],
                                             "BinaryListValues": [b"\x01"]}}}]
    event = sqs_event(received, "arn:aws:sqs:eu-west-1:123456789012:q", "eu-west-1")
    [record] = event["Records"]
    assert record["awsRegion"] == "eu-west-1"
    assert record["attributes"] == {"ApproximateReceiveCount": "1", "SentTimestamp": "1", "SenderId": "s",
                                    "ApproximateFirstReceiveTimestamp": "2", "MessageGroupId": "g"}
    assert record["messageAttributes"] == {"l": {"stringListValues": ["a"], "binaryListValues": ["AQ=="],
                                                 "dataType": "String"}}
    assert "md5OfMessageAttributes" not in record


def test_handler_that_raises_deletes_nothing(aws, monkeypatch):
    url, _ = make_queue(visibility="30")
    send(url, "a", "b")

    def crash(event: dict, context: LambdaContext) -> None:
        raise RuntimeError("database down")

    binding = QueueBinding(url, crash, "webhook-worker")
    with pytest.raises(RuntimeError, match="database down"):
        poll_once(binding)
    assert depth(url) == (0, 2)
    advance_moto_clock(monkeypatch, 31)
    recorder = Recorder()
    binding.handler = recorder
    assert poll_once(binding) == {"received": 2, "failed": 0, "deleted": 2}
    assert {r["attributes"]["ApproximateReceiveCount"] for r in recorder.events[0]["Records"]} == {"2"}


@pytest.mark.parametrize(
    "response",
    [
        {"batchItemFailures": [{"itemIdentifier": "not-in-this-batch"}]},
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"id": "x"}]},
        {"batchItemFailures": ["x"]},
        {"batchItemFailures": "x"},
    ],
)
def test_malformed_failure_report_fails_the_whole_batch(aws, response):
    url, _ = make_queue(visibility="30")
    send(url, "a", "b")
    binding = QueueBinding(url, lambda event, context: response, "webhook-worker")
    assert poll_once(binding) == {"received": 2, "failed": 2, "deleted": 0}
    assert depth(url) == (0, 2)


@pytest.mark.parametrize("response", [None, {}, {"batchItemFailures": []}, {"batchItemFailures": None}, "ok"])
def test_empty_responses_mean_complete_success(aws, response):
    url, _ = make_queue(visibility="30")
    send(url, "a", "b")
    binding = QueueBinding(url, lambda event, context: response, "webhook-worker")
    assert poll_once(binding) == {"received": 2, "failed": 0, "deleted": 2}
    assert depth(url) == (0, 0)


def test_batch_size_is_honoured_and_bounded(aws):
    url, _ = make_queue(visibility="30")
    send(url, *[f"m{i}" for i in range(5)])
    assert poll_once(QueueBinding(url, Recorder(), "w", batch_size=2))["received"] == 2
    with pytest.raises(ValueError):
        QueueBinding(url, Recorder(), "w", batch_size=11)
    with pytest.raises(ValueError):
        QueueBinding(url, Recorder(), "w", batch_size=0)


def test_pollers_deliver_and_stop_cleanly(aws, capsys):
    good_url, _ = make_queue(visibility="30")
    crash_url, _ = make_queue(visibility="30")
    delivered = threading.Event()
    bodies: list[str] = []
    crashed = threading.Event()

    def handler(event: dict, context: LambdaContext) -> None:
        bodies.extend(r["body"] for r in event["Records"])
        if len(bodies) >= 2:
            delivered.set()

    def crash(event: dict, context: LambdaContext) -> None:
        crashed.set()
        raise RuntimeError("boom")

    stop = threading.Event()
    threads = start_pollers([QueueBinding(good_url, handler, "worker"), QueueBinding(crash_url, crash, "crasher")],
                            stop)
    try:
        assert [t.daemon for t in threads] == [True, True]
        send(good_url, "one")
        send(crash_url, "x")
        send(good_url, "two")
        assert delivered.wait(10), "the poller never delivered"
        assert crashed.wait(10), "the crashing handler was never called"
        assert all(t.is_alive() for t in threads)  # a crash does not end the loop
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
    assert not any(t.is_alive() for t in threads)
    assert sorted(bodies) == ["one", "two"]
    assert depth(good_url) == (0, 0)
    assert depth(crash_url) == (0, 1)  # in flight until its visibility timeout, then retried
    assert "queue crasher: RuntimeError: boom" in capsys.readouterr().out
