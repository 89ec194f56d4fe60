"""KMS envelope encryption: AES-256-GCM locally under a KMS data key (GenerateDataKey).

Two ways to get the data key:
- `seal`: one data key per secret, generated under the secret's own encryption context;
- `seal_shared`: one data key shared by many secrets, as the AWS Encryption SDK's data key caching does: generated
  under the purpose's context (`{"purpose": ...}`) and reused for at most SHARED_KEY_MAX_AGE seconds and
  SHARED_KEY_MAX_SECRETS secrets per container, so creating a wallet calls KMS about once per 5 minutes, not once
  per sign-up (KMS latency and its per-account request quota were on the sign-up path).
Either way the secret's own context is the AES-GCM associated data, so a sealed secret copied onto another row
does not open. Opening caches the plaintext data key by its wrapped form (OPENED_KEYS_MAX_AGE, bounded): an
operation that signs with the same wallet again, or with another wallet sealed under the same shared key, does
not ask KMS again; a cached key still has to open the secret with its context (the AEAD check), or it is refused.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from offerhub.core.errors import ServiceUnavailable
from offerhub.observability import logger, traced

NONCE_BYTES = 12
SHARED_KEY_MAX_AGE = 300.0  # seconds a shared data key seals new secrets
SHARED_KEY_MAX_SECRETS = 1000  # secrets one shared data key seals (far below AES-GCM's random-nonce bound)
OPENED_KEYS_MAX_AGE = 300.0  # seconds an opened data key is kept
OPENED_KEYS_MAX = 256


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

    @property
    def shared_context(self) -> dict[str, str]:
        """The encryption context of this purpose's shared data keys."""
        return {"purpose": self.purpose}

    def seal(self, plaintext: bytes, context: dict[str, str]) -> tuple[bytes, bytes]:
        """Returns (wrapped data key, nonce + ciphertext), under a data key of its own. The plaintext data key is
        dropped at once."""
        with self._failures():
            key = self.client.generate_data_key(KeyId=self._key_id, KeySpec="AES_256", EncryptionContext=context)
        return key["CiphertextBlob"], _encrypt(key["Plaintext"], plaintext, context)

    def seal_shared(self, plaintext: bytes, context: dict[str, str]) -> tuple[bytes, bytes]:
        """As `seal`, under this purpose's current shared data key (a new one from KMS once it is too old or has
        sealed its share). Opened with `open(..., shared=True)`."""
        wrapped, key = _shared_keys.take((self._key_id, self.purpose), self._new_shared_key)
        return wrapped, _encrypt(key, plaintext, context)

    def _new_shared_key(self) -> tuple[bytes, bytes]:
        with self._failures():
            key = self.client.generate_data_key(KeyId=self._key_id, KeySpec="AES_256",
                                                EncryptionContext=self.shared_context)
        _opened_keys.put(key["CiphertextBlob"], key["Plaintext"])
        return key["CiphertextBlob"], key["Plaintext"]

    def open(self, wrapped_key: bytes, sealed: bytes, context: dict[str, str], *, shared: bool = False) -> bytes:
        """The secret; `shared` says it was sealed by `seal_shared`."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        with self._failures():
            key = _opened_keys.get(wrapped_key)
            if key is None:
                # No KeyId: a symmetric ciphertext blob names its own key, so a secret sealed under a key the alias
                # no longer points at (a re-created stack, a re-pointed alias) still opens.
                key = self.client.decrypt(CiphertextBlob=wrapped_key,
                                          EncryptionContext=self.shared_context if shared else context)["Plaintext"]
                _opened_keys.put(wrapped_key, key)
            try:
                return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _associated_data(context))
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


def _encrypt(key: bytes, plaintext: bytes, context: dict[str, str]) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, _associated_data(context))


class _SharedKeys:
    """Per container: each (key, purpose)'s current shared data key, its age and how many secrets it sealed."""

    def __init__(self) -> None:
        self._current: dict[tuple[str, str], tuple[bytes, bytes, float, int]] = {}
        self._lock = threading.Lock()

    def take(self, name: tuple[str, str], generate: Callable[[], tuple[bytes, bytes]]) -> tuple[bytes, bytes]:
        with self._lock:
            entry = self._current.get(name)
            if entry is not None and entry[3] < SHARED_KEY_MAX_SECRETS and \
                    time.monotonic() - entry[2] < SHARED_KEY_MAX_AGE:
                self._current[name] = (entry[0], entry[1], entry[2], entry[3] + 1)
                return entry[0], entry[1]
        wrapped, key = generate()  # KMS outside the lock; two threads racing each get a key, both valid
        with self._lock:
            self._current[name] = (wrapped, key, time.monotonic(), 1)
        return wrapped, key

    def clear(self) -> None:
        with self._lock:
            self._current.clear()


class _OpenedKeys:
    """Per container: plaintext data keys by their wrapped form, for OPENED_KEYS_MAX_AGE, at most OPENED_KEYS_MAX."""

    def __init__(self) -> None:
        self._keys: OrderedDict[bytes, tuple[bytes, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, wrapped: bytes) -> bytes | None:
        with self._lock:
            entry = self._keys.get(wrapped)
            if entry is None:
                return None
            if time.monotonic() - entry[1] >= OPENED_KEYS_MAX_AGE:
                del self._keys[wrapped]
                return None
            self._keys.move_to_end(wrapped)
            return entry[0]

    def put(self, wrapped: bytes, key: bytes) -> None:
        with self._lock:
            self._keys[bytes(wrapped)] = (key, time.monotonic())
            self._keys.move_to_end(bytes(wrapped))
            while len(self._keys) > OPENED_KEYS_MAX:
                self._keys.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()


_shared_keys = _SharedKeys()
_opened_keys = _OpenedKeys()


def forget_data_keys() -> None:
    """Drop every cached data key (tests that replace the KMS key; a container never needs it)."""
    _shared_keys.clear()
    _opened_keys.clear()
