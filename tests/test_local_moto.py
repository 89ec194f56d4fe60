"""The local stack's moto server is sped up (local/aws.py `_speed_up_moto`: the package listing read once, SQS's
clock read as a float, a receive's retention check reading one field), and still answers as moto does: message
counts, visibility, receive, retention."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from local.functions import ROOT

SCRIPT = textwrap.dedent("""
    import boto3, json, os, time
    from local.aws import start_moto
    from local.sandbox.rails import free_port
    start_moto(free_port())
    from moto import backends
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="speed", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=str(i))
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    sent = int(sqs.receive_message(QueueUrl=url, AttributeNames=["SentTimestamp"])["Messages"][0]
               ["Attributes"]["SentTimestamp"])
    from moto.sqs import models
    kept = sqs.create_queue(QueueName="kept", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    for body in ("new", "expired"):
        sqs.send_message(QueueUrl=kept, MessageBody=body)
    queue, = [q for b in models.sqs_backends.values() for r in b.values() for q in r.queues.values()
              if q.name == "kept"]
    queue._messages[1].sent_timestamp -= 120_000  # sent two minutes ago: past the queue's retention
    reads = []
    computed = models.Queue.attributes
    models.Queue.attributes = property(lambda q: reads.append(q.name) or computed.fget(q))
    kept_received = [m["Body"] for m in sqs.receive_message(QueueUrl=kept, MaxNumberOfMessages=10)["Messages"]]
    models.Queue.attributes = computed
    print(json.dumps({
        "received": [m["Body"] for m in got],
        "visible": counts["ApproximateNumberOfMessages"],
        "in_flight": counts["ApproximateNumberOfMessagesNotVisible"],
        "delayed": counts["ApproximateNumberOfMessagesDelayed"],
        "sent_ms_ago": time.time() * 1000 - sent,
        "listing_cached": hasattr(backends.list_of_moto_modules, "cache_info"),
        "kept_received": kept_received, "attribute_reads": len(reads),
    }))
""")


def test_the_sped_up_moto_server_still_counts_and_hides_messages_as_moto_does():
    import json

    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT}:{ROOT / 'layers' / 'shared'}"})
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["received"] == ["0"]
    # the first receive left one in flight, one is delayed, two wait
    assert (answer["visible"], answer["in_flight"], answer["delayed"]) == ("2", "1", "1")
    assert 0 <= answer["sent_ms_ago"] < 60_000  # SentTimestamp is epoch milliseconds, as before
    assert answer["listing_cached"]
    # a receive still drops what outlived the queue's retention period, and no longer computes its attributes
    assert answer["kept_received"] == ["new"] and answer["attribute_reads"] == 0
