"""Request models and query parameters shared by the routes.

Bodies are strict: unknown fields are refused and amounts must be strings (never JSON numbers).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator

from offerhub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, PageRequest


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*", mode="after")
    @classmethod
    def no_nul_characters(cls, value: Any) -> Any:
        """Postgres text cannot hold NUL; refuse it here rather than fail in the database."""
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(t, str) and "\x00" in t for t in texts):
            raise ValueError("must not contain NUL characters")
        return value


NonEmpty = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=1000)]
# The amount stays a string here; offerhub.core.money.parse_amount turns it into a Decimal or a clear 400.
AmountText = Annotated[str, StringConstraints(max_length=40)]


async def page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
) -> PageRequest:
    return PageRequest(limit=limit, cursor=cursor)
