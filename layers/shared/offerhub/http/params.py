"""Request models and query parameters shared by the routes.

Bodies are strict: unknown fields are refused and amounts must be strings (never JSON numbers).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import BaseModel, ConfigDict, StringConstraints

from offerhub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, PageRequest


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)


NonEmpty = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=1000)]
# The amount stays a string here; offerhub.core.money.parse_amount turns it into a Decimal or a clear 400.
AmountText = Annotated[str, StringConstraints(max_length=40)]


async def page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
) -> PageRequest:
    return PageRequest(limit=limit, cursor=cursor)
