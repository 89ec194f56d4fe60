"""Signatures on the webhooks we send, the way Stripe signs (CONVENTIONS §4).

`OfferHub-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`: keyed with the endpoint secret's UTF-8 bytes (the
whole `whsec_…` string), over `"<t>." + raw body`. While a secret is being rotated both the new and the old
secret sign: one `v1=` entry each, the new one first. Receivers accept the event when any `v1` matches one of
the secrets they know, and reject a `t` older than five minutes (docs/webhooks.md has a verifier).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from collections.abc import Sequence

SIGNATURE_HEADER = "OfferHub-Signature"
SECRET_PREFIX = "whsec_"
SECRET_LENGTH = 40  # base62 characters: ~238 bits
_ALPHABET = string.digits + string.ascii_letters


def new_secret() -> str:
    return SECRET_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(SECRET_LENGTH))


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(signing_secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    return ",".join([f"t={timestamp}", *(f"v1={signature(s, timestamp, body)}" for s in signing_secrets)])
