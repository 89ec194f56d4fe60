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
