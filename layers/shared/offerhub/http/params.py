"""Request models and query parameters shared by the routes.

Bodies are strict: unknown fields are refused and amounts must be strings (never JSON numbers).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Query
from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, field_validator

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
MAX_JSON_BYTES = 8192


def _small_json(value: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(value)
    if len(text) > MAX_JSON_BYTES:
        raise ValueError(f"must serialise to at most {MAX_JSON_BYTES} bytes of JSON")
    if "\\u0000" in text:
        raise ValueError("must not contain NUL characters")
    return value


# Free-form integrator data (e.g. order metadata), stored as JSON.
JsonObject = Annotated[dict[str, Any], AfterValidator(_small_json)]
# The amount stays a string here; offerhub.core.money.parse_amount turns it into a Decimal or a clear 400.
AmountText = Annotated[str, StringConstraints(max_length=40)]


async def page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
) -> PageRequest:
    return PageRequest(limit=limit, cursor=cursor)
