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
