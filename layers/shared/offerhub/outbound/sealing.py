"""Endpoint signing secrets at rest: sealed with the KMS envelope (adapters/aws/kms.py), like wallet secrets,
under their own key (WEBHOOK_SECRETS_KMS_KEY_ID).

The encryption context names the endpoint and the secret's version, so a sealed secret copied onto another
endpoint, or replayed as another version, does not open. Opened secrets are kept per container (a sender
signs every attempt; KMS is asked once per secret version, not once per request); a deleted endpoint's are
dropped. A secret never reaches a log, an audit row, an event or a response other than the one that creates it.
"""

from __future__ import annotations

import threading

from offerhub.adapters.aws.kms import KmsEnvelope
from offerhub.config import settings

_CACHE_LIMIT = 4096
_cache: dict[tuple[str, int], str] = {}
_lock = threading.Lock()


def _envelope() -> KmsEnvelope:
    return KmsEnvelope.configured(settings().webhook_secrets_kms_key_id, purpose="webhook secrets",
                                  setting="WEBHOOK_SECRETS_KMS_KEY_ID",
                                  not_configured_code="WEBHOOK_ENCRYPTION_UNAVAILABLE",
                                  unavailable_code="WEBHOOK_KEY_UNAVAILABLE")


def _context(endpoint_id: str, version: int) -> dict[str, str]:
    return {"webhookEndpointId": endpoint_id, "secretVersion": str(version)}


def seal(endpoint_id: str, version: int, secret: str) -> tuple[bytes, bytes]:
    """(wrapped data key, nonce + ciphertext)."""
    return _envelope().seal(secret.encode("utf-8"), _context(endpoint_id, version))


def remember(endpoint_id: str, version: int, secret: str) -> None:
    with _lock:
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
        _cache[(endpoint_id, version)] = secret


def open_secret(endpoint_id: str, version: int, wrapped_key: bytes, sealed: bytes) -> str:
    with _lock:
        cached = _cache.get((endpoint_id, version))
    if cached is not None:
        return cached
    secret = _envelope().open(bytes(wrapped_key), bytes(sealed), _context(endpoint_id, version)).decode("utf-8")
    remember(endpoint_id, version, secret)
    return secret


def forget(endpoint_id: str) -> None:
    with _lock:
        for key in [k for k in _cache if k[0] == endpoint_id]:
            del _cache[key]
