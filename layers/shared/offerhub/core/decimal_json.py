"""JSON for providers that speak amounts as numbers (Trustless Work, Airtm). We never hold them as floats:
Decimals are written as number literals and numbers are read back as Decimals."""

from __future__ import annotations

import json
import secrets
from decimal import Decimal
from typing import Any


def dumps(obj: Any) -> str:
    numbers: dict[str, str] = {}
    nonce = secrets.token_hex(8)

    def walk(value: Any) -> Any:
        if isinstance(value, Decimal):
            token = f"\x00{len(numbers)}:{nonce}"  # NUL never survives our input validation
            numbers[json.dumps(token)] = format(value.normalize(), "f")
            return token
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [walk(v) for v in value]
        return value

    text = json.dumps(walk(obj))
    for token, literal in numbers.items():
        text = text.replace(token, literal)
    return text


def loads(text: str | bytes) -> Any:
    return json.loads(text, parse_float=Decimal, parse_int=Decimal)
