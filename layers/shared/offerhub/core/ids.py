"""Public identifiers: a type prefix plus 32 characters of [0-9A-Za-z] (as upstream)."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.digits + string.ascii_letters
ID_LENGTH = 32

PREFIXES = ("usr", "ord", "esc", "dsp", "cmt", "wd", "topup", "evt", "aud", "key", "wal", "ltx", "we", "whd")


def new_id(prefix: str) -> str:
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    # One read of the OS's randomness, not one per character (secrets.choice: 32 reads, 10x the time). A byte maps
    # to a character only below 248 = 4 x 62, so each of the 62 stays equally likely.
    chars: list[str] = []
    while len(chars) < ID_LENGTH:
        chars.extend(_ALPHABET[b % 62] for b in secrets.token_bytes(ID_LENGTH + 8) if b < 248)
    return prefix + "_" + "".join(chars[:ID_LENGTH])


def looks_like(value: str, prefix: str) -> bool:
    """True when value has the shape of an id of that type (used to answer 404 without a query)."""
    head, sep, body = value.partition("_")
    return bool(sep) and head == prefix and len(body) == ID_LENGTH and all(c in _ALPHABET for c in body)
