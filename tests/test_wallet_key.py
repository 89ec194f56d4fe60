"""Wallets outlive the stack (issue 13.1): a sealed secret names its own KMS key, so it still opens after the
alias is pointed at a new key (a deleted and re-created stack, a re-pointed alias)."""

from __future__ import annotations

import boto3

from offerhub.adapters.aws.kms import KmsEnvelope


def test_a_secret_sealed_under_one_key_opens_after_the_alias_moves_to_another(aws):
    kms = boto3.client("kms")
    alias = "alias/offerhub-test-moving"
    first = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=alias, TargetKeyId=first)
    envelope = KmsEnvelope(alias, client=kms)
    context = {"walletId": "wal_x", "owner": "usr_y"}
    wrapped, sealed = envelope.seal(b"SECRET", context)

    kms.update_alias(AliasName=alias, TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"])
    assert envelope.open(wrapped, sealed, context) == b"SECRET"
    wrapped_new, sealed_new = envelope.seal(b"NEW", context)  # new secrets go to the new key
    assert kms.decrypt(CiphertextBlob=wrapped_new, EncryptionContext=context)["KeyId"] != \
        kms.describe_key(KeyId=first)["KeyMetadata"]["Arn"]
    assert envelope.open(wrapped_new, sealed_new, context) == b"NEW"


class CountingKms:
    """The real (moto) KMS client, counting the calls that reach it."""

    def __init__(self, client):
        self.client = client
        self.calls: list[str] = []

    def generate_data_key(self, **kwargs):
        self.calls.append("GenerateDataKey")
        return self.client.generate_data_key(**kwargs)

    def decrypt(self, **kwargs):
        self.calls.append("Decrypt")
        return self.client.decrypt(**kwargs)


def test_shared_data_keys_seal_many_secrets_with_one_kms_call_and_each_opens_only_with_its_own_context(aws):
    import pytest

    from offerhub.adapters.aws import kms as kms_module
    from offerhub.core.errors import ServiceUnavailable

    kms_module.forget_data_keys()
    client = CountingKms(boto3.client("kms"))
    envelope = KmsEnvelope("alias/offerhub-test-wallets", client=client, purpose="wallet-test")
    sealed = [envelope.seal_shared(f"S{i}".encode(), {"walletId": f"wal_{i}"}) for i in range(20)]
    assert client.calls == ["GenerateDataKey"]
    assert len({wrapped for wrapped, _ in sealed}) == 1  # one data key...
    assert len({blob[:12] for _, blob in sealed}) == 20  # ...a nonce per secret
    # KMS bound the shared key to the purpose, not to a wallet: asked with a wallet's context, it refuses.
    with pytest.raises(Exception):
        boto3.client("kms").decrypt(CiphertextBlob=sealed[0][0], EncryptionContext={"walletId": "wal_0"})

    kms_module.forget_data_keys()  # a new container: the key is opened through KMS once, then from memory
    assert [envelope.open(w, s, {"walletId": f"wal_{i}"}, shared=True) for i, (w, s) in enumerate(sealed)] == \
        [f"S{i}".encode() for i in range(20)]
    assert client.calls == ["GenerateDataKey", "Decrypt"]
    for context in ({"walletId": "wal_1"}, {"walletId": "wal_0", "owner": "x"}):  # another row's context
        with pytest.raises(ServiceUnavailable) as refused:
            envelope.open(*sealed[0], context, shared=True)
        assert refused.value.code == "WALLET_KEY_UNAVAILABLE"


def test_a_shared_data_key_is_replaced_once_it_has_sealed_its_share_or_grown_old(aws, monkeypatch):
    from offerhub.adapters.aws import kms as kms_module

    kms_module.forget_data_keys()
    monkeypatch.setattr(kms_module, "SHARED_KEY_MAX_SECRETS", 3)
    client = CountingKms(boto3.client("kms"))
    envelope = KmsEnvelope("alias/offerhub-test-wallets", client=client, purpose="wallet-test")
    wrapped = [envelope.seal_shared(b"x", {"walletId": str(i)})[0] for i in range(7)]
    assert [wrapped.index(w) for w in wrapped] == [0, 0, 0, 3, 3, 3, 6]
    clock = [1000.0]
    monkeypatch.setattr(kms_module.time, "monotonic", lambda: clock[0])
    kms_module.forget_data_keys()
    first = envelope.seal_shared(b"x", {"walletId": "a"})[0]
    clock[0] += kms_module.SHARED_KEY_MAX_AGE + 1
    assert envelope.seal_shared(b"x", {"walletId": "b"})[0] != first
    assert client.calls.count("GenerateDataKey") == 5  # three for the seven secrets, two for the clock

