"""API key format and hashing (pure functions).

A key is `ohk_<env>_<keyId>_<secret>`: `ohk_live_key_<32 alnum>_<48 hex>`. Only SHA-256 of the whole key
is stored; the secret has 192 bits of entropy, so a fast hash is enough (no password stretching needed).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from offerhub.core.ids import new_id

SCOPES = ("read", "write", "support")
# At key creation `*` means every scope (upstream compatibility: its e2e suite creates keys with ["*"]). A key
# stores the scopes themselves, never `*`, so a scope added later is not granted to old keys by accident.
WILDCARD = "*"
_KEY_RE = re.compile(r"^ohk_(live|test)_(key_[0-9A-Za-z]{32})_([0-9a-f]{48})$")


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    token: str
    secret_hash: str


def issue(environment: str) -> IssuedKey:
    key_id = new_id("key")
    token = f"ohk_{environment}_{key_id}_{secrets.token_hex(24)}"
    return IssuedKey(key_id=key_id, token=token, secret_hash=hash_token(token))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def key_id_of(token: str) -> str | None:
    match = _KEY_RE.match(token)
    return match.group(2) if match else None


def matches(token: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_token(token), secret_hash)


def expand_wildcard(scopes: list[str]) -> list[str]:
    return [*(s for s in scopes if s != WILDCARD), *SCOPES] if WILDCARD in scopes else scopes
