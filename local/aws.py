"""AWS for the local stack: a moto server, with the template's tables, keys and secrets created in it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from local.template import Template

REGION = "us-east-1"


def start_moto(port: int) -> Any:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per AWS call otherwise
    _speed_up_moto()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    # boto3 honours these, so the handlers need no endpoint plumbing (the same code runs in AWS).
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }
    )
    return server


def _speed_up_moto() -> None:
    """Two per-call costs of moto's server that the local stack pays on every AWS call (measured with py-spy; the
    answers are unchanged):
    - routing lists moto's package folder from disk on every request: listed once;
    - SQS computes every attribute of a queue, its approximate message counts included (a clock read through
      datetime for each message), on every SendMessage and three times for every message a receive returns (to
      read the retention period), so a queue with a backlog (sign-ups faster than activations) made each call
      slower: the clock read is a float again, and a receive reads the retention period from the queue."""
    import functools
    import time

    from moto import backends
    from moto.core import utils as moto_utils
    from moto.sqs import models as sqs_models

    if not hasattr(backends.list_of_moto_modules, "cache_info"):  # not patched yet (functools.cache has it)
        listing = backends.list_of_moto_modules
        backends.list_of_moto_modules = functools.cache(lambda: tuple(listing()))

    def unix_time_millis(dt: Any = None) -> float:
        return time.time() * 1000.0 if dt is None else moto_utils.unix_time_millis(dt)

    sqs_models.unix_time_millis = unix_time_millis  # type: ignore[attr-defined]

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        retention = self.get_queue(queue_name).message_retention_period
        return retention + message.sent_timestamp / 1000 > moto_utils.unix_time()

    sqs_models.SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period


def provision(template: Template, *, master_key: str, state_dir: Path | None = None) -> dict[str, str]:
    """Create the template's DynamoDB tables, KMS keys (+ aliases) and secrets; return logical id → the
    value `!Ref` gives in AWS (table name, key id, alias name, secret ARN). With a state_dir, the tables' items
    and the keys' material live on in it across restarts."""
    import boto3

    physical: dict[str, str] = {}
    dynamodb = boto3.client("dynamodb")
    for logical_id, resource in template.resources_of("AWS::DynamoDB::Table").items():
        props = resource["Properties"]
        dynamodb.create_table(
            TableName=logical_id,
            KeySchema=props["KeySchema"],
            AttributeDefinitions=props["AttributeDefinitions"],
            BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
        )
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(TableName=logical_id, TimeToLiveSpecification=ttl)
        physical[logical_id] = logical_id
    if state_dir:
        _keep_items_across_restarts(state_dir, transient=connection_tables(template))
    kms = boto3.client("kms")
    for logical_id in template.resources_of("AWS::KMS::Key"):
        created = kms.create_key(Description=f"local {logical_id}")["KeyMetadata"]["KeyId"]
        physical[logical_id] = _keep_key_across_restarts(created, logical_id, state_dir) if state_dir else created
    for logical_id, resource in template.resources_of("AWS::KMS::Alias").items():
        alias = f"alias/offerhub-local-{logical_id.lower()}"
        target = resource["Properties"]["TargetKeyId"]
        kms.create_alias(AliasName=alias, TargetKeyId=physical[target["Ref"]])
        physical[logical_id] = alias
    secrets = boto3.client("secretsmanager")
    for logical_id in template.resources_of("AWS::SecretsManager::Secret"):
        value = master_key if "Master" in logical_id else os.urandom(16).hex()
        physical[logical_id] = secrets.create_secret(Name=f"offerhub/local/{logical_id}", SecretString=value)["ARN"]
    physical.update(_create_queues(template))
    return physical


def _create_queues(template: Template) -> dict[str, str]:
    """The template's queues, dead-letter queues first so a RedrivePolicy can name its target's ARN."""
    import json

    import boto3

    sqs = boto3.client("sqs")
    queues = template.resources_of("AWS::SQS::Queue")
    urls: dict[str, str] = {}
    arns: dict[str, str] = {}
    redriven = {lid for lid, r in queues.items() if "RedrivePolicy" in r.get("Properties", {})}
    for logical_id in sorted(queues, key=lambda lid: lid in redriven):
        props = queues[logical_id].get("Properties", {})
        attributes = {"VisibilityTimeout": str(props.get("VisibilityTimeout", 30))}
        redrive = props.get("RedrivePolicy")
        if redrive:
            target = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
            attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": arns[target],
                                                      "maxReceiveCount": int(redrive["maxReceiveCount"])})
        urls[logical_id] = sqs.create_queue(QueueName=f"offerhub-local-{logical_id}", Attributes=attributes)["QueueUrl"]
        arns[logical_id] = sqs.get_queue_attributes(QueueUrl=urls[logical_id], AttributeNames=["QueueArn"]
                                                    )["Attributes"]["QueueArn"]
    return urls


def _keep_key_across_restarts(key_id: str, logical_id: str, state_dir: Path) -> str:
    """moto keeps KMS keys in memory, but the wallets sealed under them live on in Postgres: give the
    key the same id and key material on every start (saved in the data dir, local use only)."""
    import base64
    import json

    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.kms.models import kms_backends

    backend = kms_backends[DEFAULT_ACCOUNT_ID][REGION]
    saved = state_dir / f"kms-{logical_id}.json"
    key = backend.keys[key_id]
    if not saved.exists():
        saved.write_text(json.dumps({"id": key.id, "material": base64.b64encode(key.key_material).decode()}))
        saved.chmod(0o600)
        return key_id
    state = json.loads(saved.read_text())
    del backend.keys[key_id]
    key.arn = key.arn.replace(key_id, state["id"])
    key.id = state["id"]
    key.key_material = base64.b64decode(state["material"])
    backend.keys[key.id] = key
    return key.id


def _keep_items_across_restarts(state_dir: Path, transient: set[str]) -> None:
    """moto keeps DynamoDB in memory, but an idempotency record must outlive a restart, or a retried POST is
    applied twice: items are saved in the data dir as they are written (local/dynamodb_state.py)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    from local import dynamodb_state

    directory = state_dir / "dynamodb"
    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION]
    if dynamodb_state.keep_across_restarts(backend, directory, transient=transient) is None:
        print(f"  note         {directory} is in use by another process: DynamoDB items kept in memory only",
              flush=True)


def connection_tables(template: Template) -> set[str]:
    """The table of WebSocket connections: the local gateway's connections end with the process, so records of
    them must not come back after a restart (in AWS, API Gateway holds them, not the functions)."""
    ref = template.globals_env.get("CONNECTIONS_TABLE")
    return {ref["Ref"]} if isinstance(ref, dict) and "Ref" in ref else set()
