"""What the OpenAPI builder needs to know about a route that FastAPI cannot tell it: the shape of `data` in the
success envelope, and the error codes beyond those every route of its kind can answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RouteDoc:
    summary: str
    # A name in contract.schemas.SCHEMAS; "X[]" is a list of X; None when `data` is not described further.
    data: str | None
    # A paginated list: `data` is the page's items and meta.pagination is present.
    paged: bool = False
    # Error codes this route can answer beyond the common ones (auth, validation, rate limit, idempotency).
    errors: tuple[str, ...] = ()
    # The success status when it is not 200 (201 for a creation; several when a retry answers 200).
    statuses: tuple[int, ...] = (200,)
    # Public routes take no API key.
    public: bool = False
    # False for a route whose answer is not the success envelope (the OpenAPI document itself).
    envelope: bool = True
    example: dict[str, Any] | None = field(default=None, compare=False)
    description: str = ""
