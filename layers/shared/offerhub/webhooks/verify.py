"""Webhook signature checks over the RAW request bytes. Pure functions: no I/O, no clock unless asked.

A provider webhook is only a hint (we re-read the object from the provider afterwards), but an unsigned
or replayed one must never reach the queue. Every failure is a `SignatureInvalid` (401) whose details
say why without echoing the secret or the signature we expected.

- Airtm sends through Svix: `svix-id`, `svix-timestamp`, `svix-signature` ("v1,<base64>" entries,
  space-separated; several while the sender rotates its secret), HMAC-SHA256 keyed with the base64-decoded
  `whsec_` secret over "<id>.<timestamp>.<body>", five minutes of tolerance.
- Trustless Work style: `x-tw-signature` = hex HMAC-SHA256 of the body, keyed with the secret's UTF-8 bytes.

A secret that cannot be used (empty, not base64) is a configuration error, not bad input: ValueError.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Mapping

from offerhub.core.errors import Unauthorized

SVIX_PROVIDER = "AIRTM"
HEX_PROVIDER = "TRUSTLESS_WORK"
SVIX_SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_SECONDS = 300

_DIGITS = re.compile(r"[0-9]{1,15}")  # ASCII only: str.isdigit() would let "²" through to int()
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")


class SignatureInvalid(Unauthorized):
    """A webhook whose signature, headers or timestamp do not check out."""

    code = "WEBHOOK_SIGNATURE_INVALID"

    def __init__(self, provider: str, reason: str):
        super().__init__("Webhook signature verification failed",
                         details={"provider": provider, "reason": reason})


def _svix_key(secret: str) -> bytes:
    """`whsec_<base64>` or bare base64 (padding optional, as the Svix libraries accept)."""
    raw = secret.strip().removeprefix(SVIX_SECRET_PREFIX)
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("Svix webhook secret is not base64") from None
    if not key:
        raise ValueError("Svix webhook secret is empty")
    return key


def _svix_digest(key: bytes, svix_id: str, timestamp: str, body: bytes) -> bytes:
    return hmac.new(key, f"{svix_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()


def sign_svix(secret: str, svix_id: str, timestamp: int, body: bytes) -> str:
    """The `svix-signature` value ("v1,<base64>") a Svix sender would put on `body`; for tests and fakes."""
    return "v1," + base64.b64encode(_svix_digest(_svix_key(secret), svix_id, str(timestamp), body)).decode()


def verify_svix(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> str:
    """Check a Svix-signed delivery and return its `svix-id`, the key to record it once by.

    `headers` should have lower-case names (API Gateway's HTTP API gives them so); other cases are folded.
    """
    key = _svix_key(secret)
    lowered = {name.lower(): value for name, value in headers.items()}
    svix_id = lowered.get("svix-id") or ""
    timestamp = (lowered.get("svix-timestamp") or "").strip()
    signatures = lowered.get("svix-signature") or ""
    for name, value in (("svix-id", svix_id), ("svix-timestamp", timestamp), ("svix-signature", signatures)):
        if not value.strip():
            raise SignatureInvalid(SVIX_PROVIDER, f"missing {name} header")
    if not _DIGITS.fullmatch(timestamp):
        raise SignatureInvalid(SVIX_PROVIDER, "svix-timestamp is not an integer of unix seconds")
    age = (time.time() if now is None else now) - int(timestamp)
    if age > tolerance_seconds:
        raise SignatureInvalid(SVIX_PROVIDER, "timestamp too old")
    if -age > tolerance_seconds:
        raise SignatureInvalid(SVIX_PROVIDER, "timestamp too new")

    expected = _svix_digest(key, svix_id, timestamp, body)
    matched = False
    for entry in signatures.split():
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue  # other schemes (e.g. v1a, asymmetric) are not ours to check
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        # No early exit: every entry costs the same whichever one matches.
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureInvalid(SVIX_PROVIDER, "no matching v1 signature")
    return svix_id


def sign_hex_hmac(secret: str, body: bytes) -> str:
    """Lower-case hex HMAC-SHA256 of `body` keyed with the secret's UTF-8 bytes."""
    if not secret:
        raise ValueError("webhook secret is empty")
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_hex_hmac(secret: str, signature: str | None, body: bytes) -> None:
    """Check an `x-tw-signature` header (hex, either case) against the raw body."""
    expected = sign_hex_hmac(secret, body)
    if signature is None or not signature.strip():
        raise SignatureInvalid(HEX_PROVIDER, "missing x-tw-signature header")
    given = signature.strip().lower()
    # compare_digest refuses non-ASCII str; checking the shape first keeps every input a clean 401.
    if not _HEX_SHA256.fullmatch(given):
        raise SignatureInvalid(HEX_PROVIDER, "x-tw-signature is not a hex SHA-256 HMAC")
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise SignatureInvalid(HEX_PROVIDER, "signature does not match")
