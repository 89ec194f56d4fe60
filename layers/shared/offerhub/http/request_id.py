"""X-Request-ID: read it when it is sane, otherwise make one."""

from __future__ import annotations

import re
import uuid

_SANE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def resolve_request_id(header_value: str | None) -> str:
    if header_value and _SANE.match(header_value):
        return header_value
    return str(uuid.uuid4())
