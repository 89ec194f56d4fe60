"""KMS envelope encryption: one data key per secret (GenerateDataKey), AES-256-GCM locally.

The encryption context names what the secret belongs to. KMS binds it to the wrapped data key and we
use it as the AES-GCM associated data too, so a sealed secret copied onto another row will not open.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from offerhub.core.errors import ServiceUnavailable
from offerhub.observability import logger, traced

NONCE_BYTES = 12


@cache
def _kms_client() -> Any:
    import boto3

    return boto3.client("kms")


def _associated_data(context: dict[str, str]) -> bytes:
    return json.dumps(context, sort_keys=True, separators=(",", ":")).encode()


class KmsEnvelope:
    """`purpose` names the key in logs and errors ("wallet", "webhook secrets"); KMS failing answers 503
    `unavailable_code`."""

    def __init__(self, key_id: str, client: Any | None = None, *, purpose: str = "wallet",
                 unavailable_code: str = "WALLET_KEY_UNAVAILABLE"):
        self._key_id = key_id
        self._client = client
        self.purpose = purpose
        self.unavailable_code = unavailable_code

    @classmethod
    def configured(cls, key_id: str | None, *, purpose: str, setting: str, not_configured_code: str,
                   unavailable_code: str) -> KmsEnvelope:
        """The envelope for the key a setting names; 503 `not_configured_code` when it names none."""
        if not key_id:
            raise ServiceUnavailable(f"{purpose} encryption is not configured ({setting})", code=not_configured_code)
        return cls(key_id, purpose=purpose, unavailable_code=unavailable_code)

    @property
    def client(self) -> Any:
        return self._client or _kms_client()

    def seal(self, plaintext: bytes, context: dict[str, str]) -> tuple[bytes, bytes]:
        """Returns (wrapped data key, nonce + ciphertext). The plaintext data key is dropped at once."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        with self._failures():
            key = self.client.generate_data_key(KeyId=self._key_id, KeySpec="AES_256", EncryptionContext=context)
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + AESGCM(key["Plaintext"]).encrypt(nonce, plaintext, _associated_data(context))
        return key["CiphertextBlob"], sealed

    def open(self, wrapped_key: bytes, sealed: bytes, context: dict[str, str]) -> bytes:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        with self._failures():
            # No KeyId: a symmetric ciphertext blob names its own key, so a secret sealed under a key the alias
            # no longer points at (a re-created stack, a re-pointed alias) still opens.
            key = self.client.decrypt(CiphertextBlob=wrapped_key, EncryptionContext=context)
            try:
                return AESGCM(key["Plaintext"]).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:],
                                                        _associated_data(context))
            except InvalidTag as exc:
                raise SealedSecretRefused("the sealed secret does not open with its context") from exc


    @contextmanager
    def _failures(self) -> Iterator[None]:
        """KMS refusing or failing (throttling, a disabled key, a secret sealed under another key) is an outage of
        the key, answered 503, never a 500; the details go to the log, not to the client."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            with traced("kms"):
                yield
        except (ClientError, BotoCoreError, SealedSecretRefused) as exc:
            logger.error(f"{self.purpose} key operation failed", extra={"error": type(exc).__name__})
            raise ServiceUnavailable(f"the {self.purpose} key is unavailable; retry later",
                                     code=self.unavailable_code) from exc


class SealedSecretRefused(Exception):
    pass
