"""Secrets rotate (issue 13.2): the master key and the Trustless Work key are re-read within Secrets Manager's
cache age, so a warm container sees a rotated (or newly set) secret without a restart."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import boto3
import pytest

import offerhub.config
from offerhub.auth.service import authenticate
from offerhub.core.errors import Unauthorized
from offerhub.trustless.client import trustless_work


@pytest.fixture
def with_secret(aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple]:
    from aws_lambda_powertools.utilities import parameters

    client = boto3.client("secretsmanager")
    arn = client.create_secret(Name="rotation-" + secrets.token_hex(4), SecretString="first-" + "k" * 30)["ARN"]

    def rotate(value: str) -> None:
        client.put_secret_value(SecretId=arn, SecretString=value)
        parameters.clear_caches()  # the five minutes of Powertools' cache have passed

    offerhub.config.settings.cache_clear()
    yield arn, rotate, monkeypatch
    offerhub.config.settings.cache_clear()
    parameters.clear_caches()


def test_a_rotated_master_key_takes_over_in_a_warm_container(with_secret):
    arn, rotate, monkeypatch = with_secret
    monkeypatch.delenv("OFFERHUB_MASTER_KEY", raising=False)
    monkeypatch.setenv("OFFERHUB_MASTER_KEY_SECRET_ARN", arn)
    offerhub.config.settings.cache_clear()
    assert authenticate("first-" + "k" * 30).is_master
    rotate("second-" + "k" * 30)
    assert authenticate("second-" + "k" * 30).is_master
    with pytest.raises(Unauthorized):
        authenticate("first-" + "k" * 30)


def test_a_trustless_work_key_set_after_deploy_reaches_a_warm_container(with_secret):
    arn, rotate, monkeypatch = with_secret
    monkeypatch.delenv("TRUSTLESS_API_KEY", raising=False)
    monkeypatch.setenv("TRUSTLESS_API_KEY_SECRET_ARN", arn)
    offerhub.config.settings.cache_clear()
    first = trustless_work()
    assert trustless_work() is first  # the client and its pool are kept while the key is the same
    rotate("the-real-key")
    second = trustless_work()
    assert second is not first and second._http.headers["x-api-key"] == "the-real-key"


def test_the_engine_is_rebuilt_once_when_rotated_database_credentials_are_refused(with_secret, db):
    """A warm container's pool connects with the old credentials after a rotation: the refusal makes it read
    the secret afresh and rebuild the engine, and the request succeeds."""
    import json

    from sqlalchemy import create_engine, make_url, text

    from offerhub.adapters.postgres import engine as engine_module
    from offerhub.adapters.postgres.unit_of_work import connect, read_only

    arn, rotate, monkeypatch = with_secret
    url = make_url(engine_module.normalize_url(db))
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    old_role, new_role = "rot_" + secrets.token_hex(4), "rot_" + secrets.token_hex(4)
    with admin.connect() as conn:
        for role in (old_role, new_role):
            conn.execute(text(f'CREATE ROLE "{role}" LOGIN PASSWORD \'pw\''))
            conn.execute(text(f'GRANT CONNECT ON DATABASE "{url.database}" TO "{role}"'))

    def secret_for(role: str) -> str:
        return json.dumps({"username": role, "password": "pw", "dbname": url.database})

    def socket_url(cfg, *, fresh: bool = False) -> str:  # the test server listens on a socket, not TCP
        from offerhub.adapters.aws.secrets import get_secret_json

        secret = get_secret_json(cfg.database_secret_arn, fresh=fresh)
        return url.set(username=secret["username"], password=secret["password"]).render_as_string(False)

    rotate(secret_for(old_role))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DATABASE_SECRET_ARN", arn)
    monkeypatch.setattr(engine_module, "database_url", socket_url)
    offerhub.config.settings.cache_clear()
    original = engine_module.get_engine()
    engine_module.set_engine(None)
    try:
        with read_only() as conn:
            assert conn.execute(text("SELECT current_user")).scalar() == old_role
        warm = engine_module.get_engine()
        client = boto3.client("secretsmanager")
        client.put_secret_value(SecretId=arn, SecretString=secret_for(new_role))  # rotated; cache still old
        with admin.connect() as conn:
            conn.execute(text(f'ALTER ROLE "{old_role}" NOLOGIN'))
        warm.dispose()  # the pool's connections are recycled: the next connect uses the old credentials
        # An event log reader's first connect is its lock's, outside the pool (events/tail.py): it renews too.
        with connect(engine_module.unpooled_engine) as conn:
            assert conn.execute(text("SELECT current_user")).scalar() == new_role
        assert engine_module.get_engine() is not warm
        with read_only() as conn:
            assert conn.execute(text("SELECT current_user")).scalar() == new_role
    finally:
        engine_module.get_engine().dispose()
        engine_module.set_engine(original)
        admin.dispose()
